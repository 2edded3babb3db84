"""Zero-shot and few-shot prototype classification: text with MiniLM, images with a tiny
random CLIP (the code path; no CLIP weights exist offline), and the bad inputs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from textkit import topic_rows, write_csv

import transferkit
from transferkit.errors import UserError
from transferkit.runs.zeroshot import zeroshot
from transferkit.store import RunStore
from transferkit.strategies.zeroshot import parse_labels


def test_minilm_zero_shot_is_far_above_chance_and_recorded(topics_csv, tmp_path):
    r = zeroshot(str(topics_csv), model="minilm-l6")
    assert r.metrics["test_accuracy"] >= 0.8  # chance: 1/3
    rec = RunStore().get(r.run_id)
    assert rec.kind == "zeroshot" and rec.status == "done"
    assert rec.extra["templates"] == ["This text is about {}."]
    with open(r.predictions_file) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == r.n_examples == r.metrics["test_n"]  # the evaluated (test) examples
    assert {"item", "prediction", "label", "p_sports"} <= set(rows[0])
    # the saved classifier predicts what the run predicted
    pred = {p["item"]: p["prediction"] for p in transferkit.predict(r.run_id, str(topics_csv))}
    assert len(pred) == 36
    assert [pred[row["item"]] for row in rows] == [row["prediction"] for row in rows]
    unlabelled = write_csv(tmp_path / "u.csv", [{"text": r["text"]} for r in topic_rows(4)])
    everything = zeroshot(str(unlabelled), labels="sports,politics,technology")
    assert everything.n_examples == 12 and len(everything.rows) == 12  # all of it
    assert (
        np.mean([row["prediction"] == t["label"] for row, t in zip(everything.rows, topic_rows(4))])
        >= 0.8
    )


def test_few_shot_prototypes_and_label_descriptions(topics_csv):
    labels = "sports=sport games,politics=politics and elections,technology,weather"
    r = zeroshot(
        str(topics_csv),
        model="minilm-l6",
        labels=labels,
        shots=3,
        template="{}|A news story about {}.",
    )
    assert r.classes == ["sports", "politics", "technology", "weather"]
    assert r.descriptions[0] == "sport games"
    assert r.metrics["test_accuracy"] >= 0.8
    assert RunStore().get(r.run_id).extra["support"] == 9  # 3 shots x 3 classes in the data


def test_parse_labels():
    assert parse_labels("a, b=the b ,c") == [("a", "a"), ("b", "the b"), ("c", "c")]
    assert parse_labels(None) is None
    with pytest.raises(UserError, match="more than once"):
        parse_labels("a,b,a")


def test_zero_shot_bad_inputs(topics_csv, tmp_path):
    with pytest.raises(UserError, match="at least two classes"):
        zeroshot(str(topics_csv), labels="sports")
    with pytest.raises(UserError, match="'politics'.*does not name"):
        zeroshot(str(topics_csv), labels="sports,technology")
    unlabelled = write_csv(tmp_path / "u.csv", [{"text": "a game tonight"}, {"text": "votes"}])
    with pytest.raises(UserError, match="no --labels"):
        zeroshot(str(unlabelled))
    with pytest.raises(UserError, match=r"needs a \{\}"):
        zeroshot(str(topics_csv), template="no slot")
    with pytest.raises(UserError, match="image model"):
        zeroshot(str(topics_csv), model="tiny-cnn")


def _images(root, classes=("cat", "dog"), n=4):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
                root / c / f"{i}.png"
            )
    return root


def test_clip_zero_shot_on_images_code_path(tiny_clip, topics_csv, tmp_path):
    images = _images(tmp_path / "pets")
    model = f"hf:{tiny_clip}"
    r = zeroshot(str(images), model=model, labels="cat,dog,bird")
    assert r.classes == ["cat", "dog", "bird"] and "test_accuracy" in r.metrics
    rec = RunStore().get(r.run_id)
    assert rec.extra["templates"] == ["a photo of a {}."]
    pred = transferkit.predict(r.run_id, str(images / "cat"))
    assert len(pred) == 4 and {p["prediction"] for p in pred} <= {"cat", "dog", "bird"}
    # unlabelled images and no --labels: nothing to choose from
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in (images / "cat").iterdir():
        (flat / f.name).write_bytes(f.read_bytes())
    with pytest.raises(UserError, match="no labels and no --labels"):
        zeroshot(str(flat), model=model)
    ok = zeroshot(str(flat), model=model, labels="cat,dog")  # unlabelled: predictions only
    assert ok.metrics == {} and ok.predictions_file.is_file()
    with pytest.raises(UserError, match="cannot embed label descriptions"):
        zeroshot(str(images), model="tiny-cnn")
    with pytest.raises(UserError, match="image model"):
        zeroshot(str(topics_csv), model=model)
