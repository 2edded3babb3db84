"""Text tables: formats, columns, bad rows, encodings, fingerprints, tokenisation batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from textkit import topic_rows, write_csv

from transferkit.data import TextDataset, load_dataset, make_splits
from transferkit.data.batches import TextCollate, examples, truncation
from transferkit.errors import UserError


def test_csv_tsv_jsonl_parquet_and_txt_read_the_same_texts(tmp_path):
    rows = topic_rows(4)
    csv_ds = load_dataset(str(write_csv(tmp_path / "a.csv", rows)))
    tsv_ds = load_dataset(str(write_csv(tmp_path / "a.tsv", rows, delimiter="\t")))
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    jsonl_ds = load_dataset(str(tmp_path / "a.jsonl"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]}),
        tmp_path / "a.parquet",
    )
    pq_ds = load_dataset(str(tmp_path / "a.parquet"))
    for ds in (csv_ds, tsv_ds, jsonl_ds, pq_ds):
        assert isinstance(ds, TextDataset) and ds.modality == "text"
        assert ds.texts == [r["text"] for r in rows]
        assert ds.classes == ["politics", "sports", "technology"]
        assert [ds.classes[k] for k in ds.labels] == [r["label"] for r in rows]
    # same content, same fingerprint, whatever the file format
    assert len({ds.fingerprint for ds in (csv_ds, tsv_ds, jsonl_ds, pq_ds)}) == 1
    (tmp_path / "a.txt").write_text("first text\n\nsecond text\n")
    txt = load_dataset(str(tmp_path / "a.txt"))
    assert txt.texts == ["first text", "second text"] and txt.labels is None


def test_named_columns_and_fingerprint_follows_content(tmp_path):
    rows = [
        {"id": str(i), "body": r["text"], "topic": r["label"]} for i, r in enumerate(topic_rows(3))
    ]
    path = write_csv(tmp_path / "b.csv", rows)
    ds = load_dataset(str(path), text_column="body", label_column="topic")
    assert ds.texts[0] == rows[0]["body"] and ds.num_classes == 3
    rows[0]["body"] += " changed"
    other = load_dataset(
        str(write_csv(tmp_path / "c.csv", rows)), text_column="body", label_column="topic"
    )
    assert other.fingerprint != ds.fingerprint


def test_missing_columns_list_the_columns_that_exist(tmp_path):
    path = write_csv(
        tmp_path / "d.csv", [{"body": "x y", "topic": "a"}, {"body": "z", "topic": "b"}]
    )
    with pytest.raises(UserError, match="'body', 'topic'"):
        load_dataset(str(path), text_column="txt")
    with pytest.raises(
        UserError, match="no label column 'category'; its columns are: 'body', 'topic'"
    ):
        load_dataset(str(path), text_column="body", label_column="category")


def test_empty_texts_are_skipped_and_listed_or_refused_under_strict(tmp_path):
    rows = topic_rows(3) + [{"text": "   ", "label": "sports"}, {"text": "", "label": "politics"}]
    path = write_csv(tmp_path / "e.csv", rows)
    ds = load_dataset(str(path))
    assert len(ds) == 9 and len(ds.skipped) == 2
    assert {s.reason for s in ds.skipped} == {"empty or whitespace-only text"}
    with pytest.raises(UserError, match="whitespace-only text"):
        load_dataset(str(path), strict=True)


def test_non_utf8_file_is_a_user_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,a\nthé,b\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_dataset(str(path))


def test_label_set_of_one_is_refused(tmp_path):
    path = write_csv(tmp_path / "one.csv", [{"text": f"text {i}", "label": "a"} for i in range(5)])
    with pytest.raises(UserError, match="single class"):
        load_dataset(str(path))


def test_image_manifest_is_still_an_image_manifest(tmp_path):
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / f"{i}.png")
    write_csv(
        tmp_path / "m.csv", [{"path": "0.png", "label": "a"}, {"path": "1.png", "label": "b"}]
    )
    ds = load_dataset(str(tmp_path / "m.csv"), validate=False)
    assert ds.modality == "image"


def test_splits_work_on_text(topics_csv):
    ds = load_dataset(str(topics_csv))
    s = make_splits(ds, seed=0, labels_per_class=4)
    assert len(s.train) + len(s.val) == 12 and len(s.test) > 0


def test_collate_pads_dynamically_and_truncates(tiny_bert):
    from transferkit.zoo import create_backbone

    b = create_backbone(f"hf:{tiny_bert}", max_length=8)
    ds = TextDataset(
        ["game", "game team score goal player match win season coach league"],
        np.array([0, 1]),
        ["a", "b"],
    )
    items, collate = examples(ds, None, b.data_config)
    assert isinstance(collate, TextCollate)
    x, y = collate([items[0]])
    assert x["input_ids"].shape == (1, 3)  # [CLS] game [SEP]: padded to the batch only
    x, y = collate([items[0], items[1]])
    assert x["input_ids"].shape == (2, 8) and y.tolist() == [0, 1]
    assert x["attention_mask"][0].sum() == 3
    t = truncation(ds, b.data_config)
    assert t == {"truncated": 1, "texts": 2, "max_length": 8, "longest": 12}


def test_split_column_marks_the_official_test_set(tmp_path):
    rows = [dict(r, split="test" if i % 3 == 0 else "train") for i, r in enumerate(topic_rows(6))]
    ds = load_dataset(str(write_csv(tmp_path / "s.csv", rows)))
    s = make_splits(ds, seed=0)
    assert set(s.test) == {i for i in range(len(rows)) if i % 3 == 0}
