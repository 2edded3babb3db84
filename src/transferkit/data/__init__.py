"""The data layer: readers, validation, fingerprints, stratified splits and transforms.

``load_dataset(spec)`` turns a ``--data`` string into a validated, fingerprinted
:class:`~transferkit.data.base.Dataset`:

* ``builtin:NAME`` - a dataset that ships in a package (``fashion-mnist``, ``mnist5k``,
  ``digits``, ``digits28``; see :data:`DATASETS`);
* a folder - one sub-folder per class of images, the same under split folders (``train``,
  ``val``, ``test``: the dataset's own splits), images directly in it (unlabelled), or
  MNIST-style idx files;
* ``*.csv`` / ``*.jsonl`` - a manifest of image paths and labels, or a table of texts and
  labels (a ``text`` column, or ``text_column``); ``*.tsv`` / ``*.parquet`` / ``*.txt`` - texts;
* an image file - one unlabelled image (to predict);
* ``*.npz`` - arrays ``x``/``images`` and ``y``/``labels``;
* ``idx:IMAGES_PATH,LABELS_PATH`` - one pair of idx files.

Nothing is downloaded, at import time or ever.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from transferkit import progress
from transferkit.data.arrays import idx_pairs, read_idx, read_idx_folder, read_idx_pair, read_npz
from transferkit.data.base import ArrayDataset, Dataset, Skipped
from transferkit.data.builtin import DATASETS
from transferkit.data.fingerprint import compute_fingerprint
from transferkit.data.folders import read_image_folder
from transferkit.data.readers import (
    IMAGE_EXTENSIONS,
    FileDataset,
    check_images,
    decode_image,
    read_manifest,
)
from transferkit.data.splits import Splits, check_labels, make_splits, stratified_kfold
from transferkit.data.text import TEXT_EXTENSIONS, TextDataset, is_text_table, read_text_table
from transferkit.errors import UserError, suggest

__all__ = [
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "ArrayDataset",
    "Dataset",
    "FileDataset",
    "ImageTorchDataset",
    "Skipped",
    "Splits",
    "TextDataset",
    "build_transform",
    "check_labels",
    "compute_fingerprint",
    "decode_image",
    "load_dataset",
    "make_splits",
    "read_idx",
    "stratified_kfold",
]

_LAZY = {"build_transform", "ImageTorchDataset"}  # need torch + timm: imported on first use


def __getattr__(name: str) -> object:
    """Import the torch-based transforms only when asked for, so readers stay light to import."""
    if name in _LAZY:
        from transferkit.data import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FORMS = (
    "a folder with one sub-folder per class, a .csv/.jsonl manifest, a text table "
    "(.csv/.tsv/.jsonl/.parquet/.txt), a .npz file, a folder of idx files, idx:IMAGES,LABELS "
    "or builtin:NAME"
)


def _missing(spec: str) -> UserError:
    hint = suggest(spec.lower(), DATASETS.list())
    if spec.lower() in DATASETS:
        hint = f" Did you mean 'builtin:{spec.lower()}'?"
    return UserError(
        f"The dataset {spec!r} does not exist.{hint} Pass {_FORMS}; built-in datasets: "
        f"{', '.join('builtin:' + n for n in DATASETS.list())}."
    )


def _read(
    spec: str, *, strict: bool, path_column, label_column, allow_outside_root, text_column=None
) -> Dataset:
    if spec.lower().startswith("builtin:"):
        return DATASETS.get(spec.split(":", 1)[1].strip())()
    if spec.lower().startswith("idx:"):
        parts = [p.strip() for p in spec[4:].split(",")]
        if len(parts) != 2 or not all(parts):
            raise UserError(
                f"{spec!r} should name two files: idx:IMAGES_PATH,LABELS_PATH, e.g. "
                "idx:train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz."
            )
        images, labels = read_idx_pair(*(Path(p).expanduser() for p in parts))
        classes = [str(i) for i in range(int(labels.max()) + 1)]
        return ArrayDataset(images, labels, classes, name=Path(parts[0]).name.split("-")[0])
    path = Path(spec).expanduser()
    if not path.exists():
        raise _missing(spec)
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise UserError(
                f"The folder {path} cannot be read (permission denied). Check its permissions."
            )
        pairs = idx_pairs(path)
        if pairs:
            return read_idx_folder(path, pairs)
        return read_image_folder(path, strict=strict)
    suffix = path.suffix.lower()
    if suffix in TEXT_EXTENSIONS and is_text_table(path, text_column):
        return read_text_table(
            path, text_column=text_column, label_column=label_column, strict=strict
        )
    if suffix in (".csv", ".jsonl"):
        return read_manifest(
            path,
            strict=strict,
            path_column=path_column,
            label_column=label_column,
            allow_outside_root=allow_outside_root,
        )
    if suffix == ".npz":
        return read_npz(path)
    if suffix in IMAGE_EXTENSIONS:  # one image, unlabelled (what `predict` is given)
        skipped: list[Skipped] = []
        good = check_images([str(path)], strict=True, skipped=skipped)
        return FileDataset(
            [str(path)] if good else [], None, [], root=str(path.parent), name=path.name
        )
    if "idx" in path.name and "ubyte" in path.name:
        raise UserError(
            f"{path} is a single idx file; pass the folder that holds the images and labels "
            "files, or both files as idx:IMAGES_PATH,LABELS_PATH."
        )
    raise UserError(f"Cannot read {path}: unknown file type {suffix or '(none)'}. Pass {_FORMS}.")


def _one_paragraph(message: str) -> str:
    """``message`` as one printable paragraph: line breaks and other control characters (from
    file names or a library's error text) escaped, undecodable bytes of file names (which
    Python holds as lone surrogates) written as ``\\udcXX``."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Zl", "Zp")
        else c
        for c in text
    )


def skipped_summary(dataset: Dataset) -> str:
    """One line: how many inputs were skipped, by reason, with an example of each."""
    reasons: dict[str, list[str]] = {}
    for s in dataset.skipped:
        reasons.setdefault(s.reason.split(" (")[0], []).append(s.item)
    parts = [f"{len(items)} {why} (e.g. {items[0]})" for why, items in reasons.items()]
    return (
        f"{dataset.name}: skipped {len(dataset.skipped)} inputs: {'; '.join(parts)}. They are "
        "listed in the run (`transferkit runs show RUN`); --strict makes them an error."
    )


def load_dataset(
    spec: str,
    *,
    strict: bool = False,
    path_column: str | None = None,
    label_column: str | None = None,
    allow_outside_root: bool = False,
    validate: bool = True,
    text_column: str | None = None,
) -> Dataset:
    """Read, check and fingerprint the dataset named by ``spec`` (see the module docstring).

    ``strict`` turns skippable problems (corrupt images, missing files) into errors.
    ``path_column`` / ``label_column`` name manifest columns. ``allow_outside_root`` lets a
    manifest point outside its own folder. ``text_column`` names the text column of a text
    table (default: text/sentence/content/...; a table with such a column and no path column
    is read as text). ``validate`` (default) refuses labelled data with a
    single class or a class with a single example; turn it off only to predict on such data.
    """
    spec = str(spec).strip()
    try:
        if not spec:
            raise _missing(spec)
        dataset = _read(
            spec,
            strict=strict,
            path_column=path_column,
            label_column=label_column,
            allow_outside_root=allow_outside_root,
            text_column=text_column,
        )
        if dataset.skipped:
            progress.info(_one_paragraph(skipped_summary(dataset)))
        if validate and dataset.labels is not None:
            check_labels(dataset.labels, dataset.classes, f"The dataset {spec!r}")
    except UserError as e:
        e.args = (_one_paragraph(str(e)),)
        raise
    if not dataset.fingerprint:
        dataset.fingerprint = compute_fingerprint(dataset)
    return dataset
