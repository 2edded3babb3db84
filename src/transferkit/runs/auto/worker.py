"""``transferkit auto --worker --storage URL --study NAME``: one more machine for a search.

The worker reads what it needs from the study's attributes (the search's settings, the kept
models, the space, the data fingerprint, the deadline), loads the same data (refusing data
whose fingerprint differs: its trials would not be comparable), makes the same splits, and asks
the study for trials until the deadline passes. Each trial is a transfer run in this machine's
run store; the study gathers every worker's results for the search that owns it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from transferkit import distributed, progress
from transferkit.config import AutoConfig, FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError
from transferkit.runs._fitting import check_labelled, load_fit_data
from transferkit.runs._recorded import RecordedRun
from transferkit.runs.auto.search import AutoResult, Search, in_store, search_splits
from transferkit.runs.auto.trials import optimize, trial_rows
from transferkit.search.budget import Clock
from transferkit.search.space import ModelInfo, SearchSpace
from transferkit.search.study import Objective, open_study, storage_url
from transferkit.store import RunStore


def work(cfg: AutoConfig, store: RunStore) -> AutoResult:
    """Run trials of the study ``cfg.study`` until its search's deadline; returns this
    worker's record, with the trials it ran (see the module docstring)."""
    study, attrs = _join(cfg, store)
    main = AutoConfig.from_dict(attrs["config"])
    base = FitConfig.from_dict(attrs["base"])
    device = distributed.setup(cfg.device)
    dataset, splits = _same_data(base, main, attrs["fingerprint"])
    space = SearchSpace(
        [ModelInfo(**m) for m in attrs["models"]],
        attrs["strategies"],
        attrs["image_sizes"],
        attrs["max_epochs"],
        short_length=attrs.get("short_length"),
        short_epochs=attrs.get("short_epochs", 0),
    )
    deadline = time.monotonic() + attrs["deadline_unix"] - time.time()
    with RecordedRun(
        store,
        "auto-worker",
        {**dataclasses.asdict(cfg), "search": attrs["search"]},
        seed=main.seed,
        data_fingerprint=dataset.fingerprint,
    ) as run:
        search = Search(main, store, run, dataset, splits, base, Clock(1.0), device)
        progress.info(
            f"worker {run.id}: study {cfg.study}, "
            f"{max(0.0, deadline - time.monotonic()):.0f} s left"
        )
        optimize(
            study, Objective(space, search.fit_once, main.metric, deadline), deadline, main.trials
        )
        mine = [r for r in trial_rows(study) if r.get("run") and in_store(store, r["run"])]
        run.finish({"trials": len(mine)}, {}, trials=mine, study=cfg.study)
    return AutoResult(run.id, {}, f"worker: {len(mine)} trials", {}, None, mine, [], run.dir)


def _join(cfg: AutoConfig, store: RunStore) -> tuple[Any, dict[str, Any]]:
    """The study named by ``--study`` and what its search left for workers in it; refused
    when there is none yet."""
    if not cfg.study:
        raise UserError(
            "--worker joins an existing study: name it with --study NAME (and "
            "--storage URL when the study is not in this machine's store)."
        )
    url = storage_url(cfg.storage, store.root)
    study = open_study(
        url,
        cfg.study,
        sampler=cfg.sampler,
        pruner=cfg.pruner,
        seed=cfg.seed,
        min_epochs=cfg.min_epochs,
        max_epochs=cfg.max_epochs,
        reduction=cfg.reduction,
        create=False,
    )
    attrs = study.user_attrs.get("transferkit")
    if not attrs:
        raise UserError(
            f"The study {cfg.study!r} in {url} is not ready yet (its search has "
            "not reached the fine-tuning stage); start the worker again shortly."
        )
    return study, attrs


def _same_data(base: FitConfig, main: AutoConfig, fingerprint: str) -> tuple[Dataset, Splits]:
    """The search's data on this machine, and its splits; refused when the data differs."""
    dataset = load_fit_data(base)
    check_labelled(dataset)
    if dataset.fingerprint != fingerprint:
        raise UserError(
            f"The data {base.data.data} on this machine differs from the search's "
            "(fingerprints differ); give every worker the same data."
        )
    return dataset, search_splits(dataset, main)
