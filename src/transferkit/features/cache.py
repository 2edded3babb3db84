"""On-disk cache of extracted features, keyed by backbone identity, data and transform.

One entry per key holds the dataset indices seen so far and their features, so overlapping
subsets (another seed, another label budget) reuse what was computed and only extract the
rest. An entry is stored in shards, so that writing or reading it needs memory for the rows
passed or asked for plus one shard, never for the whole entry::

    <root>/<key>.safetensors               the index: for every cached dataset index, the shard
                                           and the row that hold its features
    <root>/<key>/<shard id>.safetensors    one shard: up to ``shard_rows`` rows of features and
                                           the dataset indices they belong to

Adding rows writes new shards, then a new index, each to a temporary name and renamed (no
pickle): a killed process leaves the previous index, which names complete shards only. Shards
that no index names any more are removed by the next write. A shard that is missing, damaged or
does not hold the indices the index says is treated as missing (recomputed), never trusted.
Entries written before shards existed (one file with all indices and features) are still read,
and rewritten as shards at their next write.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

from transferkit.store.artifacts import atomic_save_tensors

SHARD_ROWS = 8192  # rows per shard: 40 MiB of 1,280-d float32 features, 2 MiB of 64-d
FORMAT = "transferkit-feature-cache"
VERSION = "2"


@dataclass
class _Index:
    """Where every cached row lives: ``indices`` sorted, ``shard`` / ``row`` beside them."""

    indices: np.ndarray  # int64, sorted, unique
    shard: np.ndarray  # int32: position in ``shards``
    row: np.ndarray  # int32: row within that shard
    shards: list[str]
    dim: int

    @classmethod
    def empty(cls, dim: int) -> _Index:
        z = np.zeros(0, np.int64)
        return cls(z, z.astype(np.int32), z.astype(np.int32), [], dim)


class FeatureCache:
    """Features of one dataset under one backbone and transform, stored under ``root``."""

    def __init__(self, root: Path, shard_rows: int = SHARD_ROWS) -> None:
        self.root = Path(root)
        self.shard_rows = int(shard_rows)

    def path(self, key: str) -> Path:
        """The entry's index file."""
        return self.root / f"{key}.safetensors"

    def shard_dir(self, key: str) -> Path:
        return self.root / key

    # ------------------------------------------------------------------------- reading
    def get(self, key: str, indices: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Cached features for ``indices`` (rows of the missing ones are garbage) and a mask
        of which indices were missing. ``None`` when nothing is cached."""
        indices = np.asarray(indices, dtype=np.int64)
        missing = np.ones(len(indices), dtype=bool)
        p = self.path(key)
        if not p.is_file():
            return None, missing
        try:
            if _is_legacy(p):
                return _legacy_get(p, indices)
            index = _read_index(p)
        except Exception:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
            return None, missing
        out = np.zeros((len(indices), index.dim), dtype=np.float32)
        if len(index.indices) == 0:
            return out, missing
        pos = np.clip(np.searchsorted(index.indices, indices), 0, len(index.indices) - 1)
        hit = np.flatnonzero(index.indices[pos] == indices)
        shard_of = index.shard[pos[hit]]
        for s in np.unique(shard_of):
            mine = hit[shard_of == s]
            rows = index.row[pos[mine]]
            stored = self._read_shard(key, index.shards[s])
            if stored is None or int(rows.max()) >= len(stored["indices"]):
                continue
            ok = stored["indices"][rows] == indices[mine]  # the shard holds what the index says
            out[mine[ok]] = stored["features"][rows[ok]]
            missing[mine[ok]] = False
        return out, missing

    def _read_shard(self, key: str, shard: str) -> dict[str, np.ndarray] | None:
        try:
            stored = load_file(str(self.shard_dir(key) / f"{shard}.safetensors"))
        except Exception:  # noqa: BLE001 - missing or damaged: its rows are recomputed
            return None
        feats, idx = stored.get("features"), stored.get("indices")
        if feats is None or idx is None or feats.ndim != 2 or len(feats) != len(idx):
            return None
        return stored

    # ------------------------------------------------------------------------- writing
    def put(self, key: str, indices: np.ndarray, features: np.ndarray) -> None:
        """Add features for ``indices`` to the entry (replacing rows already stored for them):
        new shards first, then the new index."""
        indices = np.asarray(indices, dtype=np.int64)
        features = np.asarray(features, dtype=np.float32)
        if len(np.unique(indices)) != len(indices):  # the first row of each index counts
            indices, first = np.unique(indices, return_index=True)
            features = features[first]
        dim = features.shape[1]
        index = self._current(key, dim)
        keep = ~np.isin(index.indices, indices)
        kept = _Index(index.indices[keep], index.shard[keep], index.row[keep], index.shards, dim)
        merged = _concat(kept, self._write_shards(key, indices, features, len(index.shards)))
        self._write_index(key, _compact(merged))
        self._remove_unnamed(key)

    def _current(self, key: str, dim: int) -> _Index:
        """The entry's index as stored (the rows of an old single-file entry are written as
        shards first); an empty one when there is none, it is damaged, or its width differs."""
        p = self.path(key)
        if not p.is_file():
            return _Index.empty(dim)
        try:
            if _is_legacy(p):
                stored = load_file(str(p))
                if stored["features"].shape[1:] != (dim,):
                    return _Index.empty(dim)
                return self._write_shards(key, stored["indices"], stored["features"], 0)
            index = _read_index(p)
        except Exception:  # noqa: BLE001 - damaged: start again
            return _Index.empty(dim)
        return index if index.dim == dim else _Index.empty(dim)

    def _write_shards(
        self, key: str, indices: np.ndarray, features: np.ndarray, first: int
    ) -> _Index:
        """Write these rows as new shards, numbered from ``first``; their index entries."""
        parts, names = [], []
        for start in range(0, len(indices), self.shard_rows):
            stop = min(start + self.shard_rows, len(indices))
            names.append(self._write_shard(key, indices[start:stop], features[start:stop]))
            parts.append(
                (
                    np.full(stop - start, first + len(parts), np.int32),
                    np.arange(stop - start, dtype=np.int32),
                )
            )
        shard, row = (
            (np.concatenate(a) for a in zip(*parts, strict=True))
            if parts
            else (np.zeros(0, np.int32), np.zeros(0, np.int32))
        )
        return _Index(np.asarray(indices, np.int64), shard, row, names, features.shape[1])

    def _write_shard(self, key: str, indices: np.ndarray, features: np.ndarray) -> str:
        name = secrets.token_hex(8)  # never the name of an existing shard
        atomic_save_tensors(
            self.shard_dir(key) / f"{name}.safetensors",
            {
                "indices": torch.from_numpy(np.ascontiguousarray(indices)),
                "features": torch.from_numpy(np.ascontiguousarray(features)),
            },
        )
        return name

    def _write_index(self, key: str, index: _Index) -> None:
        atomic_save_tensors(
            self.path(key),
            {
                "indices": torch.from_numpy(np.ascontiguousarray(index.indices)),
                "shard": torch.from_numpy(np.ascontiguousarray(index.shard)),
                "row": torch.from_numpy(np.ascontiguousarray(index.row)),
            },
            metadata={
                "format": FORMAT,
                "version": VERSION,
                "dim": str(index.dim),
                "shards": json.dumps(index.shards),
            },
        )

    def _remove_unnamed(self, key: str) -> None:
        """Shards the stored index does not name (replaced rows, writes that lost a race)."""
        try:
            named = set(_read_index(self.path(key)).shards)
            files = list(self.shard_dir(key).glob("*.safetensors"))
        except Exception:  # noqa: BLE001 - tidying only
            return
        for f in files:
            if f.stem not in named:
                f.unlink(missing_ok=True)


def _concat(a: _Index, b: _Index) -> _Index:
    """``a``'s entries and ``b``'s, whose shard numbers already follow ``a``'s shards."""
    return _Index(
        np.concatenate([a.indices, b.indices]),
        np.concatenate([a.shard, b.shard]),
        np.concatenate([a.row, b.row]),
        [*a.shards, *b.shards],
        a.dim,
    )


def _compact(index: _Index) -> _Index:
    """Sorted by dataset index, and only the shards still used (renumbered)."""
    order = np.argsort(index.indices, kind="stable")
    used, shard = np.unique(index.shard[order], return_inverse=True)
    return _Index(
        index.indices[order],
        shard.astype(np.int32),
        index.row[order],
        [index.shards[s] for s in used],
        index.dim,
    )


def _is_legacy(path: Path) -> bool:
    """An entry from before shards: one file holding ``indices`` and ``features``."""
    with safe_open(str(path), framework="numpy") as f:
        return "features" in f.keys()


def _read_index(path: Path) -> _Index:
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a feature cache index")
        index = _Index(
            f.get_tensor("indices"),
            f.get_tensor("shard"),
            f.get_tensor("row"),
            json.loads(meta["shards"]),
            int(meta["dim"]),
        )
    n = len(index.indices)
    if (
        len(index.shard) != n
        or len(index.row) != n
        or (n and (index.shard.min() < 0 or index.shard.max() >= len(index.shards)))
    ):
        raise ValueError(f"{path} is inconsistent")
    return index


def _legacy_get(path: Path, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stored = load_file(str(path))
    have, feats = stored["indices"], stored["features"]
    out = np.zeros((len(indices), feats.shape[1]), dtype=np.float32)
    if len(have) == 0:
        return out, np.ones(len(indices), dtype=bool)
    order = np.argsort(have)
    pos = np.clip(np.searchsorted(have[order], indices), 0, len(have) - 1)
    hit = have[order][pos] == indices
    out[hit] = feats[order][pos[hit]]
    return out, ~hit
