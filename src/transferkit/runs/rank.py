"""``rank`` source models for a target task without training them.

Features are extracted once per candidate through the feature cache that ``fit`` uses, so
ranking and then fitting the winner never computes the same features twice. The ranking is
recorded in the run store (kind ``rank``). Candidate scoring lives in
:mod:`transferkit.transferability.candidates`; the scores in :mod:`transferkit.transferability`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit import progress
from transferkit.config import RankConfig, check_ranges
from transferkit.config.options import dests, resolved_values
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.runs._fitting import feature_cache
from transferkit.runs._recorded import RecordedRun
from transferkit.store import RunStore
from transferkit.transferability import SCORES
from transferkit.transferability.candidates import (
    DEFAULT_SCORES,
    Extraction,
    RankRow,
    expand_models,
    ordered,
    rank_sample,
    score_candidate,
    scorers_for,
)


@dataclass
class RankResult:
    """What :func:`rank` returns. ``rows`` are in ranked order (candidates with a primary
    score first, best first; then the others in the order given); ``order`` names the
    candidates that have a primary score, best first."""

    rows: list[RankRow]
    order: list[str]
    primary: str
    scores: list[str]
    data: str
    n_examples: int
    num_classes: int
    run_id: str | None = None
    seconds: float = 0.0

    @property
    def best(self) -> str | None:
        return self.order[0] if self.order else None

    def row(self, model: str) -> RankRow:
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def score_names(cfg: RankConfig) -> list[str]:
    """The scores to compute, the one that orders the table first."""
    listed = [s.strip().lower() for s in cfg.scores if s.strip()] or list(DEFAULT_SCORES)
    if cfg.score:
        first = cfg.score.strip().lower()
        listed = [first] + [s for s in listed if s != first] if cfg.scores else [first]
    for n in listed:
        SCORES.get(n)
    return list(dict.fromkeys(listed))


def _config(data, models, config: RankConfig | None, scores, score_params, overrides) -> RankConfig:
    """RankConfig from the arguments (``scores`` as a list or comma string; ``score_params``
    as ``{"knn": {"k": 10}}``, the form before scores declared their options)."""
    opts = {}
    for s, params in (score_params or {}).items():
        by_field = {f.name: d for d, f in dests(SCORES, s).items()}
        unknown = set(params) - set(by_field)
        if unknown:
            raise UserError(
                f"Bad options {sorted(unknown)} for the score {s!r}; it takes "
                f"{', '.join(sorted(by_field)) or 'none'}."
            )
        opts.update({by_field[k]: v for k, v in params.items()})
    if isinstance(scores, str):
        scores = scores.split(",")
    cfg = dataclasses.replace(config or RankConfig(), **overrides)
    cfg = dataclasses.replace(
        cfg,
        data=data if isinstance(data, str) else cfg.data,
        models=models if isinstance(models, str) else ",".join(models),
        scores=list(scores) if scores is not None else cfg.scores,
        options={**cfg.options, **opts},
    )
    check_ranges(cfg)
    return cfg


def rank(
    data: str | Dataset,
    models: list[str] | str,
    *,
    scores=None,
    score_params: dict[str, dict[str, Any]] | None = None,
    config: RankConfig | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> RankResult:
    """Rank source ``models`` for the labelled target ``data`` by transferability scores.

    The first score orders the table. Each candidate is loaded, its features are extracted
    once (cached) on the labelled part of ``fit``'s split (a stratified sample of
    ``max_examples`` when given) and every score is computed. A candidate that fails to load or
    has the wrong modality is listed with the reason, and the others are still scored."""
    t0 = time.perf_counter()
    cfg = _config(data, models, config, scores, score_params, overrides)
    names = score_names(cfg)
    scorers = scorers_for(names, cfg.options, cfg.seed)
    candidates, problems = expand_models(cfg.models)
    store = store or RunStore()
    dataset = _target(data, cfg)
    indices = rank_sample(
        dataset, seed=cfg.seed, max_examples=cfg.max_examples, labels_per_class=cfg.labels_per_class
    )
    k = len(np.unique(dataset.labels[indices]))
    stored = {
        **dataclasses.asdict(cfg),
        "data": cfg.data or dataset.name,
        "models": candidates,
        "scores": names,
        "options": resolved_values(SCORES, names, cfg.options),
    }
    how = Extraction(feature_cache(store), cfg.image_size, cfg.device, cfg.batch_size)
    with RecordedRun(
        store, "rank", stored, seed=cfg.seed, data_fingerprint=dataset.fingerprint
    ) as run:
        run.note(dataset=dataset.summary(), n_examples=len(indices))
        progress.info(
            f"run {run.id}: ranking {len(candidates)} models on {dataset.name} "
            f"({len(indices)} examples, {k} classes) by {', '.join(names)}"
        )
        rows = [_row(name, problems, dataset, indices, scorers, how) for name in candidates]
        rows, order = ordered(rows, names[0])
        total = time.perf_counter() - t0
        run.finish(
            _primary_scores(rows, names[0]),
            _timings(rows, total),
            table=[dataclasses.asdict(r) for r in rows],
            order=order,
        )
    return RankResult(rows, order, names[0], names, stored["data"], len(indices), k, run.id, total)


def _target(data: str | Dataset, cfg: RankConfig) -> Dataset:
    """The target data (given, or loaded from ``cfg.data``), refused without labels."""
    dataset = (
        data
        if isinstance(data, Dataset)
        else load_dataset(cfg.data, text_column=cfg.text_column, label_column=cfg.label_column)
    )
    if dataset.labels is None:
        raise UserError(
            f"{dataset.name} has no labels; ranking source models needs labelled "
            "target data (one sub-folder per class, or a label column)."
        )
    return dataset


def _primary_scores(rows: list[RankRow], primary: str) -> dict[str, float]:
    """The record's metrics: each scored candidate's primary score, as ``SCORE/MODEL``."""
    return {
        f"{primary}/{r.model}": r.scores[primary] for r in rows if r.scores.get(primary) is not None
    }


def _timings(rows: list[RankRow], total: float) -> dict[str, float]:
    """The total and each candidate's stages, as ``MODEL/STAGE``."""
    return {
        "total": total,
        **{f"{r.model}/{part}": v for r in rows for part, v in r.timings.items()},
    }


def _row(
    name: str,
    problems: dict[str, str],
    dataset: Dataset,
    indices: np.ndarray,
    scorers: dict[str, Any],
    how: Extraction,
) -> RankRow:
    row = RankRow(name, scores=dict.fromkeys(scorers))
    t0 = time.perf_counter()
    if name in problems:
        row.status, row.reason = "failed", problems[name]
    else:
        progress.info(f"rank: {name}")
        score_candidate(row, name, dataset, indices, scorers, how)
    row.seconds = time.perf_counter() - t0
    return row
