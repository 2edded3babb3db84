"""The command line through real subprocesses: the happy path and the bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from transferkit.timing import untimed

FAST = ["--model", "tiny-cnn", "--image-size", "32", "--epochs", "2", "--seed", "0"]


def _folder(root, n_per_class=12, classes=("a", "b", "c")):
    rng = np.random.default_rng(0)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, (24, 24), dtype=np.uint8)
            img[k * 8 : k * 8 + 8, :] += 150  # a class-specific band
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def _no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr


def test_zoo_lists_offline_models():
    p = run_cli("zoo", "--json", check=0)
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert rows["effnet-lite0"]["offline"] is True
    assert rows["tiny-cnn"]["features"] > 0


@pytest.mark.slow
def test_fit_runs_show_predict_round_trip(tmp_path):
    data = _folder(tmp_path / "data")
    p = run_cli("fit", "--data", str(data), "--strategy", "linear", *FAST, "--json", check=0)
    out = json.loads(p.stdout)
    run = out["run"]
    assert out["test_accuracy"] > 0.5
    listing = run_cli("runs", "list", "--json", check=0)
    assert run in [r["id"] for r in json.loads(listing.stdout)]
    show = run_cli("runs", "show", run, check=0)
    assert "reproduce: transferkit fit" in show.stdout and "--strategy linear" in show.stdout
    pred = run_cli("predict", "--run", run, str(data / "b"), check=0)
    lines = pred.stdout.strip().splitlines()
    assert lines[0].startswith("item,prediction,confidence")
    assert len(lines) == 13
    assert sum(line.split(",")[1] == "b" for line in lines[1:]) >= 9
    one_image = sorted((data / "b").iterdir())[0]  # a single image file is an input too
    single = run_cli("predict", "--run", run, str(one_image), check=0).stdout.splitlines()
    assert len(single) == 2 and single[1].split(",")[0].endswith(one_image.name)
    in_folder = next(r for r in lines[1:] if r.split(",")[0].endswith(one_image.name)).split(",")
    assert single[1].split(",")[1] == in_folder[1]
    assert float(single[1].split(",")[2]) == pytest.approx(float(in_folder[2]), abs=1e-5)


@pytest.mark.slow
def test_bad_inputs_exit_2_with_a_clear_message(tmp_path):
    cases = [
        (["fit", "--data", str(tmp_path / "nope"), *FAST], "nope"),
        (["fit", "--data", "builtin:digits", "--model", "effnet-lite9"], "effnet-lite"),
        (["fit", "--data", "builtin:digits", "--labels-per-class", "5000", *FAST], "labels"),
        (["predict", "--run", "r00000000-000000-dead", str(tmp_path)], "runs list"),
    ]
    one = tmp_path / "one" / "only"
    one.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(one / f"{i}.png")
    cases.append((["fit", "--data", str(tmp_path / "one"), *FAST], "class"))
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((["fit", "--data", str(empty), *FAST], "empty"))
    for args, word in cases:
        p = run_cli(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        _no_traceback(p)
        assert word.lower() in p.stderr.lower(), (args, p.stderr)


def test_store_not_writable_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    p = run_cli("runs", "list", env_extra={"TRANSFERKIT_HOME": str(blocker / "home")})
    assert p.returncode == 2
    _no_traceback(p)
    assert "TRANSFERKIT_HOME" in p.stderr


@pytest.mark.slow
def test_predict_on_deleted_run_exits_2(tmp_path):
    data = _folder(tmp_path / "data")
    p = run_cli("fit", "--data", str(data), "--strategy", "linear", *FAST, "--json", check=0)
    run = json.loads(p.stdout)["run"]
    run_cli("runs", "delete", run, check=0)
    p = run_cli("predict", "--run", run, str(data))
    assert p.returncode == 2
    _no_traceback(p)


@pytest.mark.slow
def test_sigterm_marks_interrupted_and_resume_matches_uninterrupted(tmp_path, tk_home):
    """A real kill mid-training, then --resume: same metrics as a run never interrupted."""
    args = [
        "fit",
        "--data",
        "builtin:digits",
        "--strategy",
        "finetune",
        "--model",
        "tiny-cnn",
        "--image-size",
        "32",
        "--epochs",
        "4",
        "--labels-per-class",
        "100",
        "--seed",
        "1",
        "--json",
    ]
    env = {**os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "transferkit", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = tk_home / "runs"
    deadline = time.time() + 300
    ckpt = None
    while time.time() < deadline and proc.poll() is None:
        found = list(runs.glob("*/checkpoints/last.json")) if runs.exists() else []
        if found and json.loads(found[0].read_text())["epoch"] >= 0:
            ckpt = found[0]
            break
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err
    run_id = ckpt.parent.parent.name
    show = json.loads(run_cli("runs", "show", run_id, "--json", check=0).stdout)
    assert show["status"] == "interrupted"
    resumed = json.loads(run_cli("fit", "--resume", run_id, "--json", check=0).stdout)
    assert resumed["run"] == run_id
    fresh = json.loads(run_cli(*args, check=0).stdout)
    assert fresh["run"] != run_id
    assert resumed["test_accuracy"] == fresh["test_accuracy"]
    assert resumed["val_accuracy"] == fresh["val_accuracy"]
    history = json.loads((runs / run_id / "history.json").read_text())
    fresh_history = json.loads((runs / fresh["run"] / "history.json").read_text())
    assert untimed(history) == untimed(fresh_history)


@pytest.mark.slow
def test_sigterm_outside_a_training_loop_marks_the_run_interrupted(tk_home):
    """`rank` trains nothing (feature extraction and scores): a SIGTERM there is not caught by a
    training loop's stop flag, yet the run is marked interrupted and the command exits 130,
    saying that `rank` cannot resume (it used to die with -15 and leave a `running` record)."""
    args = ["rank", "--data", "builtin:digits", "--models", "effnet-lite0", "--image-size", "96"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "transferkit", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs, deadline, folder = tk_home / "runs", time.time() + 120, None
    while time.time() < deadline and proc.poll() is None and folder is None:
        folder = next(iter(runs.glob("r*")), None) if runs.exists() else None
        time.sleep(0.02)
    assert folder is not None and proc.poll() is None, "the rank run never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"Run {folder.name} is marked interrupted" in err and "cannot resume" in err
    show = json.loads(run_cli("runs", "show", folder.name, "--json", check=0).stdout)
    assert show["status"] == "interrupted"


@pytest.mark.slow
def test_corrupt_images_are_skipped_listed_or_strict(tmp_path):
    data = _folder(tmp_path / "data")
    (data / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    good = (data / "b" / "0.png").read_bytes()
    (data / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    (data / "c" / "notes.txt").write_text("not an image")
    p = run_cli("fit", "--data", str(data), "--strategy", "linear", *FAST, "--json", check=0)
    run = json.loads(p.stdout)["run"]
    rec = json.loads(run_cli("runs", "show", run, "--json", check=0).stdout)
    skipped = {s["item"].rsplit("/", 1)[-1] for s in rec["extra"]["skipped"]}
    assert {"broken.png", "truncated.png", "notes.txt"} <= skipped
    assert rec["extra"]["dataset"]["size"] == 36
    p = run_cli("fit", "--data", str(data), "--strategy", "linear", *FAST, "--strict")
    assert p.returncode == 2
    _no_traceback(p)
    assert "broken.png" in p.stderr or "truncated.png" in p.stderr


@pytest.mark.slow
def test_help_works_for_every_command():
    p = run_cli("--help", check=0)
    commands = [
        c
        for c in (
            "zoo",
            "fit",
            "runs",
            "compare",
            "pretrain",
            "predict",
            "demo",
            "report",
            "rank",
            "similarity",
        )
        if f"    {c}" in p.stdout
    ]
    assert len(commands) >= 7
    for c in commands:
        h = run_cli(c, "--help")
        assert h.returncode == 0, (c, h.stderr)
        assert "usage" in h.stdout
