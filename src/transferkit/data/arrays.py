"""Array data: ``.npz`` files and MNIST-style idx files, read with numpy (no pickle).

Also the shared conversions every array source goes through: images to contiguous uint8 and
labels (integers or strings) to int64 indices into a list of class names.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from transferkit.data.base import ArrayDataset, one_line
from transferkit.errors import UserError

MAX_CLASSES = 1_000_000  # integer labels beyond this are ids, not class indices


def sorted_labels(names: set[str]) -> list[str]:
    """Class names sorted numerically when all are integers ('2' before '10'), else as text."""
    if names and all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def as_images(x: np.ndarray, src: str) -> np.ndarray:
    """Image arrays as contiguous uint8 (N, H, W) or (N, H, W, 3); floats in 0..1 are scaled."""
    x = np.asarray(x)
    if x.ndim == 2 and int(np.sqrt(x.shape[1])) ** 2 == x.shape[1]:  # flattened square images
        side = int(np.sqrt(x.shape[1]))
        x = x.reshape(len(x), side, side)
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)  # channels first -> channels last
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4):
        x = x[..., 0] if x.shape[-1] == 1 else x[..., :3]
    if (
        x.ndim not in (3, 4)
        or (x.ndim == 4 and x.shape[-1] != 3)
        or 0 in x.shape
        or x.dtype.kind not in "biuf"
    ):
        raise UserError(
            f"The images in {src} have shape {x.shape} and dtype {x.dtype}; expected numbers "
            "shaped (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1, 3 or 4 (grey, RGB, "
            "RGBA) and N, H, W > 0."
        )
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    x = x.astype(np.float64) * (255.0 if x.dtype.kind == "b" else 1.0)
    if not np.isfinite(x).all():
        raise UserError(f"The images in {src} contain NaN or infinite values; clean them first.")
    if x.dtype.kind == "f" and x.max() <= 1.0 and x.min() >= 0.0:
        x = x * 255.0
    if x.min() < 0 or x.max() > 255:
        raise UserError(
            f"The pixel values in {src} range from {x.min():g} to {x.max():g}; expected 0..255 "
            "or floats in 0..1. Rescale the images (undo any normalisation) and save them again."
        )
    return np.ascontiguousarray(np.rint(x).astype(np.uint8))


def _strings(a: np.ndarray, what: str, src: str) -> list[str]:
    """The values of ``a`` as str; bytes (dtype 'S', as older tools save text) read as UTF-8."""
    values = np.asarray(a).ravel().tolist()
    if np.asarray(a).dtype.kind != "S":
        return [str(v) for v in values]
    try:
        return [v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        raise UserError(
            f"The {what} in {src} are bytes that are not UTF-8 text; save them as "
            "str (e.g. y.astype(str)) or as class indices 0..K-1."
        ) from None


def encode_labels(
    y: np.ndarray, classes: np.ndarray | None, n: int, src: str
) -> tuple[np.ndarray, list[str]]:
    """Integer or string labels as int64 indices into a list of class names."""
    y = np.asarray(y)
    y = y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y
    if y.shape != (n,):
        raise UserError(
            f"The labels in {src} have shape {y.shape} but there are {n} images; expected one "
            "label per image, shape (N,). One-hot labels: save y.argmax(1) instead."
        )
    names = None if classes is None else _strings(classes, "class names", src)
    if names is not None and len(set(names)) < len(names):
        twice = sorted({c for c in names if names.count(c) > 1})
        raise UserError(
            f"The classes array in {src} names {', '.join(map(repr, twice[:5]))} "
            "more than once; give each class one unique name."
        )
    if y.dtype.kind in "US":
        values = _strings(y, "labels", src)
        names = names or sorted_labels(set(values))
        index = {c: i for i, c in enumerate(names)}
        unknown = sorted(set(values) - set(index))
        if unknown:
            raise UserError(f"Labels {unknown[:5]} in {src} are not in its classes array {names}.")
        return np.asarray([index[v] for v in values], dtype=np.int64), names
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.array_equal(y, np.round(y))):
        raise UserError(f"The labels in {src} must be integers or strings, got dtype {y.dtype}.")
    top = float(y.max()) + 1 if len(y) else 0  # before the cast: huge values would wrap
    if top > MAX_CLASSES and (names is None or top > len(names)):
        raise UserError(
            f"The labels in {src} go up to {y.max()}, which would make {top:.0f} classes; "
            f"expected class indices 0..K-1 with K at most {MAX_CLASSES:,}. Map the values to "
            "0..K-1 (e.g. np.unique(y, return_inverse=True)), or save them as strings."
        )
    labels = y.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise UserError(f"The labels in {src} contain negative values; use 0..K-1 class indices.")
    top = int(labels.max()) + 1 if len(labels) else 0
    if names is not None and top > len(names):
        raise UserError(
            f"The labels in {src} go up to {top - 1} but only {len(names)} class names are given."
        )
    return labels, names if names is not None else [str(i) for i in range(top)]


IMAGE_KEYS = ("x", "X", "images")  # X / y: scikit-learn's naming
LABEL_KEYS = ("y", "Y", "labels")


def read_npz(path: Path) -> ArrayDataset:
    """Arrays ``x``/``X``/``images`` and ``y``/``Y``/``labels`` (optional ``classes``), no pickle."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        is_zip = head in (b"PK\x03\x04", b"PK\x05\x06") and zipfile.is_zipfile(path)
    except OSError as e:
        raise UserError(
            f"Cannot read {path} ({e.strerror}). Check the path and permissions."
        ) from None
    if not is_zip:  # numpy would read a .npy (or pickle) under any name
        raise UserError(
            f"{path} is not a readable .npz file (not a zip archive). Save it with numpy.savez."
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise UserError(
                f"{path} is not a readable .npz file ({one_line(e)}). Save it again "
                "with numpy.savez."
            ) from None
        raise UserError(
            f"{path} holds object arrays ({one_line(e)}); they need pickle, which transferkit "
            "never loads. Save plain arrays, e.g. np.savez(path, x=images.astype(np.uint8), "
            "y=labels)."
        ) from None
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
    ) as e:  # truncated, corrupt, encrypted or oddly compressed archives
        raise UserError(
            f"{path} is not a readable .npz file ({one_line(e) or type(e).__name__}). Save it "
            "again with numpy.savez."
        ) from None
    xkey = next((k for k in IMAGE_KEYS if k in arrays), None)
    ykey = next((k for k in LABEL_KEYS if k in arrays), None)
    others = set(arrays) - {*IMAGE_KEYS, "classes"}
    if xkey is None or (ykey is None and others):
        raise UserError(
            f"{path} has arrays {sorted(arrays)}, but needs images named "
            f"{' / '.join(map(repr, IMAGE_KEYS))} and labels named "
            f"{' / '.join(map(repr, LABEL_KEYS))} (optional: 'classes'). Save it again with "
            "those names, e.g. np.savez(path, x=images, y=labels)."
        )
    images = as_images(arrays[xkey], str(path))
    if ykey is None:  # images only: unlabelled data, as for a folder without class folders
        return ArrayDataset(images, None, [], name=path.stem)
    labels, classes = encode_labels(arrays[ykey], arrays.get("classes"), len(images), str(path))
    return ArrayDataset(images, labels, classes, name=path.stem)


# ---------------------------------------------------------------------------------- idx
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_IMAGES = re.compile(r"^(.*?)[-_.]?images[-_.]idx3[-_.]ubyte(\.gz)?$", re.IGNORECASE)
_IDX_LABELS = re.compile(r"^(.*?)[-_.]?labels[-_.]idx1[-_.]ubyte(\.gz)?$", re.IGNORECASE)


def read_idx(path: Path | str) -> np.ndarray:
    """Parse one idx file (optionally gzipped) with numpy, checking its magic number and size."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise UserError(f"The idx file {path} does not exist. Check the path.") from None
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(
            f"{path} cannot be read or un-gzipped ({one_line(e)}); copy it again."
        ) from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise UserError(
            f"{path} is not an idx file (magic number {raw[:4].hex() or 'missing'}); expected "
            "MNIST-style data such as train-images-idx3-ubyte[.gz]."
        )
    ndim, header = raw[3], 4 + 4 * raw[3]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    dims = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else None
    # math.prod: exact, where np.prod of large dims overflows int64
    if dims is None or len(raw) - header != math.prod(dims) * dtype.itemsize:
        raise UserError(
            f"{path} is truncated or corrupt: its header promises shape {dims} of {dtype} but "
            f"the file holds {max(len(raw) - header, 0)} bytes of data. Copy the file again."
        )
    try:
        arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    except ValueError:  # a zero dimension beside dimensions too large for any array
        raise UserError(
            f"{path} is corrupt: its header promises shape {dims}, which no array "
            "can have. Copy the file again."
        ) from None
    return arr.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def read_idx_pair(
    images_path: Path | str, labels_path: Path | str
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, H, W) and int64 labels from an idx images / labels pair."""
    images = as_images(read_idx(images_path), str(images_path))
    labels, _ = encode_labels(
        read_idx(labels_path), None, len(images), f"{images_path} / {labels_path}"
    )
    return images, labels


def idx_pairs(root: Path) -> dict[str, tuple[Path, Path]]:
    """``prefix -> (images, labels)`` for the idx files in ``root`` (plain files preferred)."""
    found: dict[str, dict[str, Path]] = {"images": {}, "labels": {}}
    for name in sorted(os.listdir(root), key=lambda n: n.endswith(".gz")):
        for kind, pattern in (("images", _IDX_IMAGES), ("labels", _IDX_LABELS)):
            m = pattern.match(name)
            if m:
                found[kind].setdefault(m.group(1).lower(), root / name)
    lonely = sorted(set(found["images"]) ^ set(found["labels"]))
    if lonely:
        raise UserError(
            f"The idx files in {root} are not in pairs: {lonely[0]!r} has images but no labels "
            "file or the reverse. Each *images-idx3-ubyte[.gz] needs a matching "
            "*labels-idx1-ubyte[.gz] with the same prefix."
        )
    return {p: (found["images"][p], found["labels"][p]) for p in found["images"]}


def read_idx_folder(root: Path, pairs: dict[str, tuple[Path, Path]] | None = None) -> ArrayDataset:
    """All idx pairs in ``root``; ``train-*`` / ``t10k-*`` / ``test-*`` set ``predefined``."""
    pairs = pairs if pairs is not None else idx_pairs(root)
    split_of = {"train": "train", "t10k": "test", "test": "test"}
    order = sorted(pairs, key=lambda p: ({"train": 0, "test": 1}.get(split_of.get(p, ""), 2), p))
    parts = [read_idx_pair(*pairs[p]) for p in order]
    shapes = {im.shape[1:] for im, _ in parts}
    if len(shapes) > 1:
        raise UserError(f"The idx files in {root} hold images of different sizes {sorted(shapes)}.")
    images = np.concatenate([im for im, _ in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([lb for _, lb in parts])
    predefined = None
    if len(order) > 1 and all(p in split_of for p in order) and "test" in map(split_of.get, order):
        predefined = np.concatenate(
            [np.full(len(lb), split_of[p]) for p, (_, lb) in zip(order, parts, strict=True)]
        )
    classes = [str(i) for i in range(int(labels.max()) + 1)]
    return ArrayDataset(images, labels, classes, name=root.name, predefined=predefined)
