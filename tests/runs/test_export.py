"""``transferkit.export`` end to end on real tiny runs: image (tiny-cnn on UCI digits), text
(MiniLM on a small topic table), LoRA (a tiny BERT, merged), ensembles (one graph, and members
of different input sizes), int8 and TorchScript; each folder read back by the torch-free
runtime and compared with ``predict --run``; parity.json; a failed parity leaves nothing; runs
that cannot be exported are refused by name."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from adapt_data import SMALL, write_domains
from PIL import Image
from textkit import topic_rows, write_csv

import transferkit
from transferkit.data import load_dataset
from transferkit.errors import UserError
from transferkit.runs.ensemble import record_ensemble
from transferkit.runs.export import _calibration
from transferkit.runs.predict import predict
from transferkit.runtime import Predictor
from transferkit.shipping.parity import FP32_TOLERANCE
from transferkit.store import RunStore

FAST = dict(model="tiny-cnn", image_size=32, epochs=2, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("export") / "tk_home")


@pytest.fixture(scope="module")
def image_run(store):
    return transferkit.fit(
        "builtin:digits", strategy="linear", labels_per_class=20, store=store, **FAST
    )


@pytest.fixture(scope="module")
def text_run(store, tmp_path_factory):
    data = write_csv(tmp_path_factory.mktemp("text") / "t.csv", topic_rows(8))
    r = transferkit.fit(str(data), model="minilm-l6", strategy="linear", seed=0, store=store)
    return r, data


def _probabilities(rows: list[dict], classes: list[str]) -> np.ndarray:
    return np.array([[r[f"p_{c}"] for c in classes] for r in rows])


def test_an_image_run_exports_and_the_runtime_predicts_as_the_run(image_run, store, tmp_path):
    res = transferkit.export(image_run.run_id, tmp_path / "digits", store=store)
    folder = tmp_path / "digits"
    assert res.folder == folder and res.run_id == image_run.run_id
    assert set(res.files) == {"README.md", "config.json", "model.onnx", "parity.json"}
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "transferkit-export" and config["format_version"] == 1
    assert config["classes"] == image_run.classes and config["modality"] == "image"
    assert config["inputs"] == [
        {"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, 32, 32]}
    ]
    assert config["preprocessing"]["input_size"] == [3, 32, 32]
    assert len(config["preprocessing"]["mean"]) == 3 and config["quantized"] is None
    assert config["source"] == {
        "run": image_run.run_id,
        "kind": "fit",
        "strategy": "linear",
        "model": "tiny-cnn",
    }
    graph = onnx.load(str(folder / "model.onnx"))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert graph.opset_import[0].version == config["opset"]
    # the runtime on raw images gives what `predict --run` gives, at any batch size
    data = load_dataset("builtin:digits")
    images = [data.load(i) for i in range(40)]
    rows = predict(image_run.run_id, data, store=store)[:40]
    expected = _probabilities(rows, image_run.classes)
    got = Predictor(folder).predict_proba(images, batch_size=7)
    np.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE)
    np.testing.assert_allclose(Predictor(folder).predict_proba(images[:1], 1), got[:1], atol=1e-6)


def test_parity_json_holds_the_comparison_on_the_test_split(image_run, store, tmp_path):
    res = transferkit.export(image_run.run_id, tmp_path / "d", parity_examples=50, store=store)
    p = json.loads((tmp_path / "d" / "parity.json").read_text())
    assert p == res.parity
    test_size = store.get(image_run.run_id).extra["splits"]["test"]
    assert p["inputs"]["n"] == 50 and p["inputs"]["of"] == test_size
    assert p["inputs"]["source"] == "the run's test split" and p["inputs"]["data_unchanged"]
    fp32 = p["fp32"]
    assert fp32["passed"] and fp32["n"] == 50 and fp32["argmax_agreement"] == 1.0
    assert 0 <= fp32["mean_abs_diff"] <= fp32["max_abs_diff"] <= fp32["tolerance"]
    assert fp32["tolerance"] == FP32_TOLERANCE and "float32" in fp32["tolerance_why"]
    assert fp32["accuracy_export"] == fp32["accuracy_torch"]
    assert "int8" not in p
    # the same seeded sample each time
    again = transferkit.export(image_run.run_id, tmp_path / "e", parity_examples=50, store=store)
    assert again.parity["fp32"]["accuracy_torch"] == fp32["accuracy_torch"]
    card = (tmp_path / "d" / "README.md").read_text()
    for part in (image_run.run_id, "95% interval", "builtin:digits", "linear", "Parity"):
        assert part in card


def test_a_failed_parity_check_leaves_no_folder(image_run, store, tmp_path):
    with pytest.raises(UserError, match="does not match run .* Nothing was written"):
        transferkit.export(image_run.run_id, tmp_path / "x", tolerance=0.0, store=store)
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder either
    # --force over an existing folder: the old content survives a failed export
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="does not match"):
        transferkit.export(
            image_run.run_id, tmp_path / "old", tolerance=0.0, force=True, store=store
        )
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert (tmp_path / "old" / "keep.txt").read_text() == "mine"
    # and a successful one replaces it whole
    transferkit.export(image_run.run_id, tmp_path / "old", force=True, store=store)
    assert not (tmp_path / "old" / "keep.txt").exists()
    assert (tmp_path / "old" / "model.onnx").is_file()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_export_is_the_run_model(image_run, store, tmp_path):
    res = transferkit.export(image_run.run_id, tmp_path / "ts", format="torchscript", store=store)
    assert "model.pt" in res.files and "model.onnx" not in res.files
    module = torch.jit.load(str(tmp_path / "ts" / "model.pt"))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = torch.softmax(image_run.model.eval()(x), 1)
        np.testing.assert_allclose(module(x).numpy(), expected.numpy(), atol=1e-5)
    assert res.parity["fp32"]["passed"]
    with pytest.raises(UserError, match="TorchScript"):
        Predictor(tmp_path / "ts")  # the runtime reads ONNX only, and says so


def test_a_text_run_exports_with_its_tokenizer_and_int8(text_run, store, tmp_path):
    run, data = text_run
    res = transferkit.export(run.run_id, tmp_path / "t", store=store)
    folder = tmp_path / "t"
    assert (folder / "tokenizer" / "tokenizer.json").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert [i["name"] for i in config["inputs"]] == [
        "input_ids",
        "token_type_ids",
        "attention_mask",
    ]
    assert config["inputs"][0]["shape"] == ["batch", "sequence"]
    assert config["preprocessing"] == {"tokenizer": "tokenizer", "max_length": 256}
    texts = [r["text"] for r in topic_rows(8)][:12] + ["a much longer text " * 40]
    rows = predict(run.run_id, str(data), store=store)
    dataset = load_dataset(str(data))
    expected = _probabilities(rows, run.classes)
    got = Predictor(folder).predict_proba([dataset.load(i) for i in range(len(dataset))])
    np.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE)
    assert Predictor(folder).predict_proba(texts).shape == (13, 3)
    assert res.parity["fp32"]["passed"]
    q = transferkit.export(run.run_id, tmp_path / "q", quantize="int8", store=store)
    assert json.loads((tmp_path / "q" / "config.json").read_text())["quantized"] == "int8"
    assert (tmp_path / "q" / "model.onnx").stat().st_size < (
        folder / "model.onnx"
    ).stat().st_size / 3
    int8 = q.parity["int8"]
    assert int8["passed"] and int8["max_abs_diff"] > q.parity["fp32"]["max_abs_diff"]
    assert int8["accuracy_change_points"] == pytest.approx(
        100 * (int8["accuracy_int8"] - int8["accuracy_fp32"])
    )
    assert "changed the accuracy on these inputs" in (tmp_path / "q" / "README.md").read_text()


def test_a_lora_run_exports_with_its_adapters_merged(tiny_bert, topics_csv, store, tmp_path):
    r = transferkit.fit(
        str(topics_csv),
        model=f"hf:{tiny_bert}",
        strategy="lora",
        lora_rank=4,
        lora_alpha=8,
        lr=5e-3,
        epochs=2,
        batch_size=8,
        seed=0,
        store=store,
    )
    res = transferkit.export(r.run_id, tmp_path / "lora", store=store)
    graph = onnx.load(str(tmp_path / "lora" / "model.onnx"))
    assert not [t.name for t in graph.graph.initializer if "lora" in t.name.lower()]
    assert res.parity["fp32"]["passed"] and res.config["source"]["strategy"] == "lora"
    dataset = load_dataset(str(topics_csv))
    expected = _probabilities(predict(r.run_id, dataset, store=store), r.classes)
    texts = [dataset.load(i) for i in range(len(dataset))]
    got = Predictor(tmp_path / "lora").predict_proba(texts)
    np.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE)


def _bands(root, n_per_class=10):
    rng = np.random.default_rng(0)
    for k, c in enumerate("abc"):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, (24, 24), dtype=np.uint8)
            img[k * 8 : k * 8 + 8, :] += 150
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def test_ensembles_export_as_one_graph_or_as_members(store, tmp_path):
    data = _bands(tmp_path / "data")
    opts = dict(FAST, strategy="linear", store=store)
    a = transferkit.fit(str(data), **opts)
    b = transferkit.fit(str(data), **{**opts, "image_size": 24})
    c = transferkit.fit(str(data), **{**opts, "seed": 1})
    dataset = load_dataset(str(data))
    test = np.arange(len(dataset))
    for other, layout in ((c, "one"), (b, "members")):
        members = [{"run": a.run_id, "weight": 0.7}, {"run": other.run_id, "weight": 0.3}]
        ens = record_ensemble(store, dataset, members, test=test, device=torch.device("cpu"))
        res = transferkit.export(ens.run_id, tmp_path / layout, store=store)
        config = json.loads((tmp_path / layout / "config.json").read_text())
        if layout == "one":
            assert "model.onnx" in res.files and config["members"] is None
        else:
            assert "model_file" not in config and "members/1/model.onnx" in res.files
            assert [m["weight"] for m in config["members"]] == [0.7, 0.3]
        expected = _probabilities(predict(ens.run_id, dataset, store=store), ens.classes)
        got = Predictor(tmp_path / layout).predict_proba([dataset.load(i) for i in test])
        np.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE)
        card = (tmp_path / layout / "README.md").read_text()
        assert "## Ensemble" in card and a.run_id in card and other.run_id in card


def test_a_search_exports_its_winner(image_run, store, tmp_path):
    search = store.create("auto", {"data": "builtin:digits"})
    store.update(search, status="done", extra={"winner_run": image_run.run_id, "why": "best"})
    res = transferkit.export(search, tmp_path / "w", parity_examples=20, store=store)
    assert res.run_id == image_run.run_id


def test_runs_without_a_model_to_export_are_refused(image_run, store, tmp_path):
    running = store.create("fit", {"data": "builtin:digits"})
    with pytest.raises(UserError, match=f"{running} .*is running.*finished"):
        transferkit.export(running, tmp_path / "a", store=store)
    store.fail(running, "boom")
    with pytest.raises(UserError, match="is failed"):
        transferkit.export(running, tmp_path / "a", store=store)
    pre = store.create("pretrain", {"data": "builtin:digits"})
    store.finish(pre)
    with pytest.raises(UserError, match="pretrain run.*`transferkit fit`, run:"):
        transferkit.export(pre, tmp_path / "a", store=store)
    rank = store.create("rank", {})
    store.finish(rank)
    with pytest.raises(UserError, match="rank run"):
        transferkit.export(rank, tmp_path / "a", store=store)
    assert not (tmp_path / "a").exists()


def test_bad_options_are_refused_before_any_work(image_run, store, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(UserError, match="not empty.*--force"):
        transferkit.export(image_run.run_id, tmp_path / "full", store=store)
    with pytest.raises(UserError, match="--quantize int8 works on ONNX"):
        transferkit.export(
            image_run.run_id, tmp_path / "n", format="torchscript", quantize="int8", store=store
        )
    with pytest.raises(UserError, match=r"opset 99 is not supported.*between 7 and \d+"):
        transferkit.export(image_run.run_id, tmp_path / "n", opset=99, store=store)
    assert not (tmp_path / "n").exists()
    res = transferkit.export(image_run.run_id, tmp_path / "o13", opset=13, store=store)
    assert onnx.load(str(tmp_path / "o13" / "model.onnx")).opset_import[0].version == 13
    assert res.config["opset"] == 13


def test_zeroshot_and_adapt_runs_export(topics_csv, store, tmp_path):
    z = transferkit.zeroshot(str(topics_csv), model="minilm-l6", store=store)
    res = transferkit.export(z.run_id, tmp_path / "z", store=store)
    assert res.config["source"]["kind"] == "zeroshot" and res.config["classes"] == z.classes
    p = res.parity
    assert p["inputs"]["source"] == "the run's test split" and p["fp32"]["passed"]
    assert p["fp32"]["accuracy_torch"] is not None
    src, tgt = write_domains(tmp_path / "domains")
    a = transferkit.adapt(src, tgt, method="dann", store=store, **SMALL)
    res = transferkit.export(a.run_id, tmp_path / "a", store=store)
    assert res.config["source"]["kind"] == "adapt"
    assert res.parity["inputs"]["source"] == "the run's data"  # the target domain, all of it
    assert res.parity["fp32"]["passed"] and "accuracy_export" in res.parity["fp32"]


def test_static_int8_quantises_the_convolutions_on_training_images(image_run, store, tmp_path):
    # random-init tiny-cnn features under a linear probe: dynamic int8 (one activation scale per
    # batch) breaks them; calibrated static int8 with the tail in float keeps them
    res = transferkit.export(image_run.run_id, tmp_path / "q", quantize="int8", store=store)
    int8 = res.parity["int8"]
    assert int8["passed"] and int8["quantized_operators"].startswith("static")
    assert len(int8["tries"]) == 1 and int8["calibration_inputs"] == 256
    graph = onnx.load(tmp_path / "q" / "model.onnx").graph
    made = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    heads = [n for n in graph.node if n.op_type == "Gemm"]
    assert convs and all(made[n.input[1]].op_type == "DequantizeLinear" for n in convs)
    assert heads and all(made[n.input[0]].op_type != "DequantizeLinear" for n in heads)
    assert "accuracy_change_points" in int8


def test_calibration_images_come_from_outside_the_test_split():
    data = load_dataset("builtin:digits", validate=False)
    test = np.arange(0, len(data), 3)
    picked = _calibration(data, test)
    assert len(picked) == 256 and not set(picked) & set(test)
    assert (_calibration(data, test) == picked).all()  # seeded
    everything = np.arange(len(data))  # no test split recorded: the data itself
    assert set(_calibration(data, everything)) <= set(everything)


def test_int8_that_fails_parity_every_way_is_refused_naming_the_tries(image_run, store, tmp_path):
    with pytest.raises(UserError, match=r"int8 .*tried: static.*; dynamic, all.*; dynamic, MatMul"):
        transferkit.export(
            image_run.run_id, tmp_path / "q", quantize="int8", int8_tolerance=0.0, store=store
        )
    assert list(tmp_path.iterdir()) == []
