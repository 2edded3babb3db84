"""explain on text runs (a tiny random BERT, finetune and LoRA): token attributions through the
embedding layer, complete up to Captum's delta; the token page escapes HTML; what fine-tuning
changed, LoRA adapters merged; image methods refused naming the one that applies."""

from __future__ import annotations

import html as htmllib
import json

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image
from textkit import topic_rows, write_csv

import transferkit
from transferkit.errors import UserError
from transferkit.store import RunStore

EVIL_CLASS = "<b>sports</b>"
EVIL_TEXT = '<script>alert("x")</script> game team score & win'


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("text")
    rows = [
        {**r, "label": EVIL_CLASS if r["label"] == "sports" else r["label"]} for r in topic_rows(16)
    ]
    data = write_csv(root / "topics.csv", rows)
    inputs = write_csv(
        root / "inputs.csv",
        [
            {"text": EVIL_TEXT, "label": EVIL_CLASS},
            {"text": "the election vote and the minister", "label": "politics"},
            {"text": "software code and data on the network", "label": "technology"},
        ],
    )
    store = RunStore(root / "tk_home")
    fast = dict(model=f"hf:{tiny_bert}", epochs=3, batch_size=8, seed=0, lr=5e-3, store=store)
    finetune = transferkit.fit(str(data), strategy="finetune", **fast)
    lora = transferkit.fit(str(data), strategy="lora", lora_rank=4, **fast)
    return {"store": store, "finetune": finetune, "lora": lora, "inputs": inputs, "root": root}


def test_token_attributions_are_complete_and_the_page_escapes_html(text_runs):
    store, run = text_runs["store"], text_runs["finetune"]
    res = transferkit.explain(run.run_id, str(text_runs["inputs"]), ig_steps=64, store=store)
    assert res.method == "ig" and len(res.rows) == 3
    assert res.deltas is not None and np.abs(res.deltas).max() < 0.02
    assert [len(m) for m in res.maps] == [len(t) for t in res.tokens]
    assert res.tokens[1][0] == "[CLS]" and "election" in res.tokens[1]
    assert all(r["top_tokens"] for r in res.rows)
    page = (res.artifact_dir / "tokens.html").read_text()
    assert "<script" not in page and "<b>sports" not in page
    assert htmllib.escape(EVIL_TEXT) in page and htmllib.escape(EVIL_CLASS) in page
    assert {r["true"] for r in res.rows} == {EVIL_CLASS, "politics", "technology"}
    t = res.transfer
    assert t["analysed"] and len(t["blocks"]) == 3  # embeddings, two layers
    assert all(b["weight_change"] > 0 for b in t["blocks"]) and t["reading"]


def test_lora_runs_are_explained_with_their_adapters_merged(text_runs):
    store, run = text_runs["store"], text_runs["lora"]
    res = transferkit.explain(run.run_id, str(text_runs["inputs"]), store=store)
    assert len(res.rows) == 3 and np.isfinite(np.concatenate(res.maps)).all()
    blocks = res.transfer["blocks"]
    assert blocks[0]["weight_change"] == pytest.approx(0.0)  # embeddings: no adapters
    assert all(b["weight_change"] > 0 for b in blocks[1:])  # q, v adapters merged in
    assert all(b["cka"] is not None for b in blocks)


def test_image_methods_are_refused_for_text_naming_the_one_that_applies(text_runs):
    store, run = text_runs["store"], text_runs["finetune"]
    with pytest.raises(
        UserError,
        match=r"gradcam explains image inputs, not text.*"
        r"Methods that apply: ig",
    ):
        transferkit.explain(run.run_id, str(text_runs["inputs"]), method="gradcam", store=store)


@pytest.mark.slow
def test_cli_refuses_another_modality_and_a_method_that_does_not_apply(text_runs):
    root, run = text_runs["root"], text_runs["finetune"].run_id
    (root / "images").mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (i, 9, 9)).save(root / "images" / f"{i}.png")
    env = {"TRANSFERKIT_HOME": str(text_runs["store"].root)}
    for args, words in (
        ([str(root / "images")], ("reads text inputs", "holds image", "Give texts")),
        (["--method", "occlusion", str(text_runs["inputs"])], ("Methods that apply: ig",)),
    ):
        p = run_cli("explain", "--run", run, *args, env_extra=env)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.count("\n") == 1 and all(w in p.stderr for w in words), p.stderr
    ok = run_cli(
        "explain",
        "--run",
        run,
        str(text_runs["inputs"]),
        "--no-transfer",
        "--json",
        env_extra=env,
        check=0,
    )
    out = json.loads(ok.stdout)
    assert out["method"] == "ig" and len(out["rows"]) == 3 and out["transfer"] is None
