"""``auto``: choose the source model, the strategy and the recipe within a time budget.

Read top to bottom: settings -> data and the usual splits (the test split set aside, read once
at the end) -> the search record -> rank the candidates (:mod:`transferkit.search.ranking`) ->
the cheap strategies on cached features -> successive halving over fine-tuning recipes on an
Optuna study -> the choice by validation (:mod:`transferkit.search.choose`) -> the winner tested
-> the record finished with the leaderboard. Every cheap run and trial is an ordinary transfer
run linked to the search. ``--resume`` continues a killed search (finished stages and trials
are kept; the budget is the total over all calls, so it gets what the earlier calls left, and
with none left it only chooses among what they finished); ``--worker`` joins another machine's
study (:func:`work`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from transferkit import distributed, progress
from transferkit.config import AutoConfig, FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError
from transferkit.runs._fitting import check_labelled, load_fit_data, make_config
from transferkit.runs._recorded import RecordedRun
from transferkit.runs._transfer import FitResult
from transferkit.runs.auto.candidates import Candidate, annotate, library, write_library
from transferkit.runs.auto.cheap import cheap_stage
from transferkit.runs.auto.final import finish
from transferkit.runs.auto.folds import decide_selection
from transferkit.runs.auto.rank import check_budget, rank
from transferkit.runs.auto.search import AutoResult, Search, search_splits
from transferkit.runs.auto.select import Choice, select
from transferkit.runs.auto.settings import base_settings, make_auto_config
from transferkit.runs.auto.trials import finished_trials, run_trials, trial_space
from transferkit.runs.auto.worker import work
from transferkit.search.budget import Clock, calls_before, parse_budget
from transferkit.search.choose import choose, leaderboard
from transferkit.search.folds import check_folds, use_kfold
from transferkit.search.ranking import Ranked, candidate_names
from transferkit.search.space import default_strategies
from transferkit.store import RunStore


def _ensemble_note(chosen: dict[str, Any], choice: Choice) -> dict[str, Any] | None:
    """What the record says of the ensemble the search ships (None for one run): the weight
    of each configuration (keys of ``candidates.json``) and the ensemble's run."""
    if chosen.get("kind") != "ensemble":
        return None
    return {"weights": choice.weights, "run": chosen["run"], "members": chosen.get("members")}


def _resumed(store: RunStore, resume: str) -> tuple[AutoConfig, dict[str, Any], str]:
    rec = store.get(resume)
    if rec.kind != "auto" or rec.status == "done":
        raise UserError(
            f"Run {rec.id} is a {rec.status} {rec.kind} run; only an unfinished "
            "auto search can be resumed here."
        )
    return AutoConfig.from_dict(rec.config), dict(rec.extra), rec.data_fingerprint or ""


def auto(
    data: str | None = None,
    *,
    config: AutoConfig | None = None,
    resume: str | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> AutoResult:
    """Search for the best transfer of a source model to ``data`` within ``budget`` (see the
    module docstring); returns an :class:`AutoResult`."""
    store = store or RunStore()
    done, fingerprint = {}, None
    if resume:
        cfg, done, fingerprint = _resumed(store, resume)
    else:
        cfg = make_auto_config(data, config, **overrides)
    if cfg.worker:
        return work(cfg, store)
    clock = Clock(parse_budget(cfg.budget), calls_before(done))
    device = distributed.setup(cfg.device)
    base = base_settings(cfg)
    dataset, splits = _data(cfg, base, fingerprint, resume)
    names = candidate_names(cfg.models, dataset.modality)
    strategies = cfg.strategies or list(default_strategies(dataset.modality))
    with RecordedRun(
        store,
        "auto",
        dataclasses.asdict(cfg),
        seed=cfg.seed,
        resume=resume,
        data_fingerprint=dataset.fingerprint,
    ) as run:
        run.note(
            dataset=dataset.summary(),
            splits=splits.sizes(),
            candidates=names,
            budget_s=clock.budget_s,
        )
        search = Search(cfg, store, run, dataset, splits, base, clock, device, done)
        if clock.before:
            progress.info(f"auto: resuming search {run.id}; {clock.summary()}")
        with search.keeping_account():
            ranked, board, choice, candidates = _stages(search, names, strategies)
            with clock.stage("test"):
                chosen, winner, metrics = finish(search, choice, candidates)
        run.finish(
            metrics,
            clock.timings(),
            leaderboard=board,
            chosen=chosen,
            why=choice.why,
            winner_run=chosen.get("run"),
            selection=search.selection,
            ensemble=_ensemble_note(chosen, choice),
            **search.account(),
        )
    return AutoResult(run.id, chosen, choice.why, metrics, winner, board, ranked.rows, run.dir)


def _data(
    cfg: AutoConfig, base: FitConfig, fingerprint: str | None, resume: str | None
) -> tuple[Dataset, Splits]:
    """The search's data and splits (the test split set aside); a resumed search refuses data
    that changed since it started."""
    dataset = load_fit_data(base)
    check_labelled(dataset)
    if fingerprint and fingerprint != dataset.fingerprint:
        raise UserError(
            f"The data {cfg.data} changed since search {resume} started (its "
            "fingerprint differs), so its trials do not apply; start a new search."
        )
    splits = search_splits(dataset, cfg)
    pool = np.concatenate([splits.train, splits.val])
    if use_kfold(dataset.labels[pool], dataset.num_classes, cfg.kfold_below):
        check_folds(dataset.labels[pool], cfg.folds)
    return dataset, splits


def _stages(
    search: Search, names: list[str], strategies: list[str]
) -> tuple[Ranked, list[dict[str, Any]], Choice, list[Candidate]]:
    """The search's stages up to the choice, on held-out predictions only: (the ranking, the
    leaderboard, the choice, the library it was made from)."""
    if search.out_of_time():
        return _what_finished(search, names)
    fresh = "ranking" not in search.done  # a resumed search's ranking passed the check
    ranked = rank(search, names)
    if fresh:
        check_budget(search, ranked)
    cheap_rows = cheap_stage(search, ranked, strategies)
    decide_selection(search, cheap_rows)
    trials = run_trials(search, trial_space(search, ranked, strategies))
    board = leaderboard(cheap_rows + trials)
    candidates = library(search, board)
    choice = select(search, board, candidates)
    annotate(search, candidates, choice.weights)
    write_library(search, candidates)
    progress.info(f"auto: chose {choice.why}")
    return ranked, leaderboard(board), choice, candidates


def _what_finished(
    search: Search, names: list[str]
) -> tuple[Ranked, list[dict[str, Any]], Choice, list[Candidate]]:
    """The choice among what the earlier calls of a resumed search finished, when they left
    no time for more (the budget is the total of all calls): nothing new runs, and the
    validation rule chooses one configuration."""
    clock = search.clock
    progress.info(
        f"auto: no time left to search ({clock.summary()}); choosing among what the "
        "earlier calls finished"
    )
    saved = "ranking" in search.done
    ranked = rank(search, names) if saved else Ranked([], [], {})
    board = leaderboard(search.done.get("cheap", []) + finished_trials(search))
    if not any(r.get("state") == "complete" for r in board):
        raise UserError(
            f"Search {search.run.id} has no time left ({clock.summary()}; --budget is the "
            "total of all its calls) and no configuration finished before it was "
            "interrupted, so there is nothing to choose; start a new search with a larger "
            "--budget."
        )
    chosen, why = choose(board)
    why += "; the earlier calls spent the budget, so the resumed search ran nothing more"
    progress.info(f"auto: chose {why}")
    return ranked, board, Choice(None, chosen, why), []


def auto_fit(
    data: str | None = None, *, config: FitConfig | None = None, **overrides: Any
) -> FitResult:
    """``fit --strategy auto --budget B``: the search over every offline model of the data's
    modality with fit's data settings; returns the winning run (with its test metrics)."""
    store = overrides.pop("store", None)
    extra = set(overrides) & {"dataset", "splits", "parent", "record", "hooks"}
    if extra:
        raise UserError(
            f"The automatic search loads and splits the data itself; "
            f"{', '.join(sorted(extra))} cannot be given with a --budget."
        )
    cfg = make_config(
        data,
        config=config,
        **{**{k: v for k, v in overrides.items() if k != "budget"}, "strategy": "auto"},
    )
    budget = overrides.get("budget") or cfg.options.get("budget")
    d, t = cfg.data, cfg.train
    res = auto(
        d.data,
        budget=budget,
        labels_per_class=d.labels_per_class,
        val_fraction=d.val_fraction,
        test_fraction=d.test_fraction,
        max_test=d.max_test,
        seed=cfg.seed,
        strict=d.strict,
        text_column=d.text_column,
        label_column=d.label_column,
        batch_size=t.batch_size,
        device=t.device,
        store=store,
    )
    if res.winner is None:
        raise UserError(f"Search {res.run_id} found no usable model ({res.why}).")
    res.winner.info["search"] = res.run_id
    return res.winner
