"""Every strategy on text (tiny random BERT), LoRA's frozen base, SetFit-style pairs, and
compare / rank / report / predict on text runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from textkit import topic_rows, write_csv

import transferkit
from transferkit.errors import UserError
from transferkit.store import RunStore
from transferkit.strategies.contrastive import draw_pairs

FAST = dict(epochs=2, batch_size=8, seed=0)


def test_lora_trains_adapters_only_and_saves_them(tiny_bert, topics_csv):
    r = transferkit.fit(
        str(topics_csv),
        model=f"hf:{tiny_bert}",
        strategy="lora",
        lora_rank=4,
        lora_alpha=8,
        lr=5e-3,
        **FAST,
    )
    info = RunStore().get(r.run_id).extra["strategy_info"]
    assert info["lora"]["targets"] == ["query", "value"] and info["lora"]["rank"] == 4
    assert 0 < info["trainable_fraction"] < 0.25
    assert info["adapter_params"] == 2 * 2 * 4 * (32 + 32)  # 2 layers x (q, v) x r(in + out)
    source = transferkit.create_backbone(f"hf:{tiny_bert}").state_dict()
    state = r.model.backbone.state_dict()
    key = "model.encoder.layer.0.attention.self.query.weight"
    base = next(k for k in state if k.endswith("query.base_layer.weight") and ".layer.0." in k)
    assert torch.equal(state[base], source[key])  # frozen
    lora_b = next(v for k, v in state.items() if "lora_B" in k)
    assert lora_b.abs().sum() > 0  # adapters moved away from their zero start
    assert (r.artifact_dir / "model" / "adapter" / "adapter_config.json").is_file()


def test_finetune_on_text_is_seeded_and_records_truncation(tiny_bert, topics_csv):
    opts = dict(FAST, epochs=1)
    a = transferkit.fit(
        str(topics_csv), model=f"hf:{tiny_bert}", strategy="finetune", max_length=5, **opts
    )
    b = transferkit.fit(
        str(topics_csv), model=f"hf:{tiny_bert}", strategy="finetune", max_length=5, **opts
    )
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]
    assert a.metrics["test_nll"] == b.metrics["test_nll"]
    rec = RunStore().get(a.run_id)
    t = rec.extra["truncation"]
    assert t["max_length"] == 5 and t["truncated"] == t["texts"] == 36  # 7 words + 2 specials
    assert rec.extra["strategy_info"]["lr"] == 1e-4  # the text default


def test_contrastive_pairs_are_positive_within_and_negative_across_classes():
    labels = np.array([0, 0, 0, 1, 1, 2])
    pairs = draw_pairs(labels, seed=0, epoch=0)
    assert len(pairs) == 12
    for a, b, t in pairs:
        assert (labels[a] == labels[b]) == bool(t)
        if t and labels[a] != 2:
            assert a != b  # a partner, not itself, when the class has one
    assert not np.array_equal(pairs, draw_pairs(labels, seed=0, epoch=1))
    assert np.array_equal(pairs, draw_pairs(labels, seed=0, epoch=0))


def test_contrastive_separates_topics_with_minilm(tmp_path):
    data = write_csv(tmp_path / "t.csv", topic_rows(5))
    r = transferkit.fit(str(data), model="minilm-l6", strategy="contrastive", epochs=1, seed=0)
    assert r.accuracy >= 0.75
    rec = RunStore().get(r.run_id)
    info = rec.extra["strategy_info"]
    assert info["pairs_per_epoch"] == 2 * rec.extra["splits"]["train"] and info["lr"] == 2e-5


def test_modality_mismatch_and_unlabelled_text_are_user_errors(tiny_bert, topics_csv, tmp_path):
    with pytest.raises(UserError, match="image model but .* holds text data"):
        transferkit.fit(str(topics_csv), model="tiny-cnn", strategy="linear", **FAST)
    with pytest.raises(UserError, match="text model but .* holds image data"):
        transferkit.fit("builtin:digits", model=f"hf:{tiny_bert}", strategy="linear", **FAST)
    unlabelled = write_csv(tmp_path / "u.csv", [{"text": "a b", "note": "x"}] * 3)
    with pytest.raises(UserError, match="no labels.*'text', 'note'"):
        transferkit.fit(str(unlabelled), model=f"hf:{tiny_bert}", strategy="linear", **FAST)
    with pytest.raises(UserError, match="at most 64"):
        transferkit.fit(str(topics_csv), model=f"hf:{tiny_bert}", max_length=100, **FAST)
    with pytest.raises(UserError, match="lora needs a transformers"):
        transferkit.fit("builtin:digits", model="tiny-cnn", strategy="lora", **FAST)


def test_rank_compare_and_report_work_on_text(tiny_bert, topics_csv, tmp_path):
    res = transferkit.rank(
        str(topics_csv), ["minilm-l6", f"hf:{tiny_bert}"], scores=["logme", "knn"]
    )
    assert [r.status for r in res.rows] == ["ok", "ok"]
    assert res.best == "minilm-l6"  # pretrained sentence embeddings beat random ones
    from transferkit.runs.compare import compare

    c = compare(
        str(topics_csv),
        strategies=["linear", "lora"],
        labels_per_class=[6],
        seeds=1,
        model=f"hf:{tiny_bert}",
        epochs=1,
        batch_size=8,
    )
    assert {row["strategy"] for row in c.table} == {"linear", "lora"}
    from transferkit.report import build_report

    html, md = build_report([RunStore().get(c.compare_id)], tmp_path / "report")
    assert html.is_file() and "lora" in md.read_text()
