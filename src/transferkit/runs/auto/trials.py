"""Stage 3 of the search: successive halving over fine-tuning recipes on an Optuna study (the
study, its sampler and pruner and the objective are :mod:`transferkit.search.study`; the
recipes :mod:`transferkit.search.space`). The study is opened (or found again on resume, its
finished trials kept), trial 0 is the library's default recipe (on text the SetFit-style
``contrastive`` trial comes next, and the epochs before the first rung train on shorter
texts), and trials run until the deadline (the budget less the end's reserve) or the number of
trials asked for. The study's attributes tell workers on other machines what to run
(:mod:`~.worker`)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from transferkit import progress
from transferkit.config import AutoConfig, FitConfig
from transferkit.errors import UserError
from transferkit.runs.auto.search import Search
from transferkit.search.ranking import Ranked
from transferkit.search.space import SHORT_LENGTH, SearchSpace, cheap_strategies, usable
from transferkit.search.study import Objective, fail_orphans, open_study, storage_url
from transferkit.strategies import STRATEGIES


def trial_space(search: Search, ranked: Ranked, strategies: list[str]) -> SearchSpace:
    """The recipes the trials sample: the trained strategies among ``strategies`` on the kept
    models (LoRA only when every kept model takes adapters)."""
    cheap = cheap_strategies()
    wanted = [s for s in strategies if s not in cheap]
    trained = [s for s in wanted if all(usable(s, m) for m in ranked.kept)]
    if wanted and not trained and not any(s in cheap for s in strategies):
        needs = ", ".join(f"{s} needs {STRATEGIES.get(s).model_needs}" for s in wanted)
        raise UserError(
            f"--strategies {','.join(strategies)}: no kept model can take them ({needs}; "
            f"kept: {', '.join(m.name for m in ranked.kept)}); add finetune or linear, or "
            "name models that can with --models (LoRA: transformers encoders)."
        )
    native = ranked.kept[0].native_size
    image = search.dataset.modality == "image"
    sizes = search.sizes(native) if image else []
    space = SearchSpace(ranked.kept, trained, sizes, search.cfg.max_epochs)
    if not image:
        space.short_length, space.short_epochs = SHORT_LENGTH, short_epochs(search.cfg)
    return space


def short_epochs(cfg: AutoConfig) -> int:
    """The epochs of a text trial before its first pruning rung (``--min-epochs``): they train
    on short texts. None without a pruner, or when that rung is the last epoch."""
    if cfg.pruner == "none" or cfg.min_epochs >= cfg.max_epochs:
        return 0
    return cfg.min_epochs


def run_trials(search: Search, space: SearchSpace) -> list[dict[str, Any]]:
    """The trials of the search's study (from every worker) as leaderboard rows."""
    cfg = search.cfg
    if not space.strategies or cfg.trials == 0:
        return []
    name = cfg.study or f"auto-{search.run.id}"
    url = storage_url(cfg.storage, search.store.root)
    study = _open(cfg, url, name)
    deadline = time.monotonic() + search.clock.left() - search.reserve() - search.kfold_reserve()
    study.set_user_attr("transferkit", _study_attrs(search, space, deadline))
    search.save(study={"name": name, "storage": url})
    if not study.trials:
        for params in space.early(_default_model(space)):
            study.enqueue_trial(params)
    objective = Objective(space, search.fit_once, cfg.metric, deadline)
    with search.clock.stage("trials"):
        optimize(study, objective, deadline, cfg.trials)
    return trial_rows(study)


def finished_trials(search: Search) -> list[dict[str, Any]]:
    """The trials earlier calls of a resumed search ran, as leaderboard rows (none when they
    never reached the trials), without running more."""
    saved = search.done.get("study")
    if not saved:
        return []
    return trial_rows(_open(search.cfg, saved["storage"], saved["name"], create=False))


def _open(cfg: AutoConfig, url: str, name: str, create: bool = True):
    """The search's study (its trials left running by a killed process marked failed)."""
    study = open_study(
        url,
        name,
        sampler=cfg.sampler,
        pruner=cfg.pruner,
        seed=cfg.seed,
        min_epochs=cfg.min_epochs,
        max_epochs=cfg.max_epochs,
        reduction=cfg.reduction,
        create=create,
    )
    fail_orphans(study)
    return study


def optimize(study, objective: Objective, deadline: float, most: int | None) -> None:
    """Run ``objective`` on the study's trials until ``deadline`` (monotonic) or until the
    study holds ``most`` finished trials, saying how it goes after each."""
    from optuna.trial import TrialState

    def stop_at_deadline(st, trial) -> None:
        finished = [t for t in st.trials if t.state.is_finished()]
        done = [t for t in finished if t.state == TrialState.COMPLETE]
        best = max((t.value for t in done), default=float("nan"))
        progress.info(
            f"auto: trial {trial.number} {trial.state.name.lower()}; "
            f"{len(done)} complete, {len(finished) - len(done)} pruned or failed; "
            f"best {best:.4f}; {max(0.0, deadline - time.monotonic()):.0f} s left "
            "for trials"
        )
        if time.monotonic() >= deadline or (most is not None and len(finished) >= most):
            st.stop()

    finished = len([t for t in study.trials if t.state != TrialState.RUNNING])
    if time.monotonic() < deadline and (most is None or finished < most):
        study.optimize(objective, callbacks=[stop_at_deadline], gc_after_trial=True)


def trial_rows(study) -> list[dict[str, Any]]:
    """One leaderboard row per trial of the study (from any worker)."""
    rows = []
    for t in study.trials:
        state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(
            t.state.name, t.state.name.lower()
        )
        if t.user_attrs.get("failed"):
            state = "failed"
        curve = [t.intermediate_values[k] for k in sorted(t.intermediate_values)]
        rows.append(
            {
                "kind": "trial",
                "trial": t.number,
                "state": state,
                "params": t.params,
                "model": t.params.get("model"),
                "strategy": t.params.get("strategy"),
                "image_size": t.params.get("image_size"),
                "run": t.user_attrs.get("run"),
                "val": t.value,
                "n_val": t.user_attrs.get("n_val"),
                "val_nll": t.user_attrs.get("val_nll"),
                "curve": curve,
                "epochs": len(curve),
                "worker": t.user_attrs.get("host"),
                "reason": t.user_attrs.get("failed") or t.user_attrs.get("reason"),
                "seconds": t.duration.total_seconds() if t.duration else None,
            }
        )
    return rows


def _study_attrs(search: Search, space: SearchSpace, deadline: float) -> dict[str, Any]:
    """What a worker needs to run this study's trials on another machine."""
    return {
        "config": dataclasses.asdict(search.cfg),
        "base": search.base.to_dict(),
        "models": [dataclasses.asdict(m) for m in space.models],
        "strategies": space.strategies,
        "image_sizes": space.image_sizes,
        "max_epochs": space.max_epochs,
        "short_length": space.short_length,
        "short_epochs": space.short_epochs,
        "fingerprint": search.dataset.fingerprint,
        "deadline_unix": time.time() + deadline - time.monotonic(),
        "search": search.run.id,
    }


def _default_model(space: SearchSpace) -> str:
    """Trial 0's model: the library's default model when it was kept, else the first kept."""
    names = [m.name for m in space.models]
    return FitConfig().model if FitConfig().model in names else names[0]
