"""On-disk cache of extracted features, keyed by backbone identity, data and transform.

One entry per key holds the dataset indices seen so far and their features, so overlapping
subsets (another seed, another label budget) reuse what was computed and only extract the
rest. Entries are safetensors files written to a temporary name and renamed: no pickle, and a
killed process never leaves a half-written entry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file

from transferkit.store.artifacts import atomic_save_tensors


class FeatureCache:
    """Features of one dataset under one backbone and transform, stored under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def get(self, key: str, indices: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Cached features for ``indices`` (rows of the missing ones are garbage) and a mask
        of which indices were missing. ``None`` when nothing is cached."""
        p = self.path(key)
        if not p.is_file():
            return None, np.ones(len(indices), dtype=bool)
        try:
            stored = load_file(str(p))
        except Exception:  # a damaged entry is recomputed, never trusted
            return None, np.ones(len(indices), dtype=bool)
        have, feats = stored["indices"], stored["features"]
        order = np.argsort(have)
        pos = np.searchsorted(have[order], indices)
        pos = np.clip(pos, 0, len(have) - 1)
        hit = have[order][pos] == indices
        out = np.zeros((len(indices), feats.shape[1]), dtype=feats.dtype)
        out[hit] = feats[order][pos[hit]]
        return out, ~hit

    def put(self, key: str, indices: np.ndarray, features: np.ndarray) -> None:
        """Add features for ``indices`` to the entry (merging with what is stored)."""
        p = self.path(key)
        if p.is_file():
            try:
                stored = load_file(str(p))
                keep = ~np.isin(stored["indices"], indices)
                indices = np.concatenate([stored["indices"][keep], indices])
                features = np.concatenate([stored["features"][keep], features])
            except Exception:
                pass
        atomic_save_tensors(
            p,
            {
                "indices": torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64)),
                "features": torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
            },
        )
