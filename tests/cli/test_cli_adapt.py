"""`transferkit adapt` through a real subprocess, then predictions from the adapt run. (Bad
input is tested in-process in test_adapt_api.py: each subprocess costs seconds of imports.)"""

from __future__ import annotations

import json

import pytest
from adapt_data import write_domains
from conftest import run_cli

import transferkit
from transferkit.store import RunStore


@pytest.mark.slow
def test_cli_adapt_then_predict(tmp_path):
    """The parent run serves the label-free choice's model."""
    src, tgt = write_domains(tmp_path)
    proc = run_cli(
        "adapt",
        "--source",
        src,
        "--target",
        tgt,
        "--model",
        "tiny-cnn",
        "--method",
        "source-only,mcc",
        "--trade-off",
        "0.5",
        "--image-size",
        "8",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--embed-points",
        "0",
        "--selection-examples",
        "24",
        "--target-labels-for-eval",
        "--json",
        check=0,
        env_extra={"OMP_NUM_THREADS": "1"},
    )
    out = json.loads(proc.stdout)
    assert out["chosen"] in ("source-only", "mcc@0.5")
    assert out["metrics"]["selection_rule_asked"] == "dev" and out["rule"] in ("dev", "im")
    assert {r["candidate"] for r in out["table"]} == {"source-only", "mcc@0.5"}
    assert all(0 <= r["target_accuracy"] <= 1 for r in out["table"])
    rows = transferkit.predict(out["run"], tgt)  # in-process: a second subprocess costs ~10 s
    assert len(rows) == 45 and set(rows[0]) >= {"item", "prediction", "p_d", "p_h", "p_v"}


@pytest.mark.slow
def test_cli_adapt_table_with_the_default_rule_says_when_it_fell_back(tmp_path):
    """The table output with the default --select (not given): the note about a fallback
    rule used to crash with AttributeError after the run was recorded."""
    src, tgt = write_domains(tmp_path)
    proc = run_cli(
        "adapt",
        "--source",
        src,
        "--target",
        tgt,
        "--model",
        "tiny-cnn",
        "--method",
        "source-only,mcc",
        "--image-size",
        "8",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--embed-points",
        "0",
        "--selection-examples",
        "24",
        check=0,
        env_extra={"OMP_NUM_THREADS": "1"},
    )
    assert "Traceback" not in proc.stderr and "chosen without target labels" in proc.stdout
    run = proc.stdout.split("--run ")[1].split()[0]
    rec = RunStore().get(run)
    # these tiny domains barely overlap, so DEV's importance weights collapse (deterministic)
    assert rec.metrics["selection_rule"] != rec.metrics["selection_rule_asked"] == "dev"
    assert "note: dev was not usable" in proc.stdout
