"""Property-based tests of every data reader, through ``load_dataset``.

Any input - generated folders, manifests, text tables, .npz and idx files, valid or corrupt -
either loads into a Dataset whose invariants hold, or raises a UserError whose message is one
paragraph naming the file; never any other exception. Inputs the properties found are kept as
``@example``s. ``pytest --hypothesis-show-statistics`` shows which readers and messages the
generators reach.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from transferkit.data import load_dataset, skipped_summary
from transferkit.data.fingerprint import compute_fingerprint
from transferkit.data.splits import split_name
from transferkit.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore")  # PIL and numpy warn about crafted files
PROPERTY = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
OPTIONS = st.fixed_dictionaries({"strict": st.booleans(), "validate": st.booleans()})
OFF = {"strict": False, "validate": False}  # @example: inputs the properties found, with
NONE = ("none", 0, b"")  # what the old code did in a comment
# (how, where, noise): the file as written, cut at `where`, a byte flipped there, or noise
MANGLE = st.tuples(
    st.sampled_from(["none"] * 6 + ["cut", "flip", "noise"]),
    st.integers(0, 4000),
    st.binary(max_size=64),
)


def mangle(raw: bytes, how: str = "none", where: int = 0, noise: bytes = b"") -> bytes:
    k = where % max(len(raw), 1)
    if how == "flip" and raw:
        return raw[:k] + bytes([raw[k] ^ 0xFF]) + raw[k + 1 :]
    return {"cut": raw[:k], "noise": noise}.get(how, raw)


def put(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError:  # a file where a folder is, or the reverse: drop the entry
        pass


def check(spec: str, names: str, **options) -> bool:
    """Load ``spec``: a sound Dataset (True), or a one-paragraph UserError naming ``names``."""
    try:
        ds = load_dataset(spec, **options)
    except UserError as e:
        tb = e.__traceback__
        while tb.tb_next:
            tb = tb.tb_next
        event(f"UserError from {tb.tb_frame.f_code.co_name}:{tb.tb_lineno}")
        msg = str(e)
        assert len(msg.splitlines()) == 1 and msg.strip() and names in msg, msg
        msg.encode("utf-8")  # printable: no lone surrogates from undecodable file names
        return False
    n, labels = len(ds), ds.labels
    event(
        f"loaded {type(ds).__name__}, labels={labels is not None}, "
        f"splits={ds.predefined is not None}"
    )
    assert n > 0 and len(set(ds.classes)) == len(ds.classes)
    if labels is not None:
        assert labels.dtype == np.int64 and labels.shape == (n,)
        assert labels.min() >= 0 and labels.max() < len(ds.classes)
        counts = np.bincount(labels)
        assert not options.get("validate") or (sum(counts > 0) >= 2 and 1 not in counts)
    if ds.predefined is not None:
        assert len(ds.predefined) == n and set(ds.predefined.tolist()) <= {"train", "val", "test"}
    for i in range(n):
        x = ds.load(i)
        assert isinstance(ds.item_name(i), str)
        if ds.modality == "text":
            assert isinstance(x, str) and x.strip()
        else:
            assert isinstance(x, np.ndarray) and x.dtype == np.uint8, (x.dtype, i)
            assert min(x.shape) > 0 and (x.ndim == 2 or x.shape[2:] == (3,)), x.shape
    assert ds.fingerprint and ds.fingerprint == compute_fingerprint(ds)
    assert all(s.item and s.reason for s in ds.skipped) and ds.summary()
    assert not ds.skipped or skipped_summary(ds)
    assert not options.get("strict") or not [
        s for s in ds.skipped if s.reason.startswith(("unreadable", "missing", "empty"))
    ]
    return True


# ---------------------------------------------------------------------------------- images
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "I", "I;16", "F", "CMYK", "YCbCr", "LAB", "HSV")
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")


@functools.cache
def encode(mode: str, fmt: str, w: int, h: int, seed: int) -> bytes:
    img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8))
    try:
        img = img.convert(mode)
    except ValueError:
        img = Image.new(mode, (w, h))
    buf = io.BytesIO()
    try:
        img.save(buf, fmt)
    except (OSError, ValueError, KeyError):  # not every format saves every mode
        img.convert("RGB").save(buf := io.BytesIO(), fmt)
    return buf.getvalue()


IMAGE = st.builds(
    lambda raw, how: mangle(raw, *how),
    st.builds(
        encode,
        st.sampled_from(MODES),
        st.sampled_from(FORMATS),
        st.integers(1, 5),
        st.integers(1, 5),
        st.integers(0, 3),
    ),
    MANGLE,
)
GOOD = encode("L", "PNG", 4, 3, 0)
SPLITS = ["train", "val", "Valid", "TEST", "validation"]
ODD = [
    "cat",
    "dog",
    "ﬁsh",
    "日本",
    "a b",
    "-1",
    "10",
    "2",
    ".hidden",
    "__MACOSX",
    "caf\udce9",
    "e\u0301",
    "new\nline",
    "tab\t",
    "😀",
    " lead",
    "x.png",
]
NAME = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
EXTS = [".png", ".jpg", ".JPEG", ".gif", ".tif", ".webp", ".bmp", ".txt", "", ".csv"]


@st.composite
def tree(draw) -> dict:
    """Files, empty folders and symlinks over a small pool of odd and split folder names;
    often on top of a valid layout (two classes, maybe under split folders, or flat)."""
    pool = draw(
        st.lists(
            st.one_of(st.sampled_from(SPLITS + ODD), NAME), min_size=2, max_size=5, unique=True
        )
    )
    part = st.lists(st.sampled_from(pool), max_size=3)
    base = draw(st.sampled_from(["none", "flat", "classes", "classes", "splits", "splits"]))
    names = [n for n in pool if not split_name(n)][:2]
    classes = {"none": [], "flat": [""]}.get(base, names if len(names) == 2 else ["cat", "dog"])
    files = [
        (tuple(p for p in (s, c) if p), f"{s}{k}", ".png", GOOD)
        for s in (["train", "val"] if base == "splits" else [""])
        for c in classes
        for k in range(2)
    ]
    in_split = st.builds(lambda s, p: [s, *p], st.sampled_from(SPLITS), part)
    where = {"flat": st.just(()), "splits": st.one_of(in_split, in_split, part)}.get(base, part)
    noise = st.tuples(
        where, st.sampled_from(["0", "1", "a", ".x", "日"]), st.sampled_from(EXTS), IMAGE
    )
    return {
        "files": files + draw(st.lists(noise, max_size=6)),
        "dirs": draw(st.lists(part, max_size=1)),
        "links": draw(
            st.lists(
                st.tuples(
                    part.filter(bool),
                    st.sampled_from(["file", "dir", "root", "dangling", "outside"]),
                ),
                max_size=2,
            )
        ),
    }


def two_classes(name: str, data: bytes) -> dict:
    return {
        "files": [((name + c,), str(k), ".png", data) for c in ("", "2") for k in range(2)],
        "dirs": [],
        "links": [],
    }


@PROPERTY
@given(tree(), OPTIONS)
@example(two_classes("caf\udce9", GOOD), OFF)  # UnicodeEncodeError in the fingerprint
@example(two_classes("new\nline", GOOD[:30]), {"strict": True, "validate": False})  # two lines
@example(two_classes("nel\x85", b"junk"), OFF)  # two lines
def test_image_folders(layout, options):
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = Path(tmp, "data"), Path(tmp, "outside")
        root.mkdir()
        put(outside / "o.png", GOOD)
        for parts, stem, ext, data in layout["files"]:
            put(root.joinpath(*parts, stem + ext), data)
        for parts in layout["dirs"]:
            os.makedirs(root.joinpath(*parts), exist_ok=True)
        first = min((p for p in root.rglob("*") if p.is_file()), default=root / "nowhere")
        for parts, kind in layout["links"]:
            target = {
                "file": first,
                "dir": first.parent,
                "root": root,
                "dangling": root / "nowhere.png",
                "outside": outside,
            }[kind]
            try:
                os.symlink(target, root.joinpath(*parts))
            except OSError:
                pass
        check(str(root), str(root), **options)


# ------------------------------------------------------------------- manifests and tables
COLUMNS = [
    "path",
    "image",
    "file",
    "filename",
    "label",
    "class",
    "target",
    "text",
    "sentence",
    "split",
    " Path ",
    "LABEL",
    "",
]
CELL = st.one_of(
    st.sampled_from(
        [
            "img/0.png",
            "img/1.jpg",
            "img/2.gif",
            "img/../img/0.png",
            "../outside.png",
            "/etc/hostname",
            "missing.png",
            "~/x.png",
            "",
            " ",
            "0",
            "1",
            "-1",
            "nan",
            "1e309",
            "train",
            "test",
            "val",
            "cat",
            "dog",
            "a,b",
            'q"uote',
            "new\nline",
            "\ufeff",
        ]
    ),
    st.text(max_size=12),
)
JSONL_LINES = st.lists(
    st.sampled_from(["[1, 2]", "null", "{bad", '{"path": null}', '{"label": {}}', " "]), max_size=1
)


@st.composite
def table(draw) -> tuple[list[str], list[list[str]]]:
    """A header and ragged rows of odd cells; often with usable path/text and label columns."""
    kind = draw(st.sampled_from(["noise", "manifest", "text"]))
    header = draw(st.lists(st.one_of(st.sampled_from(COLUMNS), NAME), max_size=4))
    rows = draw(
        st.lists(st.lists(CELL, max_size=len(header) + 1), max_size=6 if kind == "noise" else 2)
    )
    if kind != "noise":
        key = draw(
            st.sampled_from(
                ["path", "image", "file", " Path "]
                if kind == "manifest"
                else ["text", "sentence", "review"]
            )
        )
        label = draw(st.sampled_from(["label", "class"]))
        header = draw(st.permutations([key, label, *header[:1]]))
        for k in range(4):
            cells = {
                key: f"img/{k % 2}.png" if kind == "manifest" else f"text {k} é",
                label: ["cat", "dog"][k % 2],
            }
            rows.append([cells.get(c, "x") for c in header])
    return header, rows


@st.composite
def table_file(draw) -> tuple[str, bytes, dict]:
    """(suffix, content, load_dataset keywords): a table as CSV/TSV/JSONL/TXT in some encoding,
    sometimes with a NUL, mangled, or with path/label/text columns named (that may not exist)."""
    suffix = draw(st.sampled_from([".csv", ".jsonl", ".tsv", ".txt"]))
    header, rows = draw(table())
    if suffix == ".jsonl":
        text = "\n".join([json.dumps(dict(zip(header, r))) for r in rows] + draw(JSONL_LINES))
    elif suffix == ".txt":
        text = "\n".join(" ".join(r) for r in rows)
    else:
        buf = io.StringIO()
        delimiter = "\t" if suffix == ".tsv" else draw(st.sampled_from([",", ";", "\t"]))
        csv.writer(buf, delimiter=delimiter).writerows([header, *rows] if header else rows)
        text = buf.getvalue().replace(",", "\0", draw(st.sampled_from([0] * 9 + [1])))
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    column = st.sampled_from([None] * 6 + ["nope", *header[:2]])
    kwargs = {f"{c}_column": draw(column) for c in ("path", "label", "text")}
    return (
        suffix,
        mangle(text.encode(encoding, "replace"), *draw(MANGLE)),
        {**kwargs, "allow_outside_root": draw(st.booleans())},
    )


@PROPERTY
@given(table_file(), IMAGE, OPTIONS)
@example((".csv", b'path,label\n"new\nline",cat\n', {}), GOOD, OFF)  # message over two lines
def test_manifests_and_text_tables(table_file, image, options):
    suffix, content, kwargs = table_file
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "data")
        put(root / "img" / "0.png", GOOD)
        put(root / "img" / "1.jpg", encode("RGB", "JPEG", 3, 3, 1))
        put(root / "img" / "2.gif", image)
        put(Path(tmp, "outside.png"), GOOD)
        put(root / f"table{suffix}", content)
        check(str(root / f"table{suffix}"), str(root / f"table{suffix}"), **kwargs, **options)


PARQUET = {
    "string": st.text(max_size=6),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "double": st.floats(),
    "bool": st.booleans(),
    "binary": st.binary(max_size=4),
    "bytes-as-string": st.binary(max_size=4),
}  # as some writers do: not always UTF-8
FIT = {"text": ["a b", "ünï", "x", " ", None], "label": ["x", "y", "x", "y", None, ""]}


@st.composite
def parquet_columns(draw) -> list[tuple[str, str, list]]:
    """(name, type, values) columns; often a text and a label column of few values."""
    n = draw(st.integers(0, 6))
    cols = draw(
        st.lists(st.tuples(st.sampled_from(COLUMNS), st.sampled_from(sorted(PARQUET))), max_size=3)
    )
    cols = [(c, t, draw(st.lists(st.none() | PARQUET[t], min_size=n, max_size=n))) for c, t in cols]
    return cols + [
        (c, "string", draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)))
        for c, v in FIT.items()
        if draw(st.booleans())
    ]


@PROPERTY
@given(parquet_columns(), MANGLE, OPTIONS)
@example(
    [
        ("text", "string", ["a b", "c"]),
        ("label", "string", ["x", "y"]),
        ("label", "string", ["p", "q"]),
    ],
    NONE,
    OFF,
)  # pyarrow's error text: seven lines
@example([("text", "bytes-as-string", [b"\xff"])], NONE, OFF)  # UnicodeDecodeError
def test_parquet(columns, how, options):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    arrays = [
        pa.array(v, pa.binary()).view(pa.string())
        if t == "bytes-as-string"
        else pa.array(v, pa.type_for_alias(t))
        for _, t, v in columns
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "texts.parquet")
        pq.write_table(pa.Table.from_arrays(arrays, names=[c for c, _, _ in columns]), path)
        path.write_bytes(mangle(path.read_bytes(), *how))
        check(str(path), str(path), **options)


# -------------------------------------------------------------------------------- arrays
N = 4
ARRAY = st.one_of(
    hnp.arrays(
        st.one_of(
            hnp.scalar_dtypes(),
            hnp.unicode_string_dtypes(max_len=3),
            hnp.byte_string_dtypes(max_len=3),
        ),
        hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3),
    ),
    st.just(np.array([1, "a", None], dtype=object)),
)
IMAGES = st.one_of(
    *(
        hnp.arrays(
            dtype,
            st.sampled_from(
                [
                    (N, 3, 3),
                    (N, 9),
                    (N, 1, 2, 2),
                    (N, 3, 2, 2),
                    (N, 2, 2, 3),
                    (N, 2, 2, 4),
                    (N, 2, 2, 2),
                    (N, 2, 2, 5),
                    (N, 0, 2),
                    (N, 0),
                ]
            ),
            elements=elements,
        )
        for dtype, elements in [
            (np.uint8, None),
            (np.bool_, None),
            (np.int16, st.integers(-2, 300)),
            (np.float32, st.floats(-0.5, 1.5, width=32)),
            (np.float64, st.floats(0, 255)),
        ]
    )
)
LABELS = st.one_of(
    hnp.arrays(
        np.int64,
        st.sampled_from([(N,), (N, 1), (N, 2), (N + 1,)]),
        elements=st.sampled_from([0, 0, 1, 1, 2, 2**40]),
    ),
    hnp.arrays(np.float64, (N,), elements=st.sampled_from([0.0, 1.0, 0.5, -1.0, np.nan, 1e300])),
    hnp.arrays(np.uint64, (N,), elements=st.sampled_from([0, 1, 2**64 - 1])),
    hnp.arrays("U3", (N,), elements=st.sampled_from(["cat", "dog", "", "é"])),
    hnp.arrays("S3", (N,), elements=st.sampled_from([b"cat", b"dog", b"\xff"])),
)
CLASSES = st.sampled_from(
    [["a", "b"], ["a", "a", "b"], ["cat", "dog", "x"], [], [1, 2], ["\ud800"]]
)


@st.composite
def npz_arrays(draw) -> dict:
    """Random arrays under known and other names; often images and labels that fit together."""
    fit = draw(st.booleans())
    arrays = draw(
        st.dictionaries(
            st.sampled_from(["x", "X", "images", "y", "Y", "labels", "classes", "z"]),
            ARRAY,
            max_size=3 - 2 * fit,
        )
    )
    if fit:
        arrays[draw(st.sampled_from(["x", "X", "images"]))] = draw(IMAGES)
        arrays[draw(st.sampled_from(["y", "Y", "labels"]))] = draw(LABELS)
        if draw(st.booleans()):
            arrays["classes"] = np.asarray(draw(CLASSES))
    return arrays


def npz_bytes(arrays: dict, compress: bool = False, after_npy: bool = False) -> bytes:
    """An .npz archive, optionally after a .npy: a zip file, but not an npz (np.load reads it as
    the .npy)."""
    buf = io.BytesIO()
    if after_npy:
        np.save(buf, np.zeros(3))
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


X, Y = np.zeros((4, 2, 2), np.uint8), np.arange(4) % 2


@PROPERTY
@given(npz_arrays(), st.booleans(), st.sampled_from([False] * 9 + [True]), MANGLE, OPTIONS)
@example(
    {"x": np.arange(64, dtype=np.uint8).reshape(4, 4, 4), "y": Y},
    True,
    False,
    ("flip", 55, b""),
    OFF,
)  # zlib.error
@example({"x": X}, False, True, NONE, OFF)  # TypeError: np.load gave the .npy
@example({"x": np.zeros((4, 0, 2)), "y": Y}, False, False, NONE, OFF)  # ValueError (max)
@example({"x": X[:, :0], "y": Y}, False, False, NONE, OFF)  # loaded 0-pixel images
@example({"x": np.zeros((4, 2, 2, 2), np.uint8), "y": Y}, False, False, NONE, OFF)  # 2 channels
@example({"x": X, "y": [0, 1, 1, 2**40]}, False, False, NONE, OFF)  # MemoryError
@example({"x": X, "y": np.array([b"a", b"\xff"] * 2)}, False, False, NONE, OFF)  # decode error
@example({"x": X, "y": Y, "classes": ["a", "a"]}, False, False, NONE, OFF)  # one name, 2 classes
def test_npz(arrays, compress, after_npy, how, options):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "arrays.npz")
        path.write_bytes(mangle(npz_bytes(arrays, compress, after_npy), *how))
        check(str(path), str(path), **options)


IDX = {
    0x08: ("u1", [0, 1, 2, 255]),
    0x09: ("i1", [0, 1, -1]),
    0x0B: (">i2", [0, 1, 300]),
    0x0C: (">i4", [0, 1, 2**31 - 1]),
    0x0D: (">f4", [0.0, 1.0, 0.5, np.nan]),
    0x0E: (">f8", [0.0, 1.0, 2.0]),
}


def idx_bytes(code: int, shape: list[int], body: bytes = b"", magic: bytes = b"\0\0") -> bytes:
    return magic + bytes([code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape) + body


@st.composite
def idx_file(draw, n: int, dims: tuple) -> bytes:
    """``n`` items of shape ``dims`` in idx format; often with a wrong magic number, type code,
    dims, size or gzip wrapper."""
    broken = draw(st.sampled_from(["none"] * 6 + ["magic", "code", "dims", "size", "huge"]))
    code = draw(st.sampled_from([0x08, 0x08, *IDX] if broken != "code" else [0, 0x0A, 0xFF]))
    dtype, values = IDX.get(code, ("u1", [0]))
    shape = {
        "dims": draw(st.lists(st.integers(0, 3), max_size=5)),
        "huge": [n, 0, *[2**32 - 1] * draw(st.integers(1, 3))],
    }.get(broken, [n, *dims])
    count = math.prod(shape) if broken != "huge" else 0
    body = np.asarray(
        draw(st.lists(st.sampled_from(values), min_size=count, max_size=count)), dtype=dtype
    ).tobytes()
    raw = idx_bytes(
        code,
        shape,
        body[:-1] if broken == "size" else body,
        b"\0\1" if broken == "magic" else b"\0\0",
    )
    wrap = draw(st.sampled_from(["plain"] * 3 + ["gzip"] * 2 + ["fake", "truncated-gzip"]))
    return {"plain": raw, "gzip": gzip.compress(raw), "fake": b"\x1f\x8b" + raw}.get(
        wrap, gzip.compress(raw)[:-5]
    )


@st.composite
def idx_pair(draw) -> tuple:
    n, dims = draw(st.integers(1, 6)), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (
        draw(st.sampled_from(["train", "t10k", "test", "odd", ""])),
        draw(idx_file(n, dims)),
        draw(idx_file(n, ())),
        draw(st.booleans()),
    )


@PROPERTY
@given(
    st.lists(idx_pair(), min_size=1, max_size=3, unique_by=lambda p: p[0]), st.booleans(), OPTIONS
)
@example([("", idx_bytes(9, [1, 0, 2**32 - 1]), idx_bytes(8, [1], b"\0"), False)], True, OFF)
@example(
    [("", idx_bytes(8, [1, 0, 2**32 - 1, 2**32 - 1]), idx_bytes(8, [1], b"\0"), False)], False, OFF
)  # ValueError: zero-size max; array is too big
def test_idx(pairs, as_spec, options):
    with tempfile.TemporaryDirectory() as tmp:
        root, names = Path(tmp, "mnist"), []
        for prefix, images, labels, gz in pairs:
            stem = f"{prefix}-" if prefix else ""
            names.append(
                [
                    root / f"{stem}{kind}-idx{d}-ubyte{'.gz' * gz}"
                    for kind, d in (("images", 3), ("labels", 1))
                ]
            )
            put(names[-1][0], images)
            put(names[-1][1], labels)
        check(f"idx:{names[0][0]}, {names[0][1]}" if as_spec else str(root), str(root), **options)
