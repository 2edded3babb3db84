"""Fit a tiny run, export it with ``transferkit.export``, predict with the runtime: the same
items, classes and probabilities as ``transferkit.predict(run, ...)`` (PyTorch), for images
(digits as PNG files, and larger non-square colour files that take the resize-and-crop path)
and for texts (a tiny BERT on a topic table); ``predict --model`` and ``predict --run`` agree.

Tolerance 1e-4 on probabilities: onnxruntime's and PyTorch's float32 kernels differ by about
1e-6 (the export's parity.json measures it); the preprocessing is the same pixels (see
test_images.py), so anything larger would be a preprocessing or graph mistake."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image
from textkit import make_tiny_bert, topic_rows, write_csv

import transferkit
from transferkit.data import load_dataset
from transferkit.runtime import Predictor

TOL = 1e-4


def _probs(rows: list[dict], classes: list[str]) -> np.ndarray:
    return np.asarray([[float(r[f"p_{c}"]) for c in classes] for r in rows])


def _image_inputs(root: Path) -> Path:
    """Real images in one class-less folder: 40 digits (8 x 8 PNG) and 6 non-square colour
    pictures built from Fashion-MNIST (PNG and JPEG, larger than the small-image limit)."""
    digits = load_dataset("builtin:digits")
    fashion = load_dataset("builtin:fashion-mnist")
    root.mkdir()
    for i in range(40):
        Image.fromarray(digits.load(i * 37)).save(root / f"d{i:02d}.png")
    for k in range(6):
        rgb = np.stack([fashion.load(3 * k + c) for c in range(3)], axis=-1)
        img = Image.fromarray(rgb).resize((90 + 13 * k, 150 - 11 * k), Image.Resampling.LANCZOS)
        img.save(root / f"f{k}.{'jpg' if k % 2 else 'png'}")
    return root


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TRANSFERKIT_HOME", str(home))
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
    out = tmp_path_factory.mktemp("exp") / "digits"
    transferkit.export(r.run_id, out)
    yield r.run_id, out, home
    mp.undo()


def test_image_export_predicts_as_the_run(image_run, tmp_path, monkeypatch):
    run, folder, home = image_run
    monkeypatch.setenv("TRANSFERKIT_HOME", str(home))
    inputs = _image_inputs(tmp_path / "inputs")
    theirs = transferkit.predict(run, str(inputs))
    p = Predictor(folder)
    files = [r["item"] for r in theirs]
    ours = p.predict(files, batch_size=16)
    assert [r["item"] for r in ours] == files
    assert [r["prediction"] for r in ours] == [r["prediction"] for r in theirs]
    diff = np.abs(_probs(ours, p.classes) - _probs(theirs, p.classes)).max()
    assert diff < TOL, diff
    # the command line: --model and --run give the same items in the same order
    by_model = list(
        csv.DictReader(
            io.StringIO(run_cli("predict", "--model", str(folder), str(inputs), check=0).stdout)
        )
    )
    by_run = list(
        csv.DictReader(io.StringIO(run_cli("predict", "--run", run, str(inputs), check=0).stdout))
    )
    assert [r["item"] for r in by_model] == [r["item"] for r in by_run]
    assert np.abs(_probs(by_model, p.classes) - _probs(by_run, p.classes)).max() < TOL


def test_text_export_predicts_as_the_run(tmp_path, tmp_path_factory):
    bert = make_tiny_bert(tmp_path_factory.mktemp("bert"))
    table = write_csv(tmp_path / "topics.csv", topic_rows())
    r = transferkit.fit(
        str(table), model=f"hf:{bert}", strategy="finetune", epochs=2, batch_size=8, seed=0
    )
    transferkit.export(r.run_id, tmp_path / "txt")
    texts = [row["text"] for row in topic_rows(4, seed=7)]
    texts += ["a much longer text " * 30, "x", "Election results: the GAME was a CODE of law!"]
    unlabelled = tmp_path / "new.csv"
    unlabelled.write_text("text\n" + "\n".join(texts) + "\n")
    theirs = transferkit.predict(r.run_id, str(unlabelled))
    p = Predictor(tmp_path / "txt")
    ours = p.predict(texts, batch_size=5, items=[t["item"] for t in theirs])
    assert [o["prediction"] for o in ours] == [t["prediction"] for t in theirs]
    diff = np.abs(_probs(ours, p.classes) - _probs(theirs, p.classes)).max()
    assert diff < TOL, diff


def test_ensemble_export_of_members_predicts_as_the_run(tmp_path):
    """An ensemble of two runs with different input sizes is exported as two member graphs
    (members/<i>/ with their weights); the runtime's weighted average is the run's."""
    import torch

    from transferkit.runs.ensemble import record_ensemble
    from transferkit.store import RunStore

    store = RunStore()
    inputs = _image_inputs(tmp_path / "inputs")
    fast = dict(model="tiny-cnn", strategy="linear", labels_per_class=10, epochs=2, seed=0)
    a = transferkit.fit("builtin:digits", image_size=32, store=store, **fast)
    b = transferkit.fit("builtin:digits", image_size=24, store=store, **fast)
    search = store.create("auto", {"data": "builtin:digits"})
    store.finish(search, metrics={}, timings={})
    dataset = load_dataset("builtin:digits")
    members = [
        {"run": a.run_id, "weight": 0.7, "label": "32px", "config": "c32"},
        {"run": b.run_id, "weight": 0.3, "label": "24px", "config": "c24"},
    ]
    test = np.arange(0, len(dataset), 9)
    ens = record_ensemble(
        store, dataset, members, test=test, device=torch.device("cpu"), parent=search
    )
    transferkit.export(ens.run_id, tmp_path / "ens")
    p = Predictor(tmp_path / "ens")
    assert len(p.members) == 2 and [w for _, w in p.members] == pytest.approx([0.7, 0.3])
    theirs = transferkit.predict(ens.run_id, str(inputs))
    ours = p.predict([r["item"] for r in theirs])
    diff = np.abs(_probs(ours, p.classes) - _probs(theirs, p.classes)).max()
    assert diff < TOL, diff
