"""One table of bad inputs over every command, each through a real `transferkit` subprocess:
exit code 2, no traceback, one paragraph on stderr that names the problem.

The cases run two at a time (the machine has two cores; each subprocess mostly waits on its
imports)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

FAST = ["--model", "tiny-cnn", "--image-size", "16", "--epochs", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small labelled folder, a one-class folder, an unlabelled folder, a text table, a
    finished fit run's id and a store to hold it."""
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / "ok" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                root / "ok" / c / f"{i}.png"
            )
    (root / "one" / "only").mkdir(parents=True)
    (root / "flat").mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 9).save(root / "one" / "only" / f"{i}.png")
        Image.new("L", (8, 8), 9).save(root / "flat" / f"{i}.png")
    (root / "texts.csv").write_text(
        "text,label\n" + "".join(f"words {i},{'xy'[i % 2]}\n" for i in range(12))
    )
    (root / "empty").mkdir()
    np.savez(root / "wrongkeys.npz", pixels=np.zeros((4, 3, 3), np.uint8))
    home = root / "home"
    env = {"TRANSFERKIT_HOME": str(home)}
    fit = run_cli(
        "fit",
        "--data",
        str(root / "ok"),
        "--strategy",
        "linear",
        *FAST,
        "--json",
        env_extra=env,
        check=0,
    )
    return {"root": root, "env": env, "run": json.loads(fit.stdout)["run"]}


def cases(f):
    """(args, word that the message must contain), over every command."""
    r, run = f["root"], f["run"]
    ok, one, flat, texts = str(r / "ok"), str(r / "one"), str(r / "flat"), str(r / "texts.csv")
    return [
        # fit
        (["fit", "--data", str(r / "nope"), *FAST], "does not exist"),
        (["fit", "--data", ok, "--model", "effnet-lite9"], "effnet-lite"),
        (["fit", "--data", ok, "--strategy", "linaer", *FAST], "linear"),
        (["fit", "--data", ok, "--labels-per-class", "5000", *FAST], "labels"),
        (["fit", "--data", one, *FAST], "single class"),
        (["fit", "--data", flat, *FAST], "no labels"),
        (["fit", "--data", str(r / "empty"), *FAST], "empty"),
        (["fit", "--data", str(r / "wrongkeys.npz"), *FAST], "'x'"),
        (["fit", "--data", ok, *FAST[:2], "--image-size", "0"], "--image-size"),
        (["fit", "--data", ok, *FAST[:4], "--epochs", "0"], "--epochs"),
        (["fit", "--data", ok, *FAST, "--lr", "-1"], "--lr"),
        (["fit", "--data", ok, *FAST, "--val-fraction", "1.5"], "--val-fraction"),
        (["fit", "--data", ok, *FAST, "--balance", "always"], "--balance"),
        (["fit", "--data", ok, *FAST, "--cv", "1"], "folds"),
        (["fit", "--data", texts, *FAST], "text"),
        (["fit", "--resume", "r00000000-000000-dead"], "runs list"),
        (["fit", "--resume", run], "already finished"),
        (["fit"], "--data"),
        (["fit", "--data", ok, "--strategy", "linear", "--budget", "15s"], "does not apply"),
        # compare
        (["compare", "--data", ok, "--strategies", "linear,linear", *FAST], "twice"),
        (["compare", "--data", ok, "--labels-per-class", "lots", *FAST], "whole numbers"),
        (["compare", "--data", ok, "--seeds", "0", *FAST], "--seeds"),
        (["compare", "--data", ok, "--strategies", "linear,nope", *FAST], "nope"),
        # rank
        (["rank", "--data", ok, "--models", "zzz*"], "zoo"),
        (["rank", "--data", ok, "--models", "tiny-cnn", "--score", "logmee"], "logmee"),
        (["rank", "--data", ok, "--models", "tiny-cnn", "--image-size", "0"], "--image-size"),
        (["rank", "--data", flat, "--models", "tiny-cnn"], "labels"),
        (["rank", "--data", one, "--models", "tiny-cnn"], "single class"),
        (["rank", "--data", ok, "--models", "tiny-cnn", "--knn-k", "0"], "--knn-k"),
        (["rank", "--data", ok, "--models", "tiny-cnn", "--max-examples", "0"], "max"),
        (
            ["rank", "--data", "builtin:digits", "--models", "tiny-cnn", "--max-examples", "5"],
            "too few for 10 classes",
        ),
        (
            [
                "rank",
                "--data",
                ok,
                "--models",
                "tiny-cnn",
                "--scores",
                "linear-probe",
                "--probe-folds",
                "1",
            ],
            "--probe-folds",
        ),
        # similarity
        (
            [
                "similarity",
                "--source",
                ok,
                "--target",
                flat,
                "--model",
                "tiny-cnn",
                "--max-examples",
                "1",
            ],
            "at least 2",
        ),
        (
            ["similarity", "--source", ok, "--target", str(r / "nope"), "--model", "tiny-cnn"],
            "does not exist",
        ),
        (["similarity", "--source", ok, "--target", flat, "--model", "nope-net"], "nope-net"),
        # adapt
        (["adapt", "--source", ok, "--model", "tiny-cnn"], "--target"),
        (
            ["adapt", "--source", ok, "--target", flat, "--model", "tiny-cnn", "--method", "dnn"],
            "dnn",
        ),
        (
            ["adapt", "--source", ok, "--target", flat, "--model", "tiny-cnn", "--batch-size", "1"],
            "--batch-size",
        ),
        (
            ["adapt", "--source", ok, "--target", flat, "--model", "tiny-cnn", "--image-size", "0"],
            "--image-size",
        ),
        (
            ["adapt", "--source", ok, "--target", flat, "--model", "tiny-cnn", "--select", "best"],
            "best",
        ),
        (
            ["adapt", "--source", ok, "--target", flat, "--model", "tiny-cnn", "--trade-off", "x"],
            "--trade-off",
        ),
        (["adapt", "--resume", run], "adapt"),
        # auto
        (["auto", "--data", ok, "--budget", "10x"], "--budget"),
        (["auto", "--data", ok, "--budget", "1s"], "too small"),
        (["auto", "--data", ok, "--models", "zzz*"], "zoo"),
        (["auto", "--data", ok, "--models", "minilm-l6"], "text models"),
        (
            [
                "auto",
                "--data",
                ok,
                "--models",
                "tiny-cnn",
                "--image-sizes",
                "16",
                "--strategies",
                "lora",
                "--budget",
                "15s",
                "--max-epochs",
                "1",
            ],
            "lora needs",
        ),
        (
            [
                "auto",
                "--data",
                ok,
                "--models",
                "tiny-cnn",
                "--image-sizes",
                "16",
                "--strategies",
                "zeroshot",
                "--budget",
                "15s",
            ],
            "ran no configuration",
        ),
        (
            [
                "auto",
                "--data",
                ok,
                "--models",
                "tiny-cnn",
                "--image-sizes",
                "16",
                "--budget",
                "20s",
                "--storage",
                "postgresql://nobody@127.0.0.1:1/none",
            ],
            "cannot reach",
        ),
        (["auto", "--worker", "--data", ok], "--study"),
        (["auto", "--data", ok, "--strategies", "finetuning"], "finetuning"),
        (["auto", "--resume", run], "auto search"),
        # pretrain
        (["pretrain", "--data", ok, "--method", "magic"], "magic"),
        (["pretrain", "--data", ok, "--name", "Bad:Name"], "--name"),
        (["pretrain", "--data", ok, "--epochs", "0"], "--epochs"),
        (["pretrain", "--data", ok, "--image-size", "0"], "--image-size"),
        (["pretrain", "--data", texts], "images"),
        (["pretrain", "--data", flat, "--method", "supervised"], "labels"),
        (["pretrain", "--resume", run], "pretrain"),
        # zeroshot
        (["zeroshot", "--data", texts, "--labels", "x"], "two classes"),
        (["zeroshot", "--data", texts, "--labels", "x,y", "--template", "no slot"], "{}"),
        (["zeroshot", "--data", texts, "--labels", "x,y", "--shots", "-1"], "--shots"),
        (["zeroshot", "--data", ok, "--model", "tiny-cnn"], "CLIP"),
        # predict
        (["predict", "--run", "r00000000-000000-dead", ok], "runs list"),
        (["predict", "--run", run, str(r / "nope")], "does not exist"),
        (["predict", "--run", run, texts], "text"),
        # report and runs
        (["report"], "runs"),
        (["report", "r00000000-000000-dead"], "runs list"),
        (["runs", "show", "r00000000-000000-dead"], "runs list"),
        (["runs", "delete", "r00000000-000000-dead"], "runs list"),
        (["runs", "compare", run, "r00000000-000000-dead"], "runs list"),
    ]


@pytest.mark.slow
def test_every_command_refuses_bad_input_with_exit_2_and_one_paragraph(files):
    table = cases(files)
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda c: run_cli(*c[0], env_extra=files["env"]), table))
    failures = []
    for (args, word), p in zip(table, procs):
        msg = p.stderr.strip()
        one_paragraph = msg.startswith("error: ") and "\n" not in msg
        if p.returncode == 2 and one_paragraph and word.lower() in msg.lower():
            continue
        failures.append((args, p.returncode, msg[-600:]))
    assert not failures, "\n".join(map(str, failures))
