"""Fingerprints: stable across processes and copies, sensitive to any change of content."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from transferkit.data import ArrayDataset, builtin, compute_fingerprint, load_dataset
from transferkit.data.fingerprint import array_fingerprint

CODE = "import sys; from transferkit.data import load_dataset; print(load_dataset(sys.argv[1]).fingerprint)"


def other_process(spec: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CODE, spec], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (10, 4, 4), dtype=np.uint8), np.arange(10) % 2


def test_array_fingerprint_sensitivity():
    x, y = arrays()
    base = array_fingerprint(x, y, ["a", "b"])
    assert base == array_fingerprint(x.copy(), y.astype(np.int32), ["a", "b"])
    x2 = x.copy()
    x2[3, 1, 1] ^= 1
    y2 = y.copy()
    y2[0] = 1
    variants = [
        array_fingerprint(x2, y, ["a", "b"]),
        array_fingerprint(x, y2, ["a", "b"]),
        array_fingerprint(x, y, ["a", "c"]),
        array_fingerprint(x, None, ["a", "b"]),
        array_fingerprint(x.reshape(10, 2, 8), y, ["a", "b"]),
        array_fingerprint(x, y, ["a", "b"], np.array(["train"] * 8 + ["test"] * 2)),
    ]
    assert len({base, *variants}) == 7


def test_array_fingerprint_stable_across_processes(tmp_path):
    x, y = arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.fingerprint == compute_fingerprint(ArrayDataset(x, y, ["0", "1"]))
    assert other_process(str(tmp_path / "d.npz")) == ds.fingerprint


def make_folder(root):
    for c in ("a", "b"):
        for k in range(2):
            (root / c).mkdir(parents=True, exist_ok=True)
            Image.new("L", (4, 4), 60 * k).save(root / c / f"{k}.png")
    return root


def test_file_fingerprint_relative_stable_and_sensitive(tmp_path):
    root = make_folder(tmp_path / "one")
    fp = load_dataset(str(root)).fingerprint
    copy = tmp_path / "two"
    shutil.copytree(root, copy)  # copy2 keeps sizes and mtimes: same data, other place
    assert load_dataset(str(copy)).fingerprint == fp
    assert other_process(str(root)) == fp
    st = os.stat(copy / "a" / "0.png")
    os.utime(copy / "a" / "0.png", ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    touched = load_dataset(str(copy)).fingerprint
    (copy / "b").rename(copy / "c")
    renamed = load_dataset(str(copy)).fingerprint
    (copy / "c" / "1.png").rename(copy / "a" / "9.png")
    (copy / "c" / "0.png").rename(copy / "c" / "00.png")
    Image.new("L", (4, 4), 7).save(copy / "c" / "1.png")
    moved = load_dataset(str(copy)).fingerprint
    assert len({fp, touched, renamed, moved}) == 4


def test_manifest_label_change_changes_fingerprint(tmp_path):
    make_folder(tmp_path)
    rows = ["a/0.png,x", "a/1.png,x", "b/0.png,y", "b/1.png,y"]
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows))
    fp = load_dataset(str(tmp_path / "m.csv")).fingerprint
    (tmp_path / "m.csv").write_text(
        "path,label\n" + "\n".join(rows[:2] + ["b/0.png,z", "b/1.png,z"])
    )
    assert load_dataset(str(tmp_path / "m.csv")).fingerprint != fp


@pytest.mark.skipif(
    not any((d / "t10k-images-idx3-ubyte.gz").exists() for d in builtin.fashion_mnist_dirs()),
    reason="dataset-fashion-mnist not installed",
)
def test_fashion_mnist_fingerprint_is_fast():
    ds = builtin.fashion_mnist()
    t = time.perf_counter()
    fp = compute_fingerprint(ds)
    # A generous bound for a shared CPU: it takes ~0.05 s; a per-image path would take minutes.
    assert time.perf_counter() - t < 5.0 and len(fp) == 16
