"""Image folders: one sub-folder per class, or the same under split folders.

Two layouts are read as labelled data:

* ``root/<class>/...`` - one sub-folder per class (sorted names);
* ``root/<split>/<class>/...`` - the layout most downloaded image datasets come in, with split
  folders named ``train``, ``val`` / ``valid`` / ``validation`` and ``test`` (any case). The
  splits become the dataset's own (``predefined``), as the built-ins' official test split:
  ``make_splits`` tests on ``test`` and validates on ``val``. A class that appears in one split
  only, or not in ``train``, is an error that names it.

A folder with images directly in it (and no sub-folders) is unlabelled data. Images in nested
folders below a class folder belong to that class. Every image is checked at scan time
(:func:`~transferkit.data.readers.check_images`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from transferkit.data.base import Skipped
from transferkit.data.readers import IMAGE_EXTENSIONS, FileDataset, check_images
from transferkit.data.splits import split_name
from transferkit.errors import UserError


def _visible(names: list[str]) -> list[str]:
    return sorted(n for n in names if not n.startswith("."))


def _subdirs(folder: Path) -> list[str]:
    return [n for n in _visible(os.listdir(folder)) if (folder / n).is_dir()]


def _collect(
    folder: Path, dirs: list[str], labels_of: list[int], skipped: list[Skipped]
) -> tuple[list[str], list[int]]:
    """Image paths under each of ``dirs`` (recursively) with that dir's label; files beside
    the dirs are skipped (or, with no dirs, are the unlabelled examples, label -1)."""
    entries = _visible(os.listdir(folder))
    walks = [(label, os.walk(folder / d)) for label, d in zip(labels_of, dirs, strict=True)]
    walks.append((-1, iter([(str(folder), [], [n for n in entries if n not in dirs])])))
    paths: list[str] = []
    labels: list[int] = []
    for label, walk in walks:
        for dirpath, subdirs, files in walk:
            subdirs[:] = _visible(subdirs)
            for f in _visible(files):
                p = os.path.join(dirpath, f)
                if Path(f).suffix.lower() not in IMAGE_EXTENSIONS:
                    skipped.append(Skipped(p, "not an image"))
                elif label < 0 and dirs:
                    skipped.append(Skipped(p, "not in a class folder"))
                else:
                    paths.append(p)
                    labels.append(label)
    return paths, labels


def _check_readable(
    root: Path, paths: list[str], strict: bool, skipped: list[Skipped]
) -> list[int]:
    if not paths:
        raise UserError(
            f"No images found in {root} ({len(skipped)} other files skipped). Images are files "
            f"ending in {', '.join(sorted(IMAGE_EXTENSIONS))}, in one sub-folder per class."
        )
    good = check_images(paths, strict=strict, skipped=skipped)
    if not good:
        raise UserError(
            f"None of the {len(paths)} image files in {root} could be read; e.g. "
            f"{skipped[-1].item}: {skipped[-1].reason}. Check that the files are valid images."
        )
    return good


def read_image_folder(root: Path, *, strict: bool = False) -> FileDataset:
    """A labelled (class folders, optionally under split folders) or unlabelled image folder."""
    entries = _visible(os.listdir(root))
    if not entries:
        raise UserError(
            f"The folder {root} is empty. Put one sub-folder per class in it, each holding that "
            f"class's images (e.g. {root}/cat/001.jpg), or images directly in it for unlabelled data."
        )
    dirs = [n for n in entries if (root / n).is_dir()]
    if dirs and all(split_name(d) for d in dirs):
        return _read_split_folders(root, dirs, strict=strict)
    skipped: list[Skipped] = []
    paths, labels = _collect(root, dirs, list(range(len(dirs))), skipped)
    good = _check_readable(root, paths, strict, skipped)
    paths = [paths[k] for k in good]
    if not dirs:
        return FileDataset(paths, None, [], root=str(root), name=root.name, skipped=skipped)
    y = np.asarray([labels[k] for k in good], dtype=np.int64)
    empty = [d for c, d in enumerate(dirs) if not np.any(y == c)]
    if empty:
        raise UserError(
            f"The class folder(s) {', '.join(repr(d) for d in empty)} in {root} contain no "
            "readable images. Add images to them, or remove them if they are not classes."
        )
    return FileDataset(paths, y, dirs, root=str(root), name=root.name, skipped=skipped)


def _read_split_folders(root: Path, dirs: list[str], *, strict: bool) -> FileDataset:
    """``root/<split>/<class>/...``: classes pooled over the splits, splits kept as
    ``predefined``."""
    by_split: dict[str, str] = {}
    for d in dirs:
        s = split_name(d)
        if s in by_split:
            raise UserError(
                f"{root} has two folders for the {s} split ({by_split[s]!r} and "
                f"{d!r}). Keep one, or merge them."
            )
        by_split[s] = d
    flat = [d for d in dirs if not _subdirs(root / d)]
    if flat:
        raise UserError(
            f"{root} is laid out in split folders ({', '.join(dirs)}), but "
            f"{', '.join(repr(d) for d in flat)} holds no class folders. Put one sub-folder per "
            f"class in every split (e.g. {root}/{dirs[0]}/cat/001.jpg); for unlabelled data, "
            f"pass one split folder itself (e.g. {root / flat[0]})."
        )
    classes = sorted({c for d in dirs for c in _subdirs(root / d)})
    index = {c: i for i, c in enumerate(classes)}
    skipped: list[Skipped] = []
    paths: list[str] = []
    labels: list[int] = []
    splits: list[str] = []
    for d in dirs:
        sub = _subdirs(root / d)
        p, y = _collect(root / d, sub, [index[c] for c in sub], skipped)
        paths += p
        labels += y
        splits += [split_name(d)] * len(p)
    skipped += [
        Skipped(str(root / n), "not in a split folder")
        for n in _visible(os.listdir(root))
        if n not in dirs
    ]
    good = _check_readable(root, paths, strict, skipped)
    y = np.asarray([labels[k] for k in good], dtype=np.int64)
    split = np.asarray([splits[k] for k in good])
    _check_split_classes(root, classes, y, split, by_split)
    ds = FileDataset(
        [paths[k] for k in good], y, classes, root=str(root), name=root.name, skipped=skipped
    )
    ds.predefined = split
    return ds


def _check_split_classes(
    root: Path, classes: list[str], y: np.ndarray, split: np.ndarray, folders: dict[str, str]
) -> None:
    """Every class must have readable images in ``train`` and in at least one other split."""
    for c, name in enumerate(classes):
        present = [s for s in folders if np.any((y == c) & (split == s))]
        if "train" in folders and "train" not in present or len(present) < min(2, len(folders)):
            where = ", ".join(folders[s] for s in present) or "no split"
            raise UserError(
                f"The class {name!r} in {root} has images in {where} only, but a class must be "
                f"in the training split and in at least one other of "
                f"{', '.join(folders.values())}. Add its images to the other splits, or remove "
                "the class from every split."
            )
