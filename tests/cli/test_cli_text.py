"""Text through the command line, in real subprocesses: fit with LoRA, predict, zeroshot,
rank and similarity on a text table with its own column names.
(Bad text inputs are user errors, tested in-process; tests/test_cli.py checks that user
errors exit 2 without a traceback.)"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from textkit import topic_rows, write_csv


@pytest.mark.slow
def test_fit_lora_then_predict_on_a_text_file(tiny_bert, tmp_path):
    rows = [
        {"id": str(i), "body": r["text"], "topic": r["label"]} for i, r in enumerate(topic_rows(8))
    ]
    data = write_csv(tmp_path / "reviews.csv", rows)
    p = run_cli(
        "fit",
        "--data",
        str(data),
        "--text-column",
        "body",
        "--label-column",
        "topic",
        "--model",
        f"hf:{tiny_bert}",
        "--strategy",
        "lora",
        "--lora-rank",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--json",
        check=0,
    )
    run = json.loads(p.stdout)["run"]
    unseen = write_csv(
        tmp_path / "new.csv", [{"text": "the election vote"}, {"text": "a game and a goal"}]
    )
    pred = run_cli("predict", "--run", run, str(unseen), check=0)
    lines = pred.stdout.strip().splitlines()
    assert lines[0].startswith("item,prediction,confidence") and len(lines) == 3
    assert "p_politics" in lines[0]


@pytest.mark.slow
def test_zeroshot_command(topics_csv):
    p = run_cli(
        "zeroshot",
        "--data",
        str(topics_csv),
        "--labels",
        "sports,politics,technology",
        "--model",
        "minilm-l6",
        "--json",
        check=0,
    )
    out = json.loads(p.stdout)
    assert out["classes"] == 3 and out["test_accuracy"] >= 0.8


@pytest.mark.slow
def test_rank_and_similarity_on_a_text_table(tiny_bert, tmp_path):
    rows = [{"body": r["text"], "topic": r["label"]} for r in topic_rows(10)]
    data = write_csv(tmp_path / "docs.csv", rows)
    cols = ("--text-column", "body", "--label-column", "topic")
    p = run_cli(
        "rank",
        "--data",
        str(data),
        "--models",
        f"hf:{tiny_bert},effnet-lite0",
        "--scores",
        "logme,knn",
        *cols,
        "--json",
        check=0,
    )
    rows_out = {r["model"]: r for r in json.loads(p.stdout)["rows"]}
    text_row = rows_out[f"hf:{tiny_bert}"]
    assert text_row["status"] == "ok" and all(v is not None for v in text_row["scores"].values())
    image_row = rows_out["effnet-lite0"]
    assert image_row["status"] == "refused" and "text data" in image_row["reason"]
    half = len(rows) // 2
    a = write_csv(tmp_path / "a.csv", rows[:half])
    b = write_csv(tmp_path / "b.csv", rows[half:])
    s = run_cli(
        "similarity",
        "--source",
        str(a),
        "--target",
        str(b),
        "--model",
        f"hf:{tiny_bert}",
        *cols,
        "--permutations",
        "20",
        "--json",
        check=0,
    )
    out = json.loads(s.stdout)
    assert out["n_source"] == half and set(out["class_mmd"]) == {r["topic"] for r in rows}
    missing = run_cli(
        "rank",
        "--data",
        str(data),
        "--models",
        f"hf:{tiny_bert}",
        "--text-column",
        "content",
        check=2,
    )
    assert "body" in missing.stderr and "Traceback" not in missing.stderr
