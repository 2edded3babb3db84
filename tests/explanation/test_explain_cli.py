"""``transferkit explain`` in real subprocesses: the bad inputs exit 2 with one paragraph that
names the fix, and a good call writes its files and reports."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

import transferkit
from transferkit.store import RunStore


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A store with a finished linear fit of tiny-cnn, a running run and a finished run that
    saved no model; a labelled folder, a folder of 70 images and a text table."""
    root = tmp_path_factory.mktemp("explain-cli")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / "ok" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(
                root / "ok" / c / f"{i}.png"
            )
    (root / "many").mkdir()
    for i in range(70):
        Image.new("L", (8, 8), i).save(root / "many" / f"{i}.png")
    (root / "texts.csv").write_text(
        "text,label\n" + "".join(f"words {i},{'xy'[i % 2]}\n" for i in range(6))
    )
    store = RunStore(root / "tk_home")
    fit = transferkit.fit(
        str(root / "ok"), model="tiny-cnn", strategy="linear", epochs=1, image_size=16, store=store
    )
    running = store.create("fit", {"model": "tiny-cnn"}, seed=0)  # this process owns it
    empty = store.create("rank", {"data": "x"}, seed=0)
    store.finish(empty, metrics={})
    return {
        "root": root,
        "env": {"TRANSFERKIT_HOME": str(store.root)},
        "run": fit.run_id,
        "running": running,
        "empty": empty,
        "store": store,
    }


def _cases(s):
    r, run = s["root"], s["run"]
    return [
        (
            ["--run", s["running"], str(r / "ok")],
            ("still running", "Wait until it finishes", "--resume"),
        ),
        (
            ["--run", s["empty"], str(r / "ok")],
            ("(rank) saved no model", "fit, adapt", "runs list --status done"),
        ),
        (["--run", run, str(r / "texts.csv")], ("reads image inputs", "holds text", "Give images")),
        (["--run", run, str(r / "many")], ("holds 70 images", "at most 64", "--max 70")),
        (["--run", run, "--classes", "c", str(r / "ok")], ("'c'", "not a class", "a, b")),
        (["--run", "nosuchrun", str(r / "ok")], ("No run 'nosuchrun'", "runs list")),
    ]


@pytest.mark.slow
def test_bad_inputs_exit_2_with_one_paragraph_naming_the_fix(setup):
    cases = _cases(setup)
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda c: run_cli("explain", *c[0], env_extra=setup["env"]), cases))
    for (args, words), p in zip(cases, procs):
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr and p.stderr.startswith("error: "), p.stderr
        assert p.stderr.count("\n") == 1, p.stderr  # one paragraph
        assert all(w in p.stderr for w in words), (words, p.stderr)


@pytest.mark.slow
def test_explain_and_report_from_the_command_line(setup):
    env, run = setup["env"], setup["run"]
    p = run_cli(
        "explain",
        "--run",
        run,
        str(setup["root"] / "ok"),
        "--method",
        "ig",
        "--max",
        "3",
        "--ig-steps",
        "8",
        "--json",
        env_extra=env,
        check=0,
    )
    out = json.loads(p.stdout)
    folder = Path(out["artifact_dir"])
    assert out["method"] == "ig" and out["explained"] == run and len(out["rows"]) == 3
    assert all((folder / r["overlay"]).is_file() and "delta" in r for r in out["rows"])
    assert all(r["relative_delta"] >= 0 for r in out["rows"])
    assert (folder / "predictions.csv").is_file() and (folder / "attributions.npz").is_file()
    assert any("only the new head was trained" in n for n in out["transfer"]["notes"])
    rep = run_cli("report", out["run"], env_extra=env, check=0)
    html = Path(rep.stdout.strip()).read_text()
    assert f"Explanations {out['run']} of run {run}" in html and "<img " in html
    table = run_cli(
        "explain",
        "--run",
        run,
        str(setup["root"] / "ok" / "a" / "0.png"),
        "--no-transfer",
        env_extra=env,
        check=0,
    )
    assert "0.png" in table.stdout and "predictions.csv" in table.stdout
