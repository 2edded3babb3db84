"""Text through the command line, in real subprocesses: fit with LoRA, predict, zeroshot.
(Bad text inputs are user errors, tested in-process; tests/test_cli.py checks that user
errors exit 2 without a traceback.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from textkit import topic_rows, write_csv


def run_cli(*args: str, check: int | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "transferkit", *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=600)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_fit_lora_then_predict_on_a_text_file(tiny_bert, tmp_path):
    rows = [{"id": str(i), "body": r["text"], "topic": r["label"]}
            for i, r in enumerate(topic_rows(8))]
    data = write_csv(tmp_path / "reviews.csv", rows)
    p = run_cli("fit", "--data", str(data), "--text-column", "body", "--label-column", "topic",
                "--model", f"hf:{tiny_bert}", "--strategy", "lora", "--lora-rank", "4",
                "--epochs", "1", "--batch-size", "8", "--json", check=0)
    run = json.loads(p.stdout)["run"]
    unseen = write_csv(tmp_path / "new.csv", [{"text": "the election vote"},
                                              {"text": "a game and a goal"}])
    pred = run_cli("predict", "--run", run, str(unseen), check=0)
    lines = pred.stdout.strip().splitlines()
    assert lines[0].startswith("item,prediction,confidence") and len(lines) == 3
    assert "p_politics" in lines[0]


def test_zeroshot_command(topics_csv):
    p = run_cli("zeroshot", "--data", str(topics_csv), "--labels",
                "sports,politics,technology", "--model", "minilm-l6", "--json", check=0)
    out = json.loads(p.stdout)
    assert out["classes"] == 3 and out["test_accuracy"] >= 0.8
