"""``similarity``: how far a source dataset is from a target in a backbone's feature space.

Features come through the same cache as ``fit`` and ``rank``; the result is recorded in the
run store (kind ``similarity``) and returned as a plain dataclass. The distances and their
papers are in :mod:`transferkit.transferability.similarity`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.ranking import backbone_features, check_modality
from transferkit.store import RunStore, recording
from transferkit.transferability.sampling import sample_indices


@dataclass
class SimilarityResult:
    """What :func:`similarity` returns: MMD^2 (unbiased, RBF, median bandwidth) with its
    permutation p-value, the proxy A-distance and its domain classifier's error, and, when
    both sides are labelled, MMD^2 per class name they share (``None``: too few examples)."""

    source: str
    target: str
    model: str
    mmd2: float
    p_value: float
    bandwidth: float
    proxy_a_distance: float
    domain_error: float
    class_mmd: dict[str, float | None]
    n_source: int
    n_target: int
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
    max_examples: int = 2000,
    seed: int = 0,
    permutations: int = 200,
    image_size: int | None = None,
    device: str = "auto",
    batch_size: int = 64,
    store: RunStore | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> SimilarityResult:
    """How far ``source`` is from ``target`` in the feature space of ``model``.

    Each side is sampled (stratified when labelled) to the same size, at most
    ``max_examples``, so the domain classifier's chance level is 0.5. The distances and their
    papers are in :mod:`transferkit.transferability.similarity`.
    """
    from transferkit.transferability.similarity import domain_distances
    from transferkit.zoo import create_backbone

    t0 = time.perf_counter()
    if image_size is not None and image_size < 1:
        raise UserError(f"--image-size must be at least 1 (got {image_size}).")
    if max_examples < 2:
        raise UserError(f"max_examples must be at least 2, got {max_examples}.")
    store = store or RunStore()
    src, tgt = (load_dataset(d, validate=False, text_column=text_column,
                             label_column=label_column) if isinstance(d, str) else d
                for d in (source, target))
    n = min(len(src), len(tgt), max_examples)
    if n < 2:
        raise UserError(f"{src.name if len(src) < 2 else tgt.name} has fewer than 2 examples.")
    si, ti = (sample_indices(d.labels, len(d), n, seed) for d in (src, tgt))
    backbone = create_backbone(model, image_size=image_size)
    for d in (src, tgt):
        if why := check_modality(backbone, d, model):
            raise UserError(why)
    names = [d if isinstance(d, str) else d.name for d in (source, target)]
    config = {"source": names[0], "target": names[1], "model": model,
              "max_examples": max_examples, "seed": seed, "permutations": permutations,
              "image_size": image_size}
    run_id = store.create("similarity", config, seed=seed,
                          data_fingerprint=f"{src.fingerprint}+{tgt.fingerprint}")
    with recording(store, run_id):
        fs, ft = (backbone_features(backbone, d, i, store, device=device, batch_size=batch_size)
                  for d, i in ((src, si), (tgt, ti)))
        t1 = time.perf_counter()
        shared, ys, yt = _shared_labels(src, tgt, si, ti)
        dist = domain_distances(fs, ft, ys, yt, classes=shared, permutations=permutations,
                                seed=seed)
    total = time.perf_counter() - t0
    result = SimilarityResult(names[0], names[1], model, **dataclasses.asdict(dist),
                              n_source=n, n_target=n, run_id=run_id, seconds=total)
    store.update(run_id, extra={"class_mmd": dist.class_mmd, "bandwidth": dist.bandwidth,
                                "n_source": n, "n_target": n, "backbone": backbone.identity})
    store.finish(run_id, metrics={"mmd2": dist.mmd2, "mmd_p_value": dist.p_value,
                                  "proxy_a_distance": dist.proxy_a_distance,
                                  "domain_error": dist.domain_error},
                 timings={"features": t1 - t0, "distances": time.perf_counter() - t1,
                          "total": total})
    return result
