"""End-to-end fits through the Python API with a tiny backbone on real data (UCI digits)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import transferkit
from transferkit.errors import UserError
from transferkit.store import RunStore
from transferkit.timing import untimed

FAST = dict(model="tiny-cnn", image_size=32, epochs=2, batch_size=32, seed=0)


def test_linear_fit_is_recorded_and_predicts():
    r = transferkit.fit("builtin:digits", strategy="linear", labels_per_class=20, **FAST)
    assert r.metrics["test_accuracy"] > 0.4  # chance is 0.1
    rec = RunStore().get(r.run_id)
    assert rec.status == "done" and rec.kind == "fit"
    assert rec.data_fingerprint and rec.versions.get("torch")
    assert rec.metrics["test_accuracy"] == pytest.approx(r.metrics["test_accuracy"])
    assert (r.artifact_dir / "model" / "model.safetensors").is_file()
    assert rec.extra["strategy_info"]["C"] > 0
    assert rec.extra["splits"]["train"] + rec.extra["splits"]["val"] == 200


def test_finetune_trains_and_keeps_best_checkpoint():
    # tiny-cnn's "pretrained" weights are a seeded random init whose BatchNorm statistics do
    # not match the data, so a linear-probe head would not be a sensible start here.
    r = transferkit.fit(
        "builtin:digits",
        strategy="finetune",
        labels_per_class=60,
        lr=3e-3,
        head_init="random",
        **{**FAST, "epochs": 4},
    )
    assert len(r.history) == 4
    best = max(h["val_accuracy"] for h in r.history)
    assert r.metrics["val_accuracy"] == pytest.approx(best, abs=1e-6)
    assert r.metrics["test_accuracy"] > 0.3
    # The resume state is dropped once the run is done; the saved model stays.
    assert not (r.artifact_dir / "checkpoints").exists()
    assert any((r.artifact_dir / "model").iterdir())


def test_one_label_per_class_trains_without_validation():
    lin = transferkit.fit("builtin:digits", strategy="linear", labels_per_class=1, **FAST)
    rec = RunStore().get(lin.run_id)
    assert rec.extra["splits"] == {"train": 10, "val": 0, "test": rec.extra["splits"]["test"]}
    assert rec.extra["strategy_info"]["c_rule"].startswith("default")
    assert not any(k.startswith("val_") for k in lin.metrics)
    assert lin.metrics["test_accuracy"] > 0.2  # one image per class; chance is 0.1
    ft = transferkit.fit(
        "builtin:digits",
        strategy="finetune",
        labels_per_class=1,
        head_init="random",
        patience=1,
        **{**FAST, "epochs": 3},
    )
    # no early stopping (nothing to monitor) and the last epoch is the one kept
    assert [h["epoch"] for h in ft.history] == [1, 2, 3]
    assert RunStore().get(ft.run_id).extra["strategy_info"]["best_epoch"] == 3


def test_same_seed_same_metrics():
    a = transferkit.fit("builtin:digits", strategy="finetune", labels_per_class=20, **FAST)
    b = transferkit.fit("builtin:digits", strategy="finetune", labels_per_class=20, **FAST)
    assert a.run_id != b.run_id
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]
    assert untimed(a.history) == untimed(b.history)
    assert all(h["time_train"] > 0 and h["time_validate"] > 0 for h in a.history)


def test_scratch_starts_from_fresh_weights():
    pre = transferkit.create_backbone("tiny-cnn", pretrained=True)
    r = transferkit.fit(
        "builtin:digits", strategy="scratch", labels_per_class=20, **{**FAST, "epochs": 1}
    )
    first_pre = next(iter(pre.state_dict().values()))
    first_new = next(iter(r.model.backbone.state_dict().values()))
    assert not torch.equal(first_pre, first_new)
    assert RunStore().get(r.run_id).config["strategy"] == "scratch"


def test_partial_unfreeze_keeps_frozen_blocks_and_their_batchnorm_stats():
    pre = transferkit.create_backbone("tiny-cnn", pretrained=True, image_size=32)
    r = transferkit.fit(
        "builtin:digits", strategy="finetune", labels_per_class=20, unfreeze=1, **FAST
    )
    blocks_after = r.model.backbone.blocks()
    blocks_before = pre.blocks()
    for before, after in zip(blocks_before[:-1], blocks_after[:-1]):
        for (k, v0), (_, v1) in zip(before.state_dict().items(), after.state_dict().items()):
            assert torch.equal(v0, v1), f"frozen tensor {k} changed"
    top_changed = any(
        not torch.equal(a, b)
        for a, b in zip(
            blocks_before[-1].state_dict().values(), blocks_after[-1].state_dict().values()
        )
    )
    assert top_changed


def test_the_default_rule_picks_linear_for_few_labels():
    r = transferkit.fit(
        "builtin:digits", strategy="linear-or-finetune", labels_per_class=10, **FAST
    )
    assert r.strategy == "linear"
    assert "smallest class" in r.info["reason"]


def test_predict_matches_saved_model(tmp_path):
    from PIL import Image

    r = transferkit.fit("builtin:digits", strategy="linear", labels_per_class=20, **FAST)
    data = transferkit.load_dataset("builtin:digits")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(data.load(i)).save(folder / f"im{i}.png")
    rows = transferkit.predict(r.run_id, str(folder))
    assert len(rows) == 5
    assert {"item", "prediction", "confidence"} <= set(rows[0])
    probs = np.array([[row[f"p_{c}"] for c in r.classes] for row in rows])
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_linear_feature_cache_skips_the_backbone_second_time(tk_home):
    transferkit.fit("builtin:digits", strategy="linear", labels_per_class=20, **FAST)
    files = list((tk_home / "features").glob("*.safetensors"))
    assert len(files) == 1
    before = files[0].stat().st_mtime_ns
    from transferkit.zoo.tiny import TinyCNN

    calls = {"n": 0}
    original = TinyCNN.forward_features

    def counting(self, x):
        calls["n"] += 1
        return original(self, x)

    TinyCNN.forward_features = counting
    try:
        transferkit.fit("builtin:digits", strategy="linear", labels_per_class=20, **FAST)
    finally:
        TinyCNN.forward_features = original
    assert calls["n"] == 0
    assert files[0].stat().st_mtime_ns == before


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="balance"):
        transferkit.fit("builtin:digits", strategy="linear", balance="bogus", **FAST)
    with pytest.raises(UserError, match="Unknown strategy"):
        transferkit.fit("builtin:digits", strategy="finetuning", **FAST)
    with pytest.raises(UserError, match="Unknown option"):
        transferkit.fit("builtin:digits", strategy="linear", epoch=3, model="tiny-cnn")


def test_api_names_stay_functions_after_their_modules_are_imported():
    # importing a sub-package rebinds the package attribute of that name to the module, so no
    # package of transferkit may share a workflow's name
    import transferkit.explanation.methods
    import transferkit.pretraining.base
    import transferkit.runs.rank
    import transferkit.runs.similarity
    import transferkit.search.study  # noqa: F401

    assert transferkit.rank is transferkit.runs.rank.rank
    assert transferkit.similarity is transferkit.runs.similarity.similarity
    for name in ("pretrain", "auto", "explain", "fit", "compare", "adapt", "zeroshot"):
        assert inspect.isfunction(getattr(transferkit, name)), name
    with pytest.raises(UserError, match="epochs"):
        transferkit.pretrain("builtin:digits", arch="tiny-cnn", epochs=0)


def test_a_linear_fit_on_small_images_loads_no_augmentation_library(tmp_path):
    """Small evaluation images are transformed a batch at a time, so timm and torchvision
    (1.5 s of imports) are not loaded by a linear fit on them."""
    import subprocess
    import sys

    code = (
        "import sys, transferkit\n"
        "transferkit.fit('builtin:digits', strategy='linear', labels_per_class=5, "
        "model='tiny-cnn', max_test=50)\n"
        "print(sorted({'timm', 'torchvision'} & set(sys.modules)))\n"
    )
    env = {
        **__import__("os").environ,
        "TRANSFERKIT_HOME": str(tmp_path / "h"),
        "TRANSFERKIT_QUIET": "1",
        "HF_HUB_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
