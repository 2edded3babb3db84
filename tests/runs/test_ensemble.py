"""An ensemble recorded as one run (record_ensemble) from real tiny fit runs of two input
sizes: predict (API and CLI) gives the weighted average of its members' predictions, its test
metrics are those of the blend, explain attributes the averaged prediction, report and runs
show list its members, and a deleted member gives exit code 2 naming it."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

import transferkit
from transferkit.data import load_dataset
from transferkit.errors import UserError
from transferkit.evaluation.metrics import classification_metrics, softmax
from transferkit.evaluation.predict import predict_logits
from transferkit.report import build_report, load_records
from transferkit.runs.ensemble import record_ensemble
from transferkit.runs.predict import load_run_model, predict
from transferkit.store import RunStore
from transferkit.store.artifacts import PREDICTIONS
from transferkit.zoo.ensemble import EnsembleModel

WEIGHTS = (0.7, 0.3)
FAST = dict(model="tiny-cnn", strategy="linear", epochs=2, batch_size=32, seed=0)


def _folder(root, n_per_class=12, classes=("a", "b", "c")):
    """Grey 24 px images with a class-specific bright band."""
    rng = np.random.default_rng(0)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, (24, 24), dtype=np.uint8)
            img[k * 8 : k * 8 + 8, :] += 150
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A store with two linear tiny-cnn fits (32 px and 24 px input), a search record as the
    ensemble's parent, and the ensemble of the two (0.7 / 0.3) evaluated on every image."""
    root = tmp_path_factory.mktemp("ensemble")
    store = RunStore(root / "tk_home")
    data = _folder(root / "data")
    a = transferkit.fit(str(data), image_size=32, store=store, **FAST)
    b = transferkit.fit(str(data), image_size=24, store=store, **FAST)
    search = store.create("auto", {"data": str(data)})
    store.finish(search, metrics={}, timings={})
    dataset = load_dataset(str(data))
    test = np.arange(len(dataset))
    members = [
        {"run": a.run_id, "weight": WEIGHTS[0], "label": "linear tiny-cnn @32px", "config": "c32"},
        {"run": b.run_id, "weight": WEIGHTS[1], "label": "linear tiny-cnn @24px", "config": "c24"},
    ]
    ens = record_ensemble(
        store, dataset, members, test=test, device=torch.device("cpu"), parent=search
    )
    return dict(
        store=store, data=data, a=a, b=b, ens=ens, search=search, dataset=dataset, test=test
    )


def _probabilities(rows: list[dict], classes: list[str]) -> np.ndarray:
    return np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])


def _average(made, inputs) -> tuple[np.ndarray, list[str]]:
    """The weighted average of the two members' own predictions for ``inputs``."""
    rows_a = predict(made["a"].run_id, inputs, store=made["store"])
    rows_b = predict(made["b"].run_id, inputs, store=made["store"])
    classes = made["ens"].classes
    return WEIGHTS[0] * _probabilities(rows_a, classes) + WEIGHTS[1] * _probabilities(
        rows_b, classes
    ), [r["item"] for r in rows_a]


def test_predict_run_ensemble_is_the_weighted_average_of_its_members(made):
    inputs = str(made["data"] / "b")
    expected, items = _average(made, inputs)
    rows = predict(made["ens"].run_id, inputs, store=made["store"])
    assert [r["item"] for r in rows] == items
    got = _probabilities(rows, made["ens"].classes)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    # the two members disagree (on the log scale: both are confident), so the blend is
    # neither of them
    for run in (made["a"].run_id, made["b"].run_id):
        single = _probabilities(predict(run, inputs, store=made["store"]), made["ens"].classes)
        assert np.abs(np.log(single) - np.log(expected)).max() > 0.05
    assert [r["prediction"] for r in rows] == [
        made["ens"].classes[int(i)] for i in expected.argmax(1)
    ]


@pytest.mark.slow
def test_cli_predict_run_ensemble_is_the_weighted_average(made):
    inputs = str(made["data"] / "c")
    expected, items = _average(made, inputs)
    home = {"TRANSFERKIT_HOME": str(made["store"].root)}
    p = run_cli("predict", "--run", made["ens"].run_id, inputs, env_extra=home, check=0)
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [r["item"] for r in rows] == items
    got = _probabilities(rows, made["ens"].classes)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_record_ensemble_metrics_are_those_of_the_blended_probabilities(made):
    store, dataset, test, ens = made["store"], made["dataset"], made["test"], made["ens"]
    probas = []
    for run in (made["a"].run_id, made["b"].run_id):
        model, _, _ = load_run_model(run, store)
        probas.append(softmax(predict_logits(model, dataset, test, shard=False)))
    blend = WEIGHTS[0] * probas[0] + WEIGHTS[1] * probas[1]
    want = classification_metrics(dataset.labels[test], blend, dataset.classes, prefix="test_")
    assert ens.metrics["test_accuracy"] == pytest.approx(want["test_accuracy"])
    assert ens.metrics["test_nll"] == pytest.approx(want["test_nll"], rel=1e-4)
    assert store.get(ens.run_id).metrics["test_accuracy"] == pytest.approx(want["test_accuracy"])
    with np.load(ens.artifact_dir / PREDICTIONS, allow_pickle=False) as z:
        np.testing.assert_allclose(z["proba"], blend, atol=1e-5)
        assert list(z["indices"]) == list(test)


def test_the_ensemble_is_one_run_with_its_members_linked(made):
    store, ens = made["store"], made["ens"]
    rec = store.get(ens.run_id)
    assert (rec.kind, rec.status, rec.parent) == ("ensemble", "done", made["search"])
    children = [r.id for r in store.list(limit=None) if r.parent == made["search"]]
    assert children == [ens.run_id]  # one run for the ensemble, under its search
    members = rec.extra["members"]
    assert [(m["run"], m["weight"]) for m in members] == [
        (made["a"].run_id, WEIGHTS[0]),
        (made["b"].run_id, WEIGHTS[1]),
    ]
    assert [m["config"] for m in members] == ["c32", "c24"]
    assert all(0 <= m["test_accuracy"] <= 1 for m in members)
    t = rec.extra["prediction_time"]
    assert t["heaviest_member"] == made["a"].run_id and t["items"] == len(made["test"])
    assert t["ratio"] == pytest.approx(
        t["seconds_per_item"] / t["heaviest_member_seconds_per_item"]
    )
    assert t["seconds_per_item"] > t["heaviest_member_seconds_per_item"] > 0
    model, classes, _ = load_run_model(ens.run_id, store)
    assert isinstance(model, EnsembleModel) and classes == ens.classes
    assert model.weights == pytest.approx(WEIGHTS) and model.runs == [m["run"] for m in members]
    assert model.data_config.input_size == (3, 32, 32)  # the heaviest member's
    assert not (ens.artifact_dir / "model" / "model.safetensors").exists()  # no weights of its own


def test_explain_attributes_the_averaged_prediction_of_an_image_ensemble(made):
    store, ens = made["store"], made["ens"]
    res = transferkit.explain(
        ens.run_id, str(made["data"] / "a"), method="ig", ig_steps=8, store=store
    )
    assert len(res.rows) == 12 and res.method == "ig"
    assert all(m.shape == (32, 32) and np.isfinite(m).all() and m.max() > 0 for m in res.maps)
    expected, _ = _average(made, str(made["data"] / "a"))
    # the explained prediction is the ensemble's: the averaged one (forward resizes the 32 px
    # input for the 24 px member, so it is close to, not exactly, predict's)
    conf = np.array([r["confidence"] for r in res.rows])
    assert np.abs(conf - expected.max(1)).max() < 0.05
    assert "member run" in " ".join(res.transfer["notes"])
    assert store.get(res.run_id).parent == ens.run_id
    with pytest.raises(UserError, match="Grad-CAM family .* Methods that apply: ig"):
        transferkit.explain(ens.run_id, str(made["data"] / "a"), method="gradcam", store=store)


def test_report_shows_the_ensemble_as_one_model_with_members_and_weights(made, tmp_path):
    ens, store = made["ens"], made["store"]
    _, md = build_report(load_records([ens.run_id], store), tmp_path / "report")
    text = md.read_text()
    assert "ensemble of 2 models" in text
    for run, w in ((made["a"].run_id, "0.700"), (made["b"].run_id, "0.300")):
        assert run in text and w in text
    assert "heaviest member" in text and "Prediction time per item" in text
    assert f"transferkit runs show {made['search']}" in text  # how to make it again


@pytest.mark.slow
def test_runs_show_and_list_an_ensemble(made):
    ens = made["ens"]
    home = {"TRANSFERKIT_HOME": str(made["store"].root)}
    show = run_cli("runs", "show", ens.run_id, env_extra=home, check=0).stdout
    for run, w in ((made["a"].run_id, "0.700"), (made["b"].run_id, "0.300")):
        assert run in show and w in show
    assert "Prediction time per item" in show and "heaviest member" in show
    assert f"transferkit runs show {made['search']}" in show
    listing = run_cli("runs", "list", "--kind", "ensemble", env_extra=home, check=0).stdout
    assert ens.run_id[-4:] in listing and "ensemble" in listing


@pytest.mark.slow
def test_a_deleted_member_folder_gives_exit_2_naming_it(made):
    """A second ensemble (recorded without a test split) whose member run is then deleted."""
    store, data = made["store"], made["data"]
    c = transferkit.fit(str(data), image_size=28, store=store, **FAST)
    members = [{"run": made["a"].run_id, "weight": 0.5}, {"run": c.run_id, "weight": 0.5}]
    ens = record_ensemble(
        store, made["dataset"], members, test=np.array([], np.int64), device=torch.device("cpu")
    )
    assert store.get(ens.run_id).status == "done" and ens.metrics == {}
    home = {"TRANSFERKIT_HOME": str(store.root)}
    run_cli("runs", "delete", c.run_id, env_extra=home, check=0)
    p = run_cli("predict", "--run", ens.run_id, str(data / "a"), env_extra=home)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert c.run_id in p.stderr and "member run" in p.stderr and "search" in p.stderr


def test_members_must_have_weights_summing_to_one(made):
    members = [{"run": made["a"].run_id, "weight": 0.5}, {"run": made["b"].run_id, "weight": 0.2}]
    with pytest.raises(ValueError, match="sum to 1"):
        record_ensemble(
            made["store"], made["dataset"], members, test=made["test"], device=torch.device("cpu")
        )


def test_an_ensemble_is_refused_as_a_source_model_naming_its_members(made):
    r = run_cli(
        "fit",
        "--data",
        str(made["data"]),
        "--model",
        f"run:{made['ens'].run_id}",
        "--strategy",
        "linear",
        env_extra={"TRANSFERKIT_HOME": str(made["store"].root)},
    )
    assert r.returncode == 2, r.stderr
    assert "holds an ensemble" in r.stderr and made["a"].run_id in r.stderr
    assert "Traceback" not in r.stderr
