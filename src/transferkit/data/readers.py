"""Readers that turn files on disk into a :class:`~transferkit.data.base.Dataset`.

Image folders (:mod:`transferkit.data.folders`) and CSV/JSONL manifests become a :class:`FileDataset` that keeps paths and
decodes lazily; ``.npz`` files and MNIST-style idx files become an
:class:`~transferkit.data.base.ArrayDataset`. Every image file is fully decoded once at scan time
so that corrupt or truncated files are found up front (skipped with a reason, or a
:class:`~transferkit.errors.UserError` under ``strict``), not in the middle of training.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from PIL import Image

from transferkit import progress
from transferkit.data.arrays import sorted_labels
from transferkit.data.base import Dataset, Skipped, one_line
from transferkit.errors import UserError
from transferkit.runtime.images import IMAGE_EXTENSIONS, to_array

__all__ = ["IMAGE_EXTENSIONS", "FileDataset", "check_images", "decode_image", "to_array"]

PATH_COLUMNS = ("path", "image", "file", "filename")
LABEL_COLUMNS = ("label", "class", "target")
PROGRESS_MIN = 200  # show a progress bar when checking at least this many images
_STRICT_HINT = "Run without --strict (strict=False) to skip such items and list them in the run."


# ----------------------------------------------------------------------------- decoding
# to_array (a decoded PIL image as the readers keep it) is the exported runtime's, so that an
# export reads an image file exactly as the run did.
def decode_image(path: str) -> np.ndarray:
    """Open, fully decode and convert one image file (see :func:`to_array`)."""
    with Image.open(path) as img:
        img.load()
        return to_array(img)


def check_images(paths: list[str], *, strict: bool, skipped: list[Skipped]) -> list[int]:
    """Indices of ``paths`` that decode; the others are recorded in ``skipped`` (or raise)."""
    good: list[int] = []
    if len(paths) >= PROGRESS_MIN:
        ctx = progress.bar("Checking images", len(paths))
    else:
        ctx = nullcontext(lambda *a, **k: None)
    with ctx as update:
        for k, p in enumerate(paths):
            try:
                with Image.open(p) as img:
                    img.load()
            except Exception as e:  # noqa: BLE001 - PIL raises many types for bad files
                if strict:
                    raise UserError(
                        f"The image {p} cannot be read ({type(e).__name__}: {one_line(e)}). "
                        f"Replace or delete the file. {_STRICT_HINT}"
                    ) from None
                skipped.append(Skipped(p, f"unreadable image ({type(e).__name__}: {one_line(e)})"))
            else:
                good.append(k)
            update()
    return good


class FileDataset(Dataset):
    """Images stored as files (a folder or a manifest); decoded on demand by ``load``."""

    def __init__(
        self,
        paths: list[str],
        labels: np.ndarray | None,
        classes: list[str],
        *,
        root: str,
        name: str,
        skipped: list[Skipped] | None = None,
        hflip_safe: bool = True,
    ) -> None:
        self.paths = list(paths)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.root = root
        self.name = name
        self.skipped = list(skipped or [])
        self.hflip_safe = hflip_safe
        self.predefined = None
        self.fingerprint = ""

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> np.ndarray:
        path = self.paths[i]
        try:
            return decode_image(path)
        except Exception as e:  # noqa: BLE001
            raise UserError(
                f"The image {path} could not be read ({type(e).__name__}: {one_line(e)}); it "
                "was readable when the dataset was loaded, so it was changed or removed since. "
                "Restore it, or load the dataset again."
            ) from None

    def item_name(self, i: int) -> str:
        return self.paths[i]


# -------------------------------------------------------------------------- manifests
def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Column names and ``(line number, row)`` pairs of a CSV or JSONL manifest."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            if path.suffix.lower() == ".jsonl":
                rows = [(n, json.loads(s)) for n, s in enumerate(f, 1) if s.strip()]
                if not all(isinstance(r, dict) for _, r in rows):
                    raise ValueError("every line must be a JSON object")
                cols = list(dict.fromkeys(k for _, r in rows for k in r))
                return cols, rows
            first = f.readline()
            delimiter = max(",;\t", key=first.count) if first else ","
            f.seek(0)
            reader = csv.DictReader(f, delimiter=delimiter)
            return list(reader.fieldnames or []), [(reader.line_num, r) for r in reader]
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path} is not UTF-8 text ({e.reason} at byte {e.start}). Save it as UTF-8 "
            "(in Excel: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8`) and try again."
        ) from None
    except (csv.Error, ValueError) as e:
        raise UserError(
            f"{path} is not a valid manifest ({one_line(e)}). Write one row per image with "
            "a path and a label column and a header line, e.g. `path,label`."
        ) from None
    except OSError as e:
        raise UserError(
            f"Cannot read {path} ({e.strerror}). Check the path and permissions."
        ) from None


def _pick_column(
    columns: list[str], wanted: str | None, defaults: tuple, role: str, src: Path
) -> str:
    by_name = {str(c).strip().lower(): c for c in columns if c is not None}
    found = [by_name[n] for n in ([wanted.strip().lower()] if wanted else defaults) if n in by_name]
    if found:
        same = [
            c
            for c in columns
            if c is not None and str(c).strip().lower() == str(found[0]).strip().lower()
        ]
        if len(same) > 1:
            raise UserError(
                f"{src} has {len(same)} columns named {', '.join(repr(c) for c in same)}, so "
                f"the {role} column is ambiguous. Rename or remove all but one of them."
            )
        return found[0]
    have = ", ".join(repr(c) for c in columns) or "none"
    what = f"{role} column {wanted!r}" if wanted else f"{role} column ({'/'.join(defaults)})"
    raise UserError(
        f"{src} has no {what}; its columns are: {have}. Rename the column, or name it with "
        f"{role}_column=... (--{role}-column NAME)."
    )


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def _manifest_entries(
    path: Path,
    rows: list,
    cols: tuple[str, str],
    root: str,
    strict: bool,
    allow_outside_root: bool,
    skipped: list[Skipped],
):
    """(files, their labels, paths outside the root, missing files) of a manifest's rows;
    rows with an empty path or label are skipped (or, ``strict``, refused)."""
    pcol, lcol = cols
    files: list[str] = []
    names: list[str] = []
    outside: list[str] = []
    missing: list[str] = []
    for line, row in rows:
        cell, label = ("" if row.get(c) is None else str(row[c]).strip() for c in (pcol, lcol))
        if not cell or not label:
            what = "empty path" if not cell else "empty label"
            if strict:
                raise UserError(
                    f"Line {line} of {path} has an {what} (column "
                    f"{pcol if not cell else lcol!r}). Fill it in or remove the "
                    f"row. {_STRICT_HINT}"
                )
            skipped.append(Skipped(f"{path.name}:{line}", what))
            continue
        full = os.path.normpath(os.path.join(root, os.path.expanduser(cell)))
        if not allow_outside_root and not _inside(full, root):
            outside.append(cell)
        elif not os.path.isfile(full):
            missing.append(full)
            skipped.append(Skipped(full, "missing file"))
        else:
            files.append(full)
            names.append(label)
    return files, names, outside, missing


def read_manifest(
    path: Path,
    *,
    strict: bool = False,
    path_column: str | None = None,
    label_column: str | None = None,
    allow_outside_root: bool = False,
) -> FileDataset:
    """A CSV (or JSONL) of image paths and labels; relative paths are against its folder."""
    columns, rows = _read_rows(path)
    if not rows:
        raise UserError(f"The manifest {path} has no rows. Add one row per image (path, label).")
    pcol = _pick_column(columns, path_column, PATH_COLUMNS, "path", path)
    lcol = _pick_column(columns, label_column, LABEL_COLUMNS, "label", path)
    root = os.path.abspath(path.parent)
    skipped: list[Skipped] = []
    files, names, outside, missing = _manifest_entries(
        path, rows, (pcol, lcol), root, strict, allow_outside_root, skipped
    )
    if outside:
        raise UserError(
            f"{len(outside)} path(s) in {path} point outside its folder {root}, e.g. "
            f"{outside[0]!r}. Manifest paths must stay inside the manifest's folder; move the "
            "manifest next to the images, or pass allow_outside_root=True "
            "(--allow-outside-root) if you trust this manifest."
        )
    if missing and (strict or not files):
        raise UserError(
            f"{len(missing)} of the {len(rows)} files listed in {path} do not exist, e.g. "
            f"{missing[0]}. Relative paths are resolved against the manifest's folder; fix the "
            f"paths or the files. {_STRICT_HINT if files else ''}".rstrip()
        )
    good = check_images(files, strict=strict, skipped=skipped)
    if not good:
        raise UserError(
            f"None of the images listed in {path} could be read; see e.g. {skipped[-1]}."
        )
    classes = sorted_labels({names[k] for k in good})
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[names[k]] for k in good], dtype=np.int64)
    return FileDataset(
        [files[k] for k in good], y, classes, root=root, name=path.stem, skipped=skipped
    )
