"""Domain adaptation on text: a labelled source table and a shifted target table (other filler
words, another column name), with a tiny transformers encoder; deep and shallow methods."""

from __future__ import annotations

from textkit import topic_rows, write_csv

import transferkit
from transferkit.store import RunStore


def _domains(tmp_path):
    source = write_csv(
        tmp_path / "source.csv",
        [{"body": r["text"], "topic": r["label"]} for r in topic_rows(10, seed=0)],
    )
    # the shift: every target text carries words the source never has
    target = write_csv(
        tmp_path / "target.csv",
        [
            {"body": r["text"] + " this text is cat dog", "topic": r["label"]}
            for r in topic_rows(8, seed=1)
        ],
    )
    return str(source), str(target)


def test_adapt_trains_deep_and_shallow_methods_on_text(tiny_bert, tmp_path):
    source, target = _domains(tmp_path)
    res = transferkit.adapt(
        source,
        target,
        model=f"hf:{tiny_bert}",
        method="dann,shallow-coral,source-only",
        text_column="body",
        label_column="topic",
        epochs=1,
        batch_size=8,
        hidden=16,
        selection_examples=24,
        embed_points=10,
        target_labels_for_eval=True,
    )
    rec = RunStore().get(res.run_id)
    assert rec.status == "done"
    assert {r["candidate"] for r in res.table} == {"dann@1", "shallow-coral", "source-only"}
    assert all(0.0 <= r["target_accuracy"] <= 1.0 for r in res.table)
    assert res.chosen in {r["candidate"] for r in res.table}
    assert 0 < len(rec.extra["embedding"]["after"]["xy"]) <= 20
    rows = transferkit.predict(res.run_id, target)
    assert len(rows) == 8 * 3 and rows[0]["prediction"] in {"sports", "politics", "technology"}


def test_adabn_is_refused_for_an_encoder_without_batchnorm(tiny_bert, tmp_path):
    import pytest

    from transferkit.errors import UserError

    source, target = _domains(tmp_path)
    before = len(RunStore().list())
    with pytest.raises(UserError, match="no BatchNorm layers"):
        transferkit.adapt(
            source,
            target,
            model=f"hf:{tiny_bert}",
            method="source-only,adabn",
            text_column="body",
            label_column="topic",
            epochs=1,
            batch_size=8,
        )
    assert len(RunStore().list()) == before  # refused before any run is recorded
