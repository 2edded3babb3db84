"""What every stage of the automatic search works on: :class:`Search`, the search's settings,
data, splits, clock and record, with the few things all stages do (fit one configuration as a
transfer run linked to the search, keep the test split out of it, note a finished stage in the
record, keep time for the end). The stages themselves are :mod:`~.rank`, :mod:`~.cheap` and
:mod:`~.trials`; the end is :mod:`~.final`.

Each stage writes what it found into the search record as soon as it has it (``ranking``,
``cheap``, the study's name), so a resumed search skips the stages already done and the study
keeps the trials already finished; and the budget's account every few seconds
(:meth:`Search.keeping_account`), so a resumed search gets only what the earlier calls left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.config import AutoConfig, FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits, make_splits
from transferkit.errors import UserError
from transferkit.runs._fitting import member_config
from transferkit.runs._recorded import RecordedRun
from transferkit.runs._transfer import FitResult, transfer
from transferkit.search.budget import Clock, save_every
from transferkit.search.folds import KFOLD_SHARE
from transferkit.search.space import image_sizes
from transferkit.store import RunStore
from transferkit.store.owner import Heartbeat


@dataclasses.dataclass
class AutoResult:
    """The search record, the chosen configuration and why, its test metrics (the only time
    the test split was read), the winning run and the leaderboard."""

    run_id: str
    chosen: dict[str, Any]
    why: str
    metrics: dict[str, Any]
    winner: FitResult | None
    leaderboard: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ranking: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    artifact_dir: Path | None = None

    @property
    def accuracy(self) -> float:
        return float(self.metrics.get("test_accuracy", float("nan")))


@dataclasses.dataclass
class Search:
    """One search (or one worker's share of it): what the stages read and the record they
    write to. ``done`` holds the stages an earlier, interrupted try already finished."""

    cfg: AutoConfig
    store: RunStore
    run: RecordedRun
    dataset: Dataset
    splits: Splits
    base: FitConfig
    clock: Clock
    device: Any
    done: dict[str, Any] = dataclasses.field(default_factory=dict)
    selection: dict[str, Any] = dataclasses.field(default_factory=lambda: {"mode": "val"})

    @property
    def pool(self) -> np.ndarray:
        """The labelled pool: train and validation together, sorted."""
        return np.sort(np.concatenate([self.splits.train, self.splits.val]))

    def trial_splits(self) -> Splits:
        """Trials and cheap runs never see the test split."""
        return Splits(self.splits.train, self.splits.val, np.empty(0, np.int64))

    def fit_once(
        self,
        *,
        model: str,
        strategy: str,
        image_size: int | None = None,
        hooks=None,
        record: dict | None = None,
        splits: Splits | None = None,
        **settings: Any,
    ):
        """One configuration as a transfer run, a child of the search record: ``settings``
        that name a training setting go to the recipe, the others to the strategy's options;
        ``splits`` (default: the search's train and validation splits) never hold the test
        split."""
        cfg = member_config(self.base, strategy, model=model, image_size=image_size)
        train = dataclasses.replace(
            cfg.train, **{k: v for k, v in settings.items() if hasattr(cfg.train, k)}
        )
        options = {
            **cfg.options,
            **{k: v for k, v in settings.items() if not hasattr(cfg.train, k)},
        }
        cfg = member_config(dataclasses.replace(cfg, train=train, options=options), strategy)
        return transfer(
            config=cfg,
            dataset=self.dataset,
            splits=splits or self.trial_splits(),
            store=self.store,
            parent=self.run.id,
            hooks=hooks,
            record={"search": self.run.id, **(record or {})},
        )

    def save(self, **stage: Any) -> None:
        """Note a finished stage in the record (with the time spent so far, stage by stage)."""
        self.done.update(stage)
        self.run.note(**stage, **self.account())

    def account(self) -> dict[str, Any]:
        """The budget's account as the record keeps it (what a resumed search reads back)."""
        clock = self.clock
        return {
            "elapsed": clock.elapsed(),
            "stages": dict(clock.stages),
            "budget_account": clock.account(),
        }

    @contextmanager
    def keeping_account(self) -> Iterator[None]:
        """Save the budget's account every :func:`~transferkit.search.budget.save_every`
        seconds while the search works, and once more however it ends, so a resumed search
        knows what this call spent (a SIGKILL loses at most one interval)."""
        every = save_every(self.clock.budget_s)
        with Heartbeat(lambda: self.run.note(**self.account()), every):
            try:
                yield
            finally:
                self.run.note(**self.account())

    def out_of_time(self) -> bool:
        """Whether the earlier calls of a resumed search left no more than the end's reserve:
        then it goes straight to the choice among what they finished."""
        return bool(self.clock.before) and self.clock.left() <= self.reserve()

    def reserve(self) -> float:
        """Seconds kept for the end: the final share of the budget, or more when testing the
        winner (a forward pass over the test split) is estimated to take longer."""
        per_batch = (
            max(self.done.get("ranking", {}).get("seconds_per_batch", {}).values(), default=0.0) / 2
        )  # pre-flight timed forward + backward
        test = per_batch * len(self.splits.test) / max(1, 2 * self.cfg.batch_size)
        return max(self.cfg.final_share * self.clock.budget_s, 1.5 * test + 2.0)

    def kfold_reserve(self) -> float:
        """Seconds the trials leave for the k-fold stage (none when choosing on validation)."""
        if self.selection.get("mode") != "oof":
            return 0.0
        return KFOLD_SHARE * self.clock.budget_s + float(self.selection.get("cheap_s", 0.0))

    def sizes(self, native: int | None) -> list[int]:
        """The input sizes the search tries for a model of native size ``native``."""
        return image_sizes(self.cfg.image_sizes, str(self.device), native)


def search_splits(dataset: Dataset, cfg: AutoConfig) -> Splits:
    """The search's splits of ``dataset`` (the same on every worker: the same seed)."""
    return make_splits(
        dataset,
        seed=cfg.seed,
        labels_per_class=cfg.labels_per_class,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        max_test=cfg.max_test,
    )


def in_store(store: RunStore, run_id: str | None) -> bool:
    """Whether ``run_id`` is a run of this machine's store."""
    if not run_id:
        return False
    try:
        store.get(run_id)
    except UserError:
        return False
    return True
