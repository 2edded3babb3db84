"""``pretrain --method multitask`` end to end: two tiny synthetic labelled sources, the run's
per-task history, heads and label sets, the backbone as ``run:ID`` in ``fit``, bad input, a
resume after SIGKILL, and torchrun."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import kill_at_first_checkpoint_then_resume, run_cli, run_torchrun
from PIL import Image
from safetensors.torch import load_file

import transferkit
from transferkit.errors import UserError
from transferkit.report.build import build_report, load_records
from transferkit.runs.pretrain import pretrain
from transferkit.store import RunStore
from transferkit.zoo import create_backbone

TINY = dict(arch="tiny-cnn", image_size=8, batch_size=16, epochs=2)


def _write_task(path, classes: list[str], n: int, seed: int, where: str):
    """A .npz of 16x16 images whose class is a bright square planted in a class-specific
    place (rows for one task, columns for the other), on noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(classes)
    x = rng.integers(0, 80, (n, 16, 16), dtype=np.uint8)
    for i, k in enumerate(y):
        r, c = (4 * k, 6) if where == "rows" else (6, 4 * k)
        x[i, r : r + 4, c : c + 4] = 255
    np.savez(path, x=x, y=np.asarray(classes)[y])
    return str(path)


@pytest.fixture
def two_tasks(tmp_path):
    a = _write_task(tmp_path / "alpha.npz", ["0", "1", "2"], 60, 0, "rows")
    b = _write_task(tmp_path / "beta.npz", ["0", "1"], 40, 1, "cols")
    return a, b


def test_two_tasks_pretrain_record_per_task_and_transfer_as_run_id(two_tasks, tmp_path):
    a, b = two_tasks
    r = pretrain(f"{a},{b}", method="multitask", task_weights="uncertainty", name="ab", **TINY)
    rec = RunStore().get(r.run_id)
    assert rec.status == "done" and rec.config["options"]["task_weights"] == "uncertainty"
    assert rec.config["options"]["mixing"] == "temperature"
    tasks = rec.extra["tasks"]
    assert [t["name"] for t in tasks] == ["alpha", "beta"]
    assert [t["classes"] for t in tasks] == [["0", "1", "2"], ["0", "1"]]
    assert sum(t["share"] for t in tasks) == pytest.approx(1.0)
    for h in r.history:  # validation per task, the mean monitored, learned weights positive
        assert {"val_accuracy_alpha", "val_accuracy_beta", "weight_alpha"} <= set(h)
        mean = (h["val_accuracy_alpha"] + h["val_accuracy_beta"]) / 2
        assert h["val_accuracy"] == pytest.approx(mean)
        assert h["weight_alpha"] > 0 and h["weight_beta"] > 0
    assert r.history[-1]["weight_alpha"] != 1.0  # the uncertainty weights were learned
    heads = load_file(str(r.artifact_dir / "heads.safetensors"))
    assert heads["alpha.weight"].shape[0] == 3 and heads["beta.weight"].shape[0] == 2
    saved = json.loads((r.artifact_dir / "tasks.json").read_text())
    assert saved == json.loads(json.dumps(tasks))
    backbone = create_backbone(f"run:{r.run_id}")
    assert backbone.identity == create_backbone("ab").identity
    assert backbone.source_head is None  # the label sets differ: no single source head
    f = transferkit.fit(a, model=f"run:{r.run_id}", strategy="linear", labels_per_class=5)
    assert 0.0 <= f.metrics["test_accuracy"] <= 1.0
    html_path, md_path = build_report(load_records([r.run_id]), tmp_path / "report")
    html = html_path.read_text()
    assert "Multi-task pretraining" in html and "epoch share" in html
    assert f"{r.run_id}-tasks" in md_path.read_text()  # the per-task curves
    best = r.history[RunStore().get(r.run_id).extra["best_epoch"] - 1]
    assert f"beta {100 * best['val_accuracy_beta']:.1f}%" in html


def test_bad_multitask_input(two_tasks, tmp_path):
    a, b = two_tasks
    with pytest.raises(UserError, match="--method supervised"):
        pretrain(a, method="multitask", **TINY)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(12):
        Image.fromarray(np.full((16, 16), i * 20, np.uint8)).save(flat / f"{i}.png")
    with pytest.raises(UserError, match="labels in every source.*flat"):
        pretrain(f"{a},{flat}", method="multitask", **TINY)
    text = tmp_path / "notes.csv"
    text.write_text("text,label\n" + "".join(f"word {i},{'ab'[i % 2]}\n" for i in range(20)))
    with pytest.raises(UserError, match="one modality.*notes.csv \\(text\\)"):
        pretrain(f"{a},{text}", method="multitask", **TINY)
    with pytest.raises(UserError, match="task-weights"):
        pretrain(f"{a},{b}", method="multitask", task_weights="loudest", **TINY)
    with pytest.raises(UserError, match="--method multitask"):
        pretrain(f"{a},{b}", method="supervised", **TINY)
    p = run_cli("pretrain", "--data", a, "--method", "multitask", "--arch", "tiny-cnn")
    assert p.returncode == 2 and "supervised" in p.stderr and "Traceback" not in p.stderr
    assert RunStore().list(kind="pretrain") == []


def _cli_args(a, b, epochs=4):
    return [
        "pretrain",
        *("--data", f"{a},{b}", "--method", "multitask", "--arch", "tiny-cnn"),
        *("--image-size", "8", "--batch-size", "16", "--epochs", str(epochs)),
        *("--task-weights", "uncertainty", "--no-augment", "--json"),
    ]


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_result(two_tasks, tmp_path):
    a, b = two_tasks
    ref = run_cli(*_cli_args(a, b), check=0)
    reference = json.loads(ref.stdout)
    resumed = kill_at_first_checkpoint_then_resume(_cli_args(a, b), tmp_path / "killed", "pretrain")
    for key, value in reference.items():
        if key.startswith("val_"):
            assert resumed[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_multitask_under_torchrun(two_tasks):
    a, b = two_tasks
    p = run_torchrun(*_cli_args(a, b, epochs=2))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert 0.0 <= out["val_accuracy"] <= 1.0 and "val_accuracy_beta" in out
    runs = RunStore().list(kind="pretrain")
    assert len(runs) == 1 and runs[0].status == "done"
