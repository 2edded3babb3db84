"""The contract every registered strategy honours, on image data and on text data: it trains
(or refuses the modality with a user error that names it), the run alone predicts what the
trained model predicted, the same seed gives the same result, and its own options are
range-checked. A new strategy file is picked up here with no edit."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from PIL import Image

import transferkit
from transferkit.config.options import dests
from transferkit.errors import UserError
from transferkit.store.artifacts import load_predictions
from transferkit.strategies import STRATEGIES

FAST = dict(epochs=2, batch_size=8, seed=0)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for k, c in enumerate(("a", "b", "c")):
        (root / c).mkdir()
        for i in range(12):
            img = rng.integers(0, 60, (24, 24), dtype=np.uint8)
            img[k * 8 : k * 8 + 8, :] += 150  # a class-specific band
            Image.fromarray(img).save(root / c / f"{i}.png")
    return str(root)


@pytest.fixture
def target(request, images, topics_csv, tiny_bert, tmp_path):
    """(data, model) of one modality; the text model is a copy the test may delete."""
    if request.param == "image":
        return images, "tiny-cnn", {"image_size": 16}
    model = shutil.copytree(tiny_bert, tmp_path / "bert")
    return str(topics_csv), f"hf:{model}", {}


def _fit(strategy, data, model, extra):
    return transferkit.fit(data, model=model, strategy=strategy, **FAST, **extra)


@pytest.mark.parametrize("target", ["image", "text"], indirect=True)
@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_strategy_trains_predicts_from_its_run_and_is_seeded(strategy, target):
    data, model, extra = target
    try:
        r = _fit(strategy, data, model, extra)
    except UserError as e:  # a strategy may refuse a modality, saying which and what to use
        assert strategy in str(e).lower() or "text encoder" in str(e), e
        assert transferkit.load_dataset(data).modality == "image"
        return
    assert 0.0 <= r.accuracy <= 1.0 and r.metrics["test_n"] > 0
    if model.startswith("hf:"):
        shutil.rmtree(model[3:])  # the run's folder must be enough from here on
    rows = {row["item"]: row for row in transferkit.predict(r.run_id, data)}
    saved = load_predictions(r.artifact_dir)
    ds = transferkit.load_dataset(data)
    for i, p in zip(saved["indices"], saved["proba"]):
        got = np.array([rows[ds.item_name(int(i))][f"p_{c}"] for c in r.classes])
        np.testing.assert_allclose(got, p, atol=1e-4)
    if not model.startswith("hf:"):  # the same seed again: the same predictions
        again = _fit(strategy, data, model, extra)
        np.testing.assert_array_equal(load_predictions(again.artifact_dir)["proba"], saved["proba"])


BOUNDED = [
    (s, d, f)
    for s in STRATEGIES.list()
    for d, f in dests(STRATEGIES, s).items()
    if "min" in f.metadata or "gt" in f.metadata
]


@pytest.mark.parametrize("strategy, dest, field", BOUNDED, ids=[f"{s}-{d}" for s, d, _ in BOUNDED])
def test_strategy_options_are_range_checked_before_anything_loads(strategy, dest, field):
    low = field.metadata.get("min", field.metadata.get("gt"))
    with pytest.raises(UserError, match="--" + dest.replace("_", "-")):
        transferkit.fit("no-such-data", model="tiny-cnn", strategy=strategy, **{dest: low - 1})


def test_an_option_of_another_strategy_is_refused():
    with pytest.raises(UserError, match="--lora-rank does not apply to finetune"):
        transferkit.fit("builtin:digits", model="tiny-cnn", strategy="finetune", lora_rank=4)


@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_strategy_options_have_help_and_valid_defaults(strategy):
    cls = STRATEGIES.get(strategy).options
    if cls is None:
        return
    from transferkit.config import check_ranges

    check_ranges(cls())
    assert all(f.metadata.get("help") for f in dataclasses.fields(cls))
