"""The stages of the automatic search, each a method of :class:`Search` over the search's data,
splits, clock and record (the rules are in :mod:`transferkit.search`; this module runs them).

Each stage writes what it found into the search record as soon as it has it (``ranking``,
``cheap``, the study's name), so a resumed search skips the stages already done and the study
keeps the trials already finished.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import progress
from transferkit.config import AutoConfig, FitConfig
from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.errors import UserError
from transferkit.runs._fitting import feature_cache, member_config
from transferkit.runs._recorded import RecordedRun
from transferkit.runs._transfer import FitResult, transfer
from transferkit.search import cheap, ranking
from transferkit.search.budget import Clock
from transferkit.search.space import CHEAP, SearchSpace, image_sizes
from transferkit.search.study import Objective, fail_orphans, open_study, storage_url
from transferkit.store import RunStore
from transferkit.transferability.candidates import Extraction
from transferkit.transferability.sampling import stratified_subsample

RANK_SHARE = 0.15  # of the budget, at most, for pre-flight and ranking (one model at least)
CHEAP_SHARE = 0.05  # a cheap run starts only with this share (and the reserve) left


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
    cfg: AutoConfig
    store: RunStore
    run: RecordedRun
    dataset: Dataset
    splits: Splits
    base: FitConfig
    clock: Clock
    device: Any
    done: dict[str, Any] = dataclasses.field(default_factory=dict)  # stages of an earlier try

    # -------------------------------------------------------------------- helpers
    @property
    def pool(self) -> np.ndarray:
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
        **settings: Any,
    ):
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
            splits=self.trial_splits(),
            store=self.store,
            parent=self.run.id,
            hooks=hooks,
            record={"search": self.run.id, **(record or {})},
        )

    def local(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """``chosen``, with its run in this machine's store: a trial another worker ran is
        trained again here with the same parameters (the full number of epochs, no pruning)."""
        if chosen.get("kind") != "trial" or in_store(self.store, chosen.get("run")):
            return chosen
        progress.info(f"auto: trial {chosen['trial']} ran on another worker; training it here")
        space = SearchSpace([], [], [], self.cfg.max_epochs)
        r = self.fit_once(
            **space.overrides(chosen["params"]),
            record={
                "trial": chosen["trial"],
                "params": chosen["params"],
                "refit_of": chosen.get("run"),
            },
        )
        return {
            **chosen,
            "run": r.run_id,
            "refit_of": chosen.get("run"),
            "refit_val": r.metrics.get(f"val_{self.cfg.metric}"),
        }

    def save(self, **stage: Any) -> None:
        self.done.update(stage)
        self.run.note(**stage, elapsed=self.clock.elapsed(), stages=dict(self.clock.stages))

    # -------------------------------------------------------------------- stage 1
    def rank(self, names: list[str]) -> ranking.Ranked:
        if "ranking" in self.done:
            return _ranked_again(self.done["ranking"])
        sizes = image_sizes(self.cfg.image_sizes, str(self.device), None)
        n = min(self.cfg.rank_examples, len(self.pool))
        sample = stratified_subsample(self.dataset.labels, self.pool, n, self.cfg.seed)
        how = Extraction(
            feature_cache(self.store),
            sizes[0] if self.dataset.modality == "image" else None,
            str(self.device),
            self.cfg.batch_size * 2,
        )
        share = RANK_SHARE * self.clock.budget_s
        with self.clock.stage("rank"):
            ranked = ranking.rank_stage(
                names,
                self.dataset,
                self.splits.train,
                sample,
                how,
                keep=self.cfg.keep,
                batch_size=self.cfg.batch_size,
                seed=self.cfg.seed,
                device=self.device,
                time_left=lambda: share - self.clock.elapsed(),
            )
        self.save(
            ranking={
                "rows": ranked.rows,
                "kept": [dataclasses.asdict(k) for k in ranked.kept],
                "seconds_per_batch": ranked.seconds_per_batch,
            }
        )
        progress.info("auto: kept " + ", ".join(k.name for k in ranked.kept))
        return ranked

    def check_budget(self, ranked: ranking.Ranked) -> None:
        """Refuse a budget that cannot fit even one linear probe (saying the minimum)."""
        per_batch = min(ranked.seconds_per_batch.get(k.name, 1.0) for k in ranked.kept) / 2
        n = len(self.pool) + len(self.splits.test)
        need = self.clock.elapsed() + 1.5 * per_batch * n / max(1, self.cfg.batch_size) + 5
        if need > self.clock.budget_s:
            raise UserError(
                f"The budget {self.cfg.budget} is too small: ranking took "
                f"{self.clock.elapsed():.0f} s and one linear probe on these "
                f"{n} examples needs about {need - self.clock.elapsed():.0f} s "
                f"more; give --budget {int(need * 1.5) + 1}s or more."
            )

    # -------------------------------------------------------------------- stage 2
    def cheap(self, ranked: ranking.Ranked, strategies: list[str]) -> list[dict[str, Any]]:
        if "cheap" in self.done:
            return self.done["cheap"]
        rows: list[dict[str, Any]] = []
        wanted = [s for s in strategies if s in CHEAP]
        with self.clock.stage("cheap"):
            for info in ranked.kept:
                size = self._sizes(info)[0] if info.modality == "image" else None
                for s in wanted:
                    if s == "linear" or _embeds_text(info, self.dataset):
                        # the first one always runs: a search that ran out of time still
                        # returns the cheapest result rather than none
                        first = not any(r.get("state") == "complete" for r in rows)
                        rows.append(self._cheap_row(info, s, size, force=first))
            best = max(
                (r for r in rows if r.get("strategy") == "linear" and r.get("val") is not None),
                key=lambda r: r.get("cv", r["val"]),
                default=None,
            )
            if best is not None:  # the probe of the best model at the other input sizes
                info = next(k for k in ranked.kept if k.name == best["model"])
                for size in self._sizes(info)[1:] if info.modality == "image" else []:
                    rows.append(self._cheap_row(info, "linear", size))
        self.save(cheap=rows)
        return rows

    def reserve(self) -> float:
        """Seconds kept for the end: the final share of the budget, or more when testing the
        winner (a forward pass over the test split) is estimated to take longer."""
        per_batch = (
            max(self.done.get("ranking", {}).get("seconds_per_batch", {}).values(), default=0.0) / 2
        )  # pre-flight timed forward + backward
        test = per_batch * len(self.splits.test) / max(1, 2 * self.cfg.batch_size)
        return max(self.cfg.final_share * self.clock.budget_s, 1.5 * test + 2.0)

    def _cheap_row(
        self, info, strategy: str, size: int | None, force: bool = False
    ) -> dict[str, Any]:
        if not force and self.clock.left() < self.reserve() + CHEAP_SHARE * self.clock.budget_s:
            return {
                "kind": "cheap",
                "model": info.name,
                "strategy": strategy,
                "image_size": size,
                "state": "skipped",
                "reason": "not run: the budget left is kept for the trials and the end",
            }
        row = cheap.run_cheap(info, strategy, size, self.fit_once, self.cfg.metric)
        if (
            strategy == "linear"
            and row["state"] == "complete"
            and cheap.tiny_validation(self.splits, self.dataset.num_classes)
        ):
            row.update(self._probe_cv(info.name, size))
        return row

    def _probe_cv(self, name: str, size: int | None) -> dict[str, float]:
        from transferkit.zoo import create_backbone

        backbone = create_backbone(name, image_size=size)
        return cheap.probe_cv(
            backbone, self.dataset, self.pool, feature_cache(self.store), self.device, self.cfg.seed
        )

    def _sizes(self, info) -> list[int]:
        return image_sizes(self.cfg.image_sizes, str(self.device), info.native_size)

    # -------------------------------------------------------------------- stage 3
    def space(self, ranked: ranking.Ranked, strategies: list[str]) -> SearchSpace:
        trained = [s for s in strategies if s not in CHEAP]
        if "lora" in trained and not all(m.adapters for m in ranked.kept):
            trained.remove("lora")
            if not trained and not any(s in CHEAP for s in strategies):
                raise UserError(
                    f"--strategies {','.join(strategies)}: LoRA needs transformers "
                    "encoders, and the kept models "
                    f"({', '.join(m.name for m in ranked.kept)}) are not; add "
                    "finetune or linear, or name transformers models with --models."
                )
        sizes = self._sizes(ranked.kept[0]) if self.dataset.modality == "image" else []
        return SearchSpace(ranked.kept, trained, sizes, self.cfg.max_epochs)

    def trials(self, space: SearchSpace) -> list[dict[str, Any]]:
        if not space.strategies or self.cfg.trials == 0:
            return []
        name = self.cfg.study or f"auto-{self.run.id}"
        url = storage_url(self.cfg.storage, self.store.root)
        study = open_study(
            url,
            name,
            sampler=self.cfg.sampler,
            pruner=self.cfg.pruner,
            seed=self.cfg.seed,
            min_epochs=self.cfg.min_epochs,
            max_epochs=self.cfg.max_epochs,
            reduction=self.cfg.reduction,
        )
        fail_orphans(study)
        deadline = time.monotonic() + self.clock.left() - self.reserve()
        study.set_user_attr("transferkit", _study_attrs(self, space, deadline))
        self.save(study={"name": name, "storage": url})
        if not study.trials:
            study.enqueue_trial(space.default(_default_model(space)))
        objective = Objective(space, self.fit_once, self.cfg.metric, deadline)
        with self.clock.stage("trials"):
            _optimize(study, objective, deadline, self.cfg.trials)
        return trial_rows(study)


def _optimize(study, objective: Objective, deadline: float, most: int | None) -> None:
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
        "fingerprint": search.dataset.fingerprint,
        "deadline_unix": time.time() + deadline - time.monotonic(),
        "search": search.run.id,
    }


def _default_model(space: SearchSpace) -> str:
    names = [m.name for m in space.models]
    return FitConfig().model if FitConfig().model in names else names[0]


def _embeds_text(info, dataset: Dataset) -> bool:
    return info.describes


def _ranked_again(saved: dict[str, Any]) -> ranking.Ranked:
    from transferkit.search.space import ModelInfo

    return ranking.Ranked(
        saved["rows"], [ModelInfo(**k) for k in saved["kept"]], saved.get("seconds_per_batch", {})
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
