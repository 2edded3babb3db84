"""The runtime in a fresh virtual environment that has no PyTorch: only numpy, Pillow,
onnxruntime (with what onnxruntime itself requires: flatbuffers, packaging, protobuf), tokenizers
and transferkit, both installed without their dependencies (tokenizers' one requirement,
huggingface-hub, serves ``from_pretrained`` downloads, which the runtime never does). An image
run and a text run are fitted and exported here; in that environment the exported folders
predict what this process predicts.

transferkit goes in as a wheel built from a copy of this checkout (pyproject.toml + src), the
package a user installs, not the checkout on a path; pip takes the wheels this machine has (its
configured index and find-links). A pip failure fails the test with pip's message."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from textkit import make_tiny_bert, topic_rows, write_csv

import transferkit
from transferkit.data import load_dataset
from transferkit.runtime import Predictor

pytestmark = pytest.mark.slow

WITH_DEPS = ["numpy", "pillow", "onnxruntime"]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import importlib.util, json, sys
present = [m for m in ("torch", "timm", "transformers", "torchvision") if importlib.util.find_spec(m)]
assert not present, f"importable in the runtime venv: {present}"
try:
    import torch  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("import torch worked")
import transferkit
from transferkit.runtime import Predictor
image, text = Predictor(sys.argv[1], threads=1), Predictor(sys.argv[2], threads=1)
files, texts = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(json.dumps({
    "image": image.predict_proba(files, batch_size=8).tolist(),
    "text": text.predict_proba(texts, batch_size=4).tolist(),
    "classes": [image.classes, text.classes],
    "transferkit": transferkit.__file__,
    "loaded": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


def _run(cmd: list[str], what: str, timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def _runtime_venv(tmp: Path) -> Path:
    """A venv with the runtime packages and a transferkit wheel, nothing else; its python."""
    pkg = tmp / "pkg"
    pkg.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, pkg / name)
    shutil.copytree(
        ROOT / "src" / "transferkit",
        pkg / "src" / "transferkit",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip = [sys.executable, "-m", "pip"]
    _run(
        [
            *pip,
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
            str(pkg),
        ],
        "building the transferkit wheel",
    )
    (wheel,) = (tmp / "dist").glob("transferkit-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "python -m venv")
    python = venv / "bin" / "python"
    _run(
        [*pip, "--python", str(python), "install", "-q", *WITH_DEPS],
        "pip install " + " ".join(WITH_DEPS),
    )
    _run(
        [*pip, "--python", str(python), "install", "-q", "--no-deps", "tokenizers", str(wheel)],
        "pip install --no-deps tokenizers transferkit",
    )
    return python


def _exports(tmp: Path) -> tuple[Path, Path, list[str], list[str]]:
    """An exported image run (tiny-cnn on digits) and text run (tiny BERT on topics), with
    inputs for each: digit PNGs and non-square colour JPEGs, texts (one past max_length)."""
    r = transferkit.fit(
        "builtin:digits",
        model="tiny-cnn",
        strategy="linear",
        labels_per_class=20,
        image_size=32,
        epochs=2,
        batch_size=32,
        seed=0,
    )
    transferkit.export(r.run_id, tmp / "image_export")
    bert = make_tiny_bert(tmp / "bert")
    table = write_csv(tmp / "topics.csv", topic_rows())
    t = transferkit.fit(
        str(table), model=f"hf:{bert}", strategy="linear", epochs=2, batch_size=8, seed=0
    )
    transferkit.export(t.run_id, tmp / "text_export")
    digits, fashion = load_dataset("builtin:digits"), load_dataset("builtin:fashion-mnist")
    files, inputs = [], tmp / "inputs"
    inputs.mkdir()
    for i in range(12):
        files.append(inputs / f"d{i:02d}.png")
        Image.fromarray(digits.load(i * 101)).save(files[-1])
    for k in range(3):
        rgb = np.stack([fashion.load(3 * k + c) for c in range(3)], axis=-1)
        files.append(inputs / f"f{k}.jpg")
        Image.fromarray(rgb).resize((120, 80 + 20 * k)).save(files[-1])
    texts = [row["text"] for row in topic_rows(3, seed=5)] + ["word " * 200]
    return tmp / "image_export", tmp / "text_export", [str(f) for f in sorted(files)], texts


def test_exported_models_predict_where_there_is_no_torch(tmp_path):
    python = _runtime_venv(tmp_path)
    image, text, files, texts = _exports(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = _run(
        [str(python), "-c", SCRIPT, str(image), str(text), json.dumps(files), json.dumps(texts)],
        "predicting in the runtime venv",
        env=env,
        cwd=tmp_path,
    )
    got = json.loads(proc.stdout)
    assert got["transferkit"].startswith(str(tmp_path / "venv"))  # the wheel, not the checkout
    assert not {"torch", "timm", "transformers"} & set(got["loaded"])
    image_p, text_p = Predictor(image), Predictor(text)
    assert got["classes"] == [image_p.classes, text_p.classes]
    np.testing.assert_allclose(got["image"], image_p.predict_proba(files), atol=1e-6)
    np.testing.assert_allclose(got["text"], text_p.predict_proba(texts), atol=1e-6)
    # the command of this environment: python -m transferkit.runtime DIR INPUTS
    cmd = [str(python), "-m", "transferkit.runtime", str(image), str(Path(files[0]).parent)]
    rows = list(
        csv.DictReader(
            io.StringIO(_run(cmd, "python -m transferkit.runtime", env=env, cwd=tmp_path).stdout)
        )
    )
    assert [r["item"] for r in rows] == files
    csv_probs = [[float(r[f"p_{c}"]) for c in image_p.classes] for r in rows]
    np.testing.assert_allclose(csv_probs, got["image"], atol=1e-6)
    # and what the runs themselves predict with PyTorch (float32 kernels: 1e-4, see
    # test_round_trip.py)
    run = json.loads((image / "config.json").read_text())["source"]["run"]
    rows = transferkit.predict(run, str(Path(files[0]).parent))
    assert [r["item"] for r in rows] == files
    by_run = [[r[f"p_{c}"] for c in image_p.classes] for r in rows]
    np.testing.assert_allclose(got["image"], by_run, atol=1e-4)
    run = json.loads((text / "config.json").read_text())["source"]["run"]
    table = tmp_path / "new.csv"
    table.write_text("text\n" + "\n".join(texts) + "\n")
    by_run = [[r[f"p_{c}"] for c in text_p.classes] for r in transferkit.predict(run, str(table))]
    np.testing.assert_allclose(got["text"], by_run, atol=1e-4)
