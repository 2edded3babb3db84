"""The rank and similarity API on real backbones (tiny-cnn, effnet-lite0) and builtin:digits."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.data import load_dataset
from transferkit.data.base import ArrayDataset
from transferkit.errors import UserError
from transferkit.report import build_report
from transferkit.runs.rank import rank
from transferkit.runs.similarity import similarity
from transferkit.store import RunStore

FAST = {"max_examples": 200, "image_size": 32}


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("rank_store"))
    return rank(
        "builtin:digits", ["tiny-cnn", "effnet-lite0", "no-such-model"], store=store, **FAST
    ), store


def test_rank_scores_source_head_models_and_lists_failures(ranked):
    result, _ = ranked
    effnet, tiny, missing = (result.row(m) for m in ("effnet-lite0", "tiny-cnn", "no-such-model"))
    assert effnet.status == "ok" and all(effnet.scores[s] is not None for s in result.scores)
    assert -np.log(10) <= effnet.scores["leep"] <= 0 and effnet.scores["nce"] <= 0
    assert tiny.status == "ok" and tiny.scores["logme"] is not None
    assert tiny.scores["leep"] is None and tiny.scores["nce"] is None
    assert "no source head" in tiny.empty["leep"] and "no source head" in tiny.empty["nce"]
    assert missing.status == "failed" and "Unknown backbone 'no-such-model'" in missing.reason
    assert all(v is None for v in missing.scores.values())
    assert result.primary == "logme" and result.n_examples == 200 and result.num_classes == 10
    assert sorted(result.order) == ["effnet-lite0", "tiny-cnn"]
    first, second = (result.row(m).scores["logme"] for m in result.order)
    assert first >= second and [r.model for r in result.rows][-1] == "no-such-model"
    assert effnet.timings["extract"] > 0 and effnet.seconds >= effnet.timings["extract"]


def test_rank_is_recorded_and_shares_the_feature_cache(ranked):
    result, store = ranked
    record = store.get(result.run_id)
    assert record.kind == "rank" and record.status == "done"
    assert record.extra["order"] == result.order
    assert [r["model"] for r in record.extra["table"]] == [r.model for r in result.rows]
    assert record.config["models"] == ["tiny-cnn", "effnet-lite0", "no-such-model"]
    assert "effnet-lite0/extract" in record.timings and "tiny-cnn/logme" in record.timings
    assert len(list((store.root / "features").glob("*.safetensors"))) == 2
    again = rank("builtin:digits", "tiny-cnn", scores="knn", store=store, **FAST)
    assert again.row("tiny-cnn").scores["knn"] == result.row("tiny-cnn").scores["knn"]


def test_patterns_modality_and_bad_requests(tmp_path):
    store = RunStore(tmp_path / "store")
    digits = load_dataset("builtin:digits")
    result = rank(
        digits,
        "tiny*",
        scores=("hscore", "knn"),
        store=store,
        max_examples=40,
        image_size=16,
        score_params={"knn": {"k": 1}},
    )
    assert result.row("tiny-cnn").status == "ok"
    assert store.get(result.run_id).config["options"]["knn_k"] == 1
    with pytest.raises(UserError, match="No model in the zoo matches 'zzz\\*'.*tiny-cnn"):
        rank(digits, "tiny*,zzz*", store=store)  # a typo is refused, not ranked as failed
    text = ArrayDataset(
        digits.images, digits.labels, digits.classes, name="words", modality="text", fingerprint="t"
    )
    refused = rank(text, ["tiny-cnn"], scores="logme", store=store, max_examples=40)
    assert refused.row("tiny-cnn").status == "refused" and "image model" in refused.rows[0].reason
    with pytest.raises(UserError, match="Unknown transferability score 'logmee'"):
        rank(digits, ["tiny-cnn"], scores="logmee", store=store)
    with pytest.raises(UserError, match="Bad options"):
        rank(digits, ["tiny-cnn"], scores="knn", score_params={"knn": {"kk": 3}}, store=store)
    with pytest.raises(UserError, match="too few for 10 classes"):
        rank(digits, ["tiny-cnn"], max_examples=12, store=store)
    one = ArrayDataset(digits.images[:20], np.zeros(20, np.int64), ["0"], name="one")
    with pytest.raises(UserError, match="single class"):
        rank(one, ["tiny-cnn"], store=store)


def test_rank_report_has_table_chart_and_verdict(ranked, tmp_path):
    result, store = ranked
    html, md = build_report([store.get(result.run_id)], tmp_path / "rank_report")
    text = md.read_text()
    assert f"By logme, {result.best} is predicted to transfer best" in text
    assert "no-such-model (failed" in text and "no source head" in text
    assert text.index(f"| 1 | {result.order[0]} |") < text.index(f"| 2 | {result.order[1]} |")
    assert len(list((tmp_path / "rank_report").rglob("*.png"))) == 1
    assert "transferkit rank --data builtin:digits" in html.read_text()


def test_similarity_of_digits_and_inverted_digits(tmp_path):
    store = RunStore(tmp_path / "store")
    digits = load_dataset("builtin:digits")
    inverted = ArrayDataset(
        255 - digits.images, digits.labels, digits.classes, name="inverted", fingerprint="inv"
    )
    res = similarity(
        digits, inverted, "tiny-cnn", max_examples=100, permutations=50, image_size=16, store=store
    )
    assert res.n_source == res.n_target == 100 and res.mmd2 > 0
    assert res.p_value == pytest.approx(1 / 51) and res.proxy_a_distance > 1.0
    assert set(res.class_mmd) == set(digits.classes)
    record = store.get(res.run_id)
    assert record.kind == "similarity" and record.metrics["mmd2"] == pytest.approx(res.mmd2)
    html, md = build_report([record], tmp_path / "sim_report")
    text = md.read_text()
    assert "differ detectably" in text and f"{res.proxy_a_distance:.2f}" in text
    assert (
        "Class-conditional MMD" in text and len(list((tmp_path / "sim_report").rglob("*.png"))) == 1
    )
    with pytest.raises(UserError, match="Unknown backbone"):
        similarity(digits, inverted, "nope", store=store)
