"""Dataset fingerprints: short SHA-256 digests that identify a dataset's content.

The feature cache and the run store key on them, so they must be stable across processes and
machines (no ``hash()``, no object ids) and change whenever the data does. Arrays are hashed
byte for byte (Fashion-MNIST's 55 MB take well under a second); file datasets hash each file's
path relative to the dataset root, size, modification time and label, which is cheap even for
large folders because no image is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from transferkit.data.base import ArrayDataset, Dataset
from transferkit.data.readers import FileDataset
from transferkit.data.text import TextDataset

VERSION = b"transferkit-data-fingerprint-v1"
LENGTH = 16  # hex digits kept: 64 bits, plenty to tell datasets apart


def _update_array(h: Any, name: str, a: np.ndarray | None) -> None:
    if a is None:
        h.update(f"{name}:none;".encode())
        return
    a = np.ascontiguousarray(a)
    h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
    h.update(a.reshape(-1).view(np.uint8))  # the bytes, without a copy


def _as_str(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.asarray(a, dtype=str)


def array_fingerprint(
    images: np.ndarray,
    labels: np.ndarray | None,
    classes: list[str],
    predefined: np.ndarray | None = None,
) -> str:
    """Digest of image and label bytes, shapes and dtypes, class names and predefined split."""
    h = hashlib.sha256(VERSION + b"|arrays|")
    _update_array(h, "images", images)
    _update_array(h, "labels", None if labels is None else np.asarray(labels, dtype=np.int64))
    _update_array(h, "predefined", _as_str(predefined))
    h.update(json.dumps(list(classes)).encode())
    return h.hexdigest()[:LENGTH]


def file_fingerprint(
    paths: list[str], labels: np.ndarray | None, classes: list[str], root: str
) -> str:
    """Digest of sorted (relative path, size, mtime_ns, class name) records and class names."""
    records = []
    for k, p in enumerate(paths):
        st = os.stat(p)
        rel = os.path.relpath(p, root).replace(os.sep, "/")
        label = "" if labels is None else classes[int(labels[k])]
        records.append((rel, st.st_size, st.st_mtime_ns, label))
    records.sort()
    h = hashlib.sha256(VERSION + b"|files|")
    h.update(json.dumps(list(classes)).encode())
    h.update(json.dumps(labels is not None).encode())
    for rec in records:
        # surrogatepass: names that are not valid UTF-8 on disk (os gives them as surrogates)
        h.update(json.dumps(rec, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()[:LENGTH]


def text_fingerprint(
    texts: list[str],
    labels: np.ndarray | None,
    classes: list[str],
    predefined: np.ndarray | None = None,
) -> str:
    """Digest of every text (in order), the labels, the class names and predefined split."""
    h = hashlib.sha256(VERSION + b"|texts|")
    h.update(json.dumps(list(classes)).encode())
    _update_array(h, "labels", None if labels is None else np.asarray(labels, dtype=np.int64))
    _update_array(h, "predefined", _as_str(predefined))
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()[:LENGTH]


def compute_fingerprint(dataset: Dataset) -> str:
    """The fingerprint of any Dataset (array and file datasets fast; others decode every item)."""
    if isinstance(dataset, ArrayDataset):
        return array_fingerprint(
            dataset.images, dataset.labels, dataset.classes, dataset.predefined
        )
    if isinstance(dataset, TextDataset):
        return text_fingerprint(dataset.texts, dataset.labels, dataset.classes, dataset.predefined)
    if isinstance(dataset, FileDataset):
        return file_fingerprint(dataset.paths, dataset.labels, dataset.classes, dataset.root)
    h = hashlib.sha256(VERSION + b"|generic|")
    for i in range(len(dataset)):
        _update_array(h, str(i), np.asarray(dataset.load(i)))
    _update_array(h, "labels", dataset.labels)
    _update_array(h, "predefined", _as_str(dataset.predefined))
    h.update(json.dumps(list(dataset.classes)).encode())
    return h.hexdigest()[:LENGTH]
