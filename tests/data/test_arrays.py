"""npz and idx readers: conversions to uint8, labels, predefined splits, malformed files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from transferkit.data import ArrayDataset, load_dataset, read_idx
from transferkit.errors import UserError

_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def write_idx(path, arr, dtype=np.uint8, gz=None):
    """Our own idx writer: magic (0, 0, type code, ndim), big-endian dims, big-endian data."""
    arr = np.asarray(arr).astype(
        np.dtype(dtype).newbyteorder(">") if np.dtype(dtype).itemsize > 1 else dtype
    )
    raw = (
        bytes([0, 0, _CODES[arr.dtype], arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.tobytes()
    )
    if gz if gz is not None else str(path).endswith(".gz"):
        raw = gzip.compress(raw, compresslevel=1)
    path.write_bytes(raw)
    return path


def data(n=12, k=3, seed=0, shape=(5, 4)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n) % k


def test_npz_basic_roundtrip(tmp_path):
    x, y = data()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert isinstance(ds, ArrayDataset) and ds.classes == ["0", "1", "2"] and ds.name == "d"
    assert np.array_equal(ds.images, x) and ds.labels.dtype == np.int64 and ds.fingerprint


@pytest.mark.parametrize(
    "make, expect_shape",
    [
        (lambda x: x.astype(np.float32) / 255.0, (5, 4)),
        (lambda x: x.astype(np.float64), (5, 4)),
        (lambda x: np.repeat(x[:, None], 3, axis=1), (5, 4, 3)),  # channels first
        (lambda x: x.reshape(len(x), -1)[:, :16].copy(), (4, 4)),  # flattened squares
        (lambda x: x[..., None], (5, 4)),
    ],
    ids=["float01", "float255", "chw", "flat", "hw1"],
)
def test_npz_image_conversions(tmp_path, make, expect_shape):
    x, y = data()
    np.savez(tmp_path / "d.npz", images=make(x), labels=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == expect_shape
    if expect_shape == (5, 4):
        assert np.array_equal(ds.images, x)


def test_npz_string_labels_and_classes(tmp_path):
    x, _ = data(n=6)
    np.savez(tmp_path / "s.npz", x=x, y=np.array(["dog", "cat"] * 3))
    assert load_dataset(str(tmp_path / "s.npz")).classes == ["cat", "dog"]
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(6) % 2, classes=np.array(["no", "yes"]))
    ds = load_dataset(str(tmp_path / "c.npz"))
    assert ds.classes == ["no", "yes"] and ds.labels.tolist() == [0, 1] * 3


def test_npz_images_only_is_unlabelled(tmp_path):
    np.savez(tmp_path / "u.npz", x=data()[0])
    ds = load_dataset(str(tmp_path / "u.npz"))
    assert ds.labels is None and ds.classes == []


@pytest.mark.parametrize(
    "arrays, words",
    [
        (dict(pixels=np.zeros((4, 3, 3)), y=np.arange(4) % 2), "'pixels'"),
        (dict(x=np.zeros((4, 3, 3)), target=np.arange(4) % 2), "'target'"),
        (dict(x=np.zeros((4, 3, 3)), y=np.arange(3) % 2), "one label per image"),
        (dict(x=np.zeros((4, 3, 3)), y=np.array([0, 1, -1, 0])), "negative"),
        (dict(x=np.full((4, 3, 3), 300.0), y=np.arange(4) % 2), "0..255"),
        (dict(x=np.full((4, 3, 3), np.nan), y=np.arange(4) % 2), "NaN"),
        (dict(x=np.zeros((4, 3, 3)), y=np.array([0.5, 1, 0, 1])), "integers or strings"),
        (
            dict(x=np.zeros((4, 3, 3)), y=np.arange(4) % 3, classes=np.array(["a", "b"])),
            "class names",
        ),
        (dict(x=np.zeros((4, 3, 3)), y=np.eye(4)[np.arange(4) % 2][:, :2]), "argmax"),
        (dict(x=np.array([None] * 4), y=np.arange(4) % 2), "pickle"),
    ],
    ids=[
        "no-images",
        "no-labels",
        "length",
        "negative",
        "range",
        "nan",
        "float-labels",
        "classes-short",
        "one-hot",
        "object",
    ],
)
def test_npz_errors(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError) as e:
        load_dataset(str(tmp_path / "bad.npz"))
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("xkey, ykey", [("X", "y"), ("x", "Y"), ("images", "labels")])
def test_npz_accepts_scikit_learn_names(tmp_path, xkey, ykey):
    x, y = data()
    np.savez(tmp_path / "d.npz", **{xkey: x, ykey: y})
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert np.array_equal(ds.images, x) and ds.labels.tolist() == y.tolist()


def test_npz_not_a_zip(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "x.npz"))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
def test_idx_parser_roundtrip(tmp_path, dtype):
    arr = np.arange(24).reshape(2, 3, 4) % 100
    out = read_idx(write_idx(tmp_path / "a-idx3-ubyte.gz", arr, dtype))
    assert out.shape == (2, 3, 4) and np.array_equal(out, arr) and out.dtype.isnative


def test_idx_malformed(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x08\x03\x00\x00rest")
    with pytest.raises(UserError, match="magic number"):
        read_idx(tmp_path / "bad")
    raw = write_idx(tmp_path / "t", np.zeros((3, 4, 4))).read_bytes()
    (tmp_path / "t").write_bytes(raw[:-5])
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "t")
    (tmp_path / "g.gz").write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(UserError, match="un-gzipped"):
        read_idx(tmp_path / "g.gz")


def mnist_folder(root, n_train=20, n_test=10, gz=True):
    root.mkdir(exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        x, y = data(n, 4, seed, (28, 28))
        write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", y)
    return root


def test_idx_folder_predefined_split(tmp_path):
    ds = load_dataset(str(mnist_folder(tmp_path / "m")))
    assert len(ds) == 30 and ds.images.shape == (30, 28, 28) and ds.classes == ["0", "1", "2", "3"]
    assert ds.predefined.tolist() == ["train"] * 20 + ["test"] * 10
    assert np.array_equal(ds.images[20:], data(10, 4, 2, (28, 28))[0])


def test_idx_spec_and_errors(tmp_path):
    root = mnist_folder(tmp_path / "m", gz=False)
    ds = load_dataset(f"idx:{root}/t10k-images-idx3-ubyte,{root}/t10k-labels-idx1-ubyte")
    assert len(ds) == 10 and ds.predefined is None
    with pytest.raises(UserError, match="IMAGES_PATH,LABELS_PATH"):
        load_dataset(f"idx:{root}/t10k-images-idx3-ubyte")
    with pytest.raises(UserError, match="single idx file"):
        load_dataset(f"{root}/t10k-images-idx3-ubyte")
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="not in pairs"):
        load_dataset(str(root))
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(f"idx:{root}/t10k-images-idx3-ubyte,{root}/t10k-labels-idx1-ubyte")
