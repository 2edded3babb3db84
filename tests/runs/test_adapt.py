"""``transferkit.adapt``: recording, label-free selection, the report, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_data import SMALL, one_thread, write_domains  # noqa: F401 (fixture)

import transferkit
from transferkit.data.base import ArrayDataset
from transferkit.errors import UserError
from transferkit.report import build_report
from transferkit.runs.adapt.domains import check_modalities
from transferkit.store import RunStore

METHODS = ["coral", "shallow-coral"]


def test_selection_never_reads_target_labels(tmp_path):
    """Shuffling the target labels changes the target accuracies shown in the report, but not
    one selection score and not the choice."""
    runs = []
    for shuffle in (None, 7):
        src, tgt = write_domains(tmp_path / str(shuffle), shuffle_target_labels=shuffle)
        runs.append(
            transferkit.adapt(
                src, tgt, method=METHODS, trade_off=[0.5, 2.0], target_labels_for_eval=True, **SMALL
            )
        )
    a, b = runs
    assert a.chosen == b.chosen
    assert [r["candidate"] for r in a.table] == ["coral@0.5", "coral@2", "shallow-coral"]
    for ra, rb in zip(a.table, b.table):
        assert ra["risk"] == rb["risk"] and ra["source_val_accuracy"] == rb["source_val_accuracy"]
    assert [r["target_accuracy"] for r in a.table] != [r["target_accuracy"] for r in b.table]
    assert a.oracle == max(a.table, key=lambda r: r["target_accuracy"])["candidate"]
    assert a.metrics["selection_gap"] >= 0


def test_adapt_records_members_saves_model_and_reports(tmp_path):
    src, tgt = write_domains(tmp_path)
    res = transferkit.adapt(
        src,
        tgt,
        method="dann,shallow-coral",
        seeds=2,
        target_labels_for_eval=True,
        **{**SMALL, "embed_points": 12},
    )
    store = RunStore()
    rec = store.get(res.run_id)
    assert rec.kind == "adapt" and rec.status == "done"
    members = store.list(kind="adapt-member", limit=None)
    assert len(members) == 4 and all(m.parent == res.run_id for m in members)
    assert {m["seed"] for m in res.members} == {0, 1}
    sel = rec.extra["selection"]
    assert sel["asked"] == "dev" and rec.metrics["chosen"] == res.chosen
    # DEV is kept unless some candidate's estimate was unreliable; then IM, with why
    assert (sel["rule"] == "dev") == (sel["fallback"] is None) and res.rule == sel["rule"]
    assert sel["rule"] in ("dev", "im")
    assert set(rec.extra["embedding"]) == {"before", "after", "classes"}
    assert len(rec.extra["embedding"]["after"]["xy"]) == 24
    rows = transferkit.predict(res.run_id, tgt)
    assert len(rows) == 45 and rows[0]["prediction"] in {"h", "v", "d"}
    html, md = build_report([rec], tmp_path / "report")
    text = md.read_text()
    for needle in (
        "label-free choice",
        "oracle",
        "Per-class target accuracy",
        "proxy A-distance",
        "t-SNE",
    ):
        assert needle in text, needle
    if sel["fallback"]:
        assert "Asked for dev, but" in text


def test_labelled_target_without_the_flag_is_ignored_and_said(tmp_path):
    src, tgt = write_domains(tmp_path)
    res = transferkit.adapt(src, tgt, method="shallow-source-only", **SMALL)
    rec = RunStore().get(res.run_id)
    assert res.oracle is None and "target_accuracy" not in res.metrics
    assert any("--target-labels-for-eval" in n for n in rec.extra["notes"])
    assert all("target_accuracy" not in m for m in res.members)


def test_same_data_as_source_and_target_warns(tmp_path):
    src, _ = write_domains(tmp_path)
    res = transferkit.adapt(src, src, method="shallow-source-only", **SMALL)
    assert any("same data" in n for n in RunStore().get(res.run_id).extra["notes"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"method": "dannn"}, "Unknown adaptation method 'dannn'"),
        ({"method": "dann,dann"}, "listed twice"),
        ({"method": "shallow-coral", "scratch": True}, "fresh (random) weights"),
        ({"trade_off": "a,b"}, "--trade-off takes"),
        ({"select": "oracle"}, "Unknown selection rule"),
        ({"batch_size": 64}, "fewer than one batch"),
        ({"colour": 1}, "Unknown option 'colour'"),
    ],
)
def test_bad_settings_are_refused(tmp_path, overrides, message):
    src, tgt = write_domains(tmp_path)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        transferkit.adapt(src, tgt, **{**SMALL, **overrides})
    assert RunStore().list(kind="adapt") == []  # refused before anything was recorded


def test_different_class_sets_refused_unless_partial(tmp_path):
    src, tgt = write_domains(tmp_path, target_classes=(0, 1))
    names = np.load(tgt)["y"]
    np.savez(tgt, x=np.load(tgt)["x"], y=np.where(names == "h", "x", names))  # class 'x'
    with pytest.raises(
        UserError,
        match="different class sets.*only in the source: 'd', 'h'"
        ".*only in the target: 'x'.*--allow-partial",
    ):
        transferkit.adapt(src, tgt, method="shallow-source-only", **SMALL)
    res = transferkit.adapt(
        src,
        tgt,
        method="shallow-source-only",
        allow_partial=True,
        target_labels_for_eval=True,
        **SMALL,
    )
    rec = RunStore().get(res.run_id)
    assert rec.extra["missing_classes"] == {"source_only": ["d", "h"], "target_only": ["x"]}
    assert res.members[0]["target_n"] == 15  # the 'x' examples cannot be scored


def test_labels_for_eval_needs_a_labelled_target(tmp_path):
    src, tgt = write_domains(tmp_path, target_labels=False)
    with pytest.raises(UserError, match="has no labels"):
        transferkit.adapt(
            src, tgt, method="shallow-source-only", target_labels_for_eval=True, **SMALL
        )


def test_incompatible_modalities_are_refused():
    images = ArrayDataset(
        np.zeros((4, 8, 8), np.uint8), np.array([0, 1, 0, 1]), ["a", "b"], name="pics"
    )
    texts = ArrayDataset(np.zeros((4, 8, 8), np.uint8), None, [], name="notes", modality="text")
    with pytest.raises(UserError, match="one modality on both sides"):
        check_modalities(images, texts)


def test_target_side_rule_chooses_by_target_predictions_and_every_rule_is_recorded(tmp_path):
    src, tgt = write_domains(tmp_path)
    res = transferkit.adapt(src, tgt, method="coral,shallow-coral", select="snd", **SMALL)
    assert res.rule == "snd" and res.metrics["selection_rule_asked"] == "snd"
    for row in res.table:  # every candidate carries every label-free score
        assert {"snd", "im", "loss"} <= set(row) and row["selection_score"] == -row["snd"]
    assert res.chosen == max(res.table, key=lambda r: r["snd"])["candidate"]
