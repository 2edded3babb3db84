"""``transferkit export`` through a real ``.venv/bin/transferkit`` subprocess: a finished run
exports (``--json``: the folder and the parity numbers), and every bad input exits with code 2,
one paragraph naming the fix, no traceback and no folder left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from transferkit.store import RunStore

EXE = str(Path(sys.executable).with_name("transferkit"))


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRANSFERKIT_HOME": str(home)}
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-export")
    home = root / "home"
    fit = _cli(
        "fit",
        "--data",
        "builtin:digits",
        "--model",
        "tiny-cnn",
        "--image-size",
        "16",
        "--strategy",
        "linear",
        "--labels-per-class",
        "10",
        "--json",
        home=home,
    )
    assert fit.returncode == 0, fit.stderr
    store = RunStore(home)
    running = store.create("fit", {"data": "builtin:digits"})
    failed = store.create("fit", {"data": "builtin:digits"})
    store.fail(failed, "boom")
    (root / "full").mkdir()
    (root / "full" / "x.txt").write_text("keep")
    return {
        "root": root,
        "home": home,
        "run": json.loads(fit.stdout)["run"],
        "running": running,
        "failed": failed,
    }


def test_export_writes_the_folder_and_prints_parity(made):
    to = made["root"] / "out"
    proc = _cli(
        "export",
        made["run"],
        "--to",
        str(to),
        "--parity-examples",
        "64",
        "--json",
        home=made["home"],
    )
    assert proc.returncode == 0, proc.stderr
    values = json.loads(proc.stdout)
    assert values["run"] == made["run"] and values["folder"] == str(to)
    assert values["fp32_argmax_agreement"] == 1.0 and values["parity_inputs"] == 64
    assert values["fp32_max_abs_diff"] < 1e-3
    assert {p.name for p in to.iterdir()} == {
        "model.onnx",
        "config.json",
        "README.md",
        "parity.json",
    }


def _bad(made) -> list[tuple[list[str], str]]:
    root, run = made["root"], made["run"]
    return [
        (["export", run, "--to", str(root / "full")], "--force"),
        (
            [
                "export",
                run,
                "--to",
                str(root / "n1"),
                "--format",
                "torchscript",
                "--quantize",
                "int8",
            ],
            "--quantize int8 works on ONNX",
        ),
        (["export", run, "--to", str(root / "n2"), "--opset", "99"], "opset 99 is not supported"),
        (["export", made["running"], "--to", str(root / "n3")], "is running"),
        (["export", made["failed"], "--to", str(root / "n4")], "is failed"),
        (["export", "nosuchrun", "--to", str(root / "n5")], "No run"),
    ]


def test_bad_inputs_exit_2_with_one_paragraph(made):
    cases = _bad(made)
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda c: _cli(*c[0], home=made["home"]), cases))
    for (args, word), proc in zip(cases, procs):
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert word in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    for name in ("n1", "n2", "n3", "n4", "n5"):
        assert not (made["root"] / name).exists()
    assert (made["root"] / "full" / "x.txt").read_text() == "keep"
