"""``pretrain --method image-text`` end to end: a tiny labelled image source with written
descriptions (one class held out), the saved model in ``zeroshot``, ``fit`` and ``rank`` as
``run:ID`` / its name, a pairs manifest with bad rows, bad descriptions, long texts, the text
side LoRA-tuned or fully trained, and a resume after SIGKILL."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import kill_at_first_checkpoint_then_resume, run_cli
from PIL import Image
from safetensors.torch import load_file

import transferkit
from transferkit.errors import UserError
from transferkit.report.build import build_report, load_records
from transferkit.runs.pretrain import pretrain
from transferkit.store import RunStore
from transferkit.zoo import create_backbone
from transferkit.zoo.image_text import ImageTextBackbone

TINY = dict(arch="tiny-cnn", image_size=16, batch_size=16, lr=3e-3, embed_dim=32, augment=False)
CLASSES = ["top", "bottom", "left", "right"]
DESCRIPTIONS = {
    "top": ["a bright square at the top.", "the upper part is lit."],
    "bottom": ["a bright square at the bottom.", "the lower part is lit."],
    "left": ["a bright square on the left side.", "the left part is lit."],
}


def _planted(path, n: int = 96, seed: int = 0) -> str:
    """A .npz of 16x16 images whose class is where a bright square sits, on noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(CLASSES)
    x = rng.integers(0, 60, (n, 16, 16), dtype=np.uint8)
    where = {0: (1, 6), 1: (11, 6), 2: (6, 1), 3: (6, 11)}
    for i, k in enumerate(y):
        r, c = where[int(k)]
        x[i, r : r + 4, c : c + 4] = 255
    np.savez(path, x=x, y=np.asarray(CLASSES)[y])
    return str(path)


@pytest.fixture
def shapes(tmp_path):
    data = _planted(tmp_path / "shapes.npz")
    desc = tmp_path / "descriptions.json"
    desc.write_text(json.dumps(DESCRIPTIONS))
    return data, str(desc)


def test_pretrained_image_text_model_is_a_zoo_model_for_zeroshot_fit_and_rank(shapes):
    data, desc = shapes
    r = pretrain(data, method="image-text", descriptions=desc, epochs=4, name="shapes-clip", **TINY)
    rec = RunStore().get(r.run_id)
    assert rec.status == "done"
    assert rec.extra["pairs"]["classes"] == ["bottom", "left", "top"]  # right: held out
    assert rec.extra["text_truncation"]["truncated"] == 0
    for h in r.history:
        assert {"val_i2t_r1", "val_t2i_r1", "val_i2t_r5", "val_zeroshot_accuracy"} <= set(h)
    assert r.metrics["val_zeroshot_accuracy"] > 0.8 and r.metrics["val_i2t_r1"] > 0.8
    confusion = json.loads((r.artifact_dir / "zeroshot_confusion.json").read_text())
    assert confusion["classes"] == ["bottom", "left", "top"]
    assert np.asarray(confusion["matrix"]).sum() == rec.extra["splits"]["val"]

    model = create_backbone("shapes-clip")
    assert isinstance(model, ImageTextBackbone) and 0 < model.logit_scale <= 100
    assert model.identity == create_backbone(f"run:{r.run_id}").identity
    seen = ",".join(f"{c}={DESCRIPTIONS[c][0]}" for c in ["top", "bottom", "left"])
    z = transferkit.zeroshot(data, model="shapes-clip", labels=seen + ",right=right", max_test=96)
    per_class = z.metrics["test_per_class"]
    assert np.mean([per_class[c]["recall"] for c in ["top", "bottom", "left"]]) > 0.6
    f = transferkit.fit(data, model=f"run:{r.run_id}", strategy="linear", labels_per_class=5)
    assert f.metrics["test_accuracy"] > 0.5
    ranked = transferkit.rank(data, ["shapes-clip", "tiny-cnn"], scores=["logme"])
    assert {row.model for row in ranked.rows if row.status == "ok"} == {"shapes-clip", "tiny-cnn"}

    html_path, md_path = build_report(load_records([r.run_id]), r.artifact_dir / "report")
    html, md = html_path.read_text(), md_path.read_text()
    assert "image -&gt; text @1" in html or "image -> text @1" in html
    assert f"{100 * rec.extra['retrieval']['val_i2t_r1']:.1f}" in md
    assert f"{r.run_id}-retrieval" in md and f"{r.run_id}-zeroshot-confusion" in md


def _manifest(tmp_path, rows: list[tuple[str, str]]):
    rng = np.random.default_rng(0)
    folder = tmp_path / "pairs"
    folder.mkdir()
    for name, _ in rows:
        if name != "missing.png":
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / name)
    path = folder / "pairs.csv"
    path.write_text("path,text\n" + "\n".join(f"{p},{t}" for p, t in rows) + "\n")
    return path


def test_manifest_with_missing_images_and_empty_texts_skips_them_and_strict_refuses(tmp_path):
    rows = [(f"{i}.png", f"picture number {i}") for i in range(12)]
    rows += [("missing.png", "gone"), ("x.png", "")]
    path = _manifest(tmp_path, rows)
    r = pretrain(str(path), method="image-text", epochs=1, **TINY)
    rec = RunStore().get(r.run_id)
    assert rec.extra["dataset"]["skipped"] == 2 and rec.extra["pairs"]["pairs"] == 12
    assert "val_zeroshot_accuracy" not in r.metrics  # no classes: retrieval only
    with pytest.raises(UserError, match=r"2 of the 14 rows.*--strict"):
        pretrain(str(path), method="image-text", strict=True, epochs=1, **TINY)
    p = run_cli("pretrain", "--data", str(path), "--method", "image-text", "--strict")
    assert p.returncode == 2 and "missing image" in p.stderr and "Traceback" not in p.stderr


def test_descriptions_naming_a_class_the_data_lacks_exit_2(shapes, tmp_path):
    data, _ = shapes
    bad = tmp_path / "bad.yaml"
    bad.write_text("top: a square at the top\nsandal: an open shoe\n")
    with pytest.raises(UserError, match=r"'sandal'.*bottom, left, right, top"):
        pretrain(data, method="image-text", descriptions=str(bad), epochs=1, **TINY)
    p = run_cli("pretrain", "--data", data, "--method", "image-text", "--descriptions", str(bad))
    assert p.returncode == 2 and "sandal" in p.stderr and "Traceback" not in p.stderr
    assert RunStore().list(kind="pretrain") == []


def test_texts_longer_than_the_text_model_reads_are_truncated_and_counted(shapes, tmp_path):
    data, _ = shapes
    long = {**DESCRIPTIONS, "right": ["a square on the right " * 80]}  # > 256 tokens
    desc = tmp_path / "long.json"
    desc.write_text(json.dumps(long))
    r = pretrain(data, method="image-text", descriptions=str(desc), epochs=1, **TINY)
    counted = RunStore().get(r.run_id).extra["text_truncation"]
    assert counted["truncated"] == 1 and counted["texts"] == 7 and counted["max_length"] == 256


@pytest.mark.parametrize("tuning", ["lora", "full"])
def test_text_side_lora_or_full_tuning_trains_and_saves_it(shapes, tiny_bert, tuning):
    data, desc = shapes
    text = f"hf:{tiny_bert}"
    r = pretrain(
        data,
        method="image-text",
        descriptions=desc,
        epochs=1,
        text_model=text,
        text_tuning=tuning,
        **TINY,
    )
    saved = load_file(str(r.artifact_dir / "model" / "model.safetensors"))
    start = create_backbone(text).state_dict()
    name = "model.embeddings.word_embeddings.weight"  # never a LoRA target
    key = next(k for k in saved if k.startswith("backbone.text_tower.") and k.endswith(name[6:]))
    base_moved = not torch.equal(saved[key], start[name])
    lora = [v for k, v in saved.items() if "lora_B" in k]
    if tuning == "lora":
        assert lora and any(v.abs().sum() > 0 for v in lora) and not base_moved
    else:
        assert not lora and base_moved
    model = create_backbone(f"run:{r.run_id}")
    assert model.encode_text(["a square"]).shape == (1, 32)


def _cli_args(data, desc, epochs=3):
    return [
        "pretrain",
        *("--data", data, "--method", "image-text", "--arch", "tiny-cnn"),
        *("--descriptions", desc, "--text-model", "minilm-l6", "--text-tuning", "frozen"),
        *("--image-size", "16", "--batch-size", "16", "--epochs", str(epochs)),
        *("--embed-dim", "32", "--no-augment", "--json"),
    ]


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_result(shapes, tmp_path):
    data, desc = shapes
    reference = json.loads(run_cli(*_cli_args(data, desc), check=0).stdout)
    resumed = kill_at_first_checkpoint_then_resume(
        _cli_args(data, desc), tmp_path / "killed", "pretrain"
    )
    for key, value in reference.items():
        if key.startswith("val_"):
            assert resumed[key] == pytest.approx(value, abs=1e-6), key
