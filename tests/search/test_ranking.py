"""The ranking stage's pure rules: model families, which candidates are searched, and which of
the ranked ones are kept (mean rank over the scores, the top ``keep`` and a hedge from another
family). The pre-flight and scoring themselves run in ``tests/runs/test_auto.py``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.errors import UserError
from transferkit.search.ranking import SCORES, Ranked, candidate_names, family, keep_best
from transferkit.search.space import ModelInfo
from transferkit.zoo import list_zoo


@pytest.mark.parametrize(
    "name, expected",
    [
        ("effnet-lite0", "effnet-lite"),
        ("effnet-lite2", "effnet-lite"),
        ("timm:resnet18", "timm:resnet"),
        ("timm:vit_small_patch16_224", "timm:vit_small_patch"),  # digits, dots, _ and -
        ("minilm-l6", "minilm-l"),
        ("run:20240101-abc", "run"),
        ("file:/models/a.safetensors", "file"),
        ("tiny-cnn", "tiny-cnn"),
        ("123", "123"),  # a name of digits only is its own family
    ],
)
def test_a_family_is_the_name_without_its_size_suffix(name, expected):
    assert family(name) == expected


def _row(model: str, **scores: float | None) -> dict:
    return {"model": model, "status": "ok", "reason": "", "scores": scores, "empty": {}}


def _ranked(rows: list[dict]) -> tuple[Ranked, dict[str, ModelInfo]]:
    infos = {r["model"]: ModelInfo(r["model"], "image") for r in rows if r["status"] == "ok"}
    return Ranked(rows), infos


def test_the_top_models_by_mean_rank_are_kept_with_a_hedge_from_another_family():
    rows = [
        _row("effnet-lite0", knn=0.90, logme=1.0, **{"linear-probe": 0.80}),
        _row("effnet-lite1", knn=0.95, logme=2.0, **{"linear-probe": 0.85}),
        _row("effnet-lite2", knn=0.85, logme=0.5, **{"linear-probe": 0.70}),
        _row("tiny-cnn", knn=0.10, logme=-3.0, **{"linear-probe": 0.20}),
    ]
    out, infos = _ranked(rows)
    keep_best(out, infos, keep=2)
    assert [m.name for m in out.kept] == ["effnet-lite1", "effnet-lite0", "tiny-cnn"]
    by = {r["model"]: r for r in out.rows}
    assert by["effnet-lite1"]["mean_rank"] == 1.0 and by["effnet-lite2"]["mean_rank"] == 3.0
    assert by["effnet-lite1"]["ranks"] == {"knn": 1, "linear-probe": 1, "logme": 1}
    assert by["tiny-cnn"]["kept"] and "best of another family (tiny-cnn)" in by["tiny-cnn"]["why"]
    assert not by["effnet-lite2"]["kept"] and "below the top 2" in by["effnet-lite2"]["why"]


def test_no_hedge_when_every_model_below_the_top_is_of_a_kept_family():
    rows = [_row(f"effnet-lite{i}", knn=1.0 - i / 10) for i in range(3)]
    out, infos = _ranked(rows)
    keep_best(out, infos, keep=1)
    assert [m.name for m in out.kept] == ["effnet-lite0"]


def test_a_missing_score_leaves_the_mean_to_the_others():
    rows = [
        _row("a0", knn=0.9, logme=None),
        _row("b0", knn=0.5, logme=2.0),
        _row("c0", knn=None, logme=None),  # nothing scored: ranked last
    ]
    out, infos = _ranked(rows)
    keep_best(out, infos, keep=3)
    by = {r["model"]: r for r in out.rows}
    assert by["a0"]["ranks"] == {"knn": 1} and by["a0"]["mean_rank"] == 1.0
    assert by["b0"]["ranks"] == {"knn": 2, "logme": 1} and by["b0"]["mean_rank"] == 1.5
    assert "ranks" not in by["c0"] and by["c0"]["mean_rank"] == 3.0
    assert [m.name for m in out.kept] == ["a0", "b0", "c0"]


def test_refused_and_skipped_candidates_are_listed_with_their_reason_and_never_kept():
    refused = {"model": "bad", "status": "refused", "reason": "pre-flight: out of memory"}
    skipped = {"model": "late", "status": "skipped", "reason": "not ranked: budget spent"}
    out, infos = _ranked([refused, _row("good0", knn=0.5), skipped])
    keep_best(out, infos, keep=2)
    assert [m.name for m in out.kept] == ["good0"]
    by = {r["model"]: r for r in out.rows}
    assert by["bad"]["kept"] is False and by["bad"]["why"] == "pre-flight: out of memory"
    assert by["late"]["kept"] is False and by["late"]["why"] == "not ranked: budget spent"


def test_no_usable_candidate_is_a_user_error_naming_each_reason_and_the_fix():
    out, infos = _ranked(
        [{"model": "bad", "status": "refused", "reason": "pre-flight: no such weights"}]
    )
    with pytest.raises(UserError, match=r"bad: pre-flight: no such weights.*--models"):
        keep_best(out, infos, keep=3)


_names = st.lists(
    st.tuples(st.sampled_from(["effnet-lite", "resnet", "vit-b", "minilm-l"]), st.integers(0, 9)),
    min_size=1,
    max_size=8,
    unique=True,
)


@settings(max_examples=200, deadline=None)
@given(
    names=_names,
    scores=st.lists(st.floats(-5, 5, allow_nan=False), min_size=8 * len(SCORES)),
    keep=st.integers(1, 4),
)
def test_the_kept_models_are_the_top_by_mean_rank_and_at_most_one_hedge(names, scores, keep):
    values = iter(scores)
    rows = [_row(f"{f}{i}", **{s: next(values) for s in SCORES}) for f, i in names]
    out, infos = _ranked(rows)
    keep_best(out, infos, keep)
    order = sorted(out.rows, key=lambda r: r["mean_rank"])
    kept = [m.name for m in out.kept]
    assert kept[: min(keep, len(rows))] == [r["model"] for r in order[:keep]]
    assert len(kept) <= keep + 1
    if len(kept) == keep + 1:
        hedge = kept[-1]
        assert family(hedge) not in {family(k) for k in kept[:-1]}
    assert {r["model"] for r in out.rows if r["kept"]} == set(kept)


def test_without_models_named_every_offline_searchable_zoo_model_of_the_modality_is_a_candidate():
    zoo = {r["name"]: r for r in list_zoo("*")}
    names = candidate_names("", "image")
    assert names
    for n in names:
        assert zoo[n]["modality"] == "image" and zoo[n]["offline"] and zoo[n]["searchable"]
    assert "tiny-cnn" not in names  # in the zoo for tests, not searched unless named
    assert "tiny-cnn" in candidate_names("tiny-cnn", "image")


def test_models_of_another_modality_are_dropped_or_refused_with_the_fix():
    assert candidate_names("tiny-cnn,minilm-l6", "image") == ["tiny-cnn"]
    with pytest.raises(UserError, match=r"names only text models.*`transferkit zoo`"):
        candidate_names("minilm-l6", "image")
    with pytest.raises(UserError, match="No model in the zoo matches 'nomatch-\\*'"):
        candidate_names("nomatch-*", "image")
