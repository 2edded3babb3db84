"""``similarity``: how far a source dataset is from a target in a backbone's feature space.

Features come through the same cache as ``fit`` and ``rank``; the result is recorded in the
run store (kind ``similarity``). The distances and their papers are in
:mod:`transferkit.transferability.similarity`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.config import SimilarityConfig, check_ranges
from transferkit.data import load_dataset
from transferkit.data.base import Dataset, modality_problem
from transferkit.errors import UserError
from transferkit.runs._fitting import feature_cache
from transferkit.runs._recorded import RecordedRun
from transferkit.store import RunStore
from transferkit.transferability.candidates import backbone_features
from transferkit.transferability.sampling import sample_indices
from transferkit.transferability.similarity import DomainDistances


@dataclass
class SimilarityResult(DomainDistances):
    """What :func:`similarity` returns: the distances (MMD^2 with its permutation p-value, the
    proxy A-distance and its domain classifier's error, MMD^2 per shared class), the two
    datasets, the model, the sample sizes and the run."""

    source: str = ""
    target: str = ""
    model: str = ""
    n_source: int = 0
    n_target: int = 0
    run_id: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _shared_labels(src: Dataset, tgt: Dataset, si: np.ndarray, ti: np.ndarray) -> tuple:
    """Class names both sides have, and both samples' labels in that space (-1: not shared)."""
    if src.labels is None or tgt.labels is None:
        return None, None, None
    shared = [c for c in src.classes if c in set(tgt.classes)]
    pos = {c: j for j, c in enumerate(shared)}
    smap = np.array([pos.get(c, -1) for c in src.classes] + [-1])
    tmap = np.array([pos.get(c, -1) for c in tgt.classes] + [-1])
    return shared, smap[src.labels[si]], tmap[tgt.labels[ti]]


def similarity(
    source: str | Dataset,
    target: str | Dataset,
    model: str,
    *,
    config: SimilarityConfig | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> SimilarityResult:
    """How far ``source`` is from ``target`` in the feature space of ``model``. Each side is
    sampled (stratified when labelled) to the same size, at most ``max_examples``, so the
    domain classifier's chance level is 0.5."""
    from transferkit.transferability.similarity import domain_distances

    t0 = time.perf_counter()
    names = [d if isinstance(d, str) else d.name for d in (source, target)]
    cfg = dataclasses.replace(
        config or SimilarityConfig(), source=names[0], target=names[1], model=model, **overrides
    )
    check_ranges(cfg)
    store = store or RunStore()
    src, tgt = (_load(d, cfg) for d in (source, target))
    n, si, ti = _samples(src, tgt, cfg)
    backbone = _backbone(model, cfg, (src, tgt))
    with RecordedRun(
        store,
        "similarity",
        dataclasses.asdict(cfg),
        seed=cfg.seed,
        data_fingerprint=f"{src.fingerprint}+{tgt.fingerprint}",
    ) as run:
        fs, ft = (_features(backbone, d, i, store, cfg) for d, i in ((src, si), (tgt, ti)))
        t1 = time.perf_counter()
        shared, ys, yt = _shared_labels(src, tgt, si, ti)
        dist = domain_distances(
            fs, ft, ys, yt, classes=shared, permutations=cfg.permutations, seed=cfg.seed
        )
        total = time.perf_counter() - t0
        run.finish(
            _metrics(dist),
            {"features": t1 - t0, "distances": time.perf_counter() - t1, "total": total},
            class_mmd=dist.class_mmd,
            bandwidth=dist.bandwidth,
            n_source=n,
            n_target=n,
            backbone=backbone.identity,
        )
    return SimilarityResult(
        **dataclasses.asdict(dist),
        source=names[0],
        target=names[1],
        model=model,
        n_source=n,
        n_target=n,
        run_id=run.id,
        seconds=total,
    )


def _load(data: str | Dataset, cfg: SimilarityConfig) -> Dataset:
    """One side: given, or loaded (labels optional)."""
    if not isinstance(data, str):
        return data
    return load_dataset(
        data, validate=False, text_column=cfg.text_column, label_column=cfg.label_column
    )


def _samples(
    src: Dataset, tgt: Dataset, cfg: SimilarityConfig
) -> tuple[int, np.ndarray, np.ndarray]:
    """The common sample size and each side's sample (stratified when labelled)."""
    n = min(len(src), len(tgt), cfg.max_examples)
    if n < 2:
        raise UserError(f"{src.name if len(src) < 2 else tgt.name} has fewer than 2 examples.")
    si, ti = (sample_indices(d.labels, len(d), n, cfg.seed) for d in (src, tgt))
    return n, si, ti


def _backbone(model: str, cfg: SimilarityConfig, sides: tuple[Dataset, Dataset]) -> Any:
    """The model's backbone, refused when either side holds data of another modality."""
    from transferkit.zoo import create_backbone

    backbone = create_backbone(model, image_size=cfg.image_size)
    for d in sides:
        if why := modality_problem(backbone.data_config.modality, d, model):
            raise UserError(why)
    return backbone


def _features(
    backbone: Any, dataset: Dataset, indices: np.ndarray, store: RunStore, cfg: SimilarityConfig
) -> np.ndarray:
    """One side's sample in the backbone's feature space, through the shared feature cache."""
    return backbone_features(
        backbone,
        dataset,
        indices,
        feature_cache(store),
        device=cfg.device,
        batch_size=cfg.batch_size,
    )


def _metrics(dist: DomainDistances) -> dict[str, float]:
    return {
        "mmd2": dist.mmd2,
        "mmd_p_value": dist.p_value,
        "proxy_a_distance": dist.proxy_a_distance,
        "domain_error": dist.domain_error,
    }
