"""`transferkit rank` and `transferkit similarity` through real subprocesses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from sklearn.datasets import load_digits

from transferkit.cli import main
from transferkit.store import RunStore

SMALL = ["--image-size", "16", "--max-examples", "60"]


def _npz(path, invert=False, one_class=False):
    d = load_digits()
    x = np.rint(d.images * 255 / 16).astype(np.uint8)
    y = d.target
    if invert:
        x = 255 - x
    if one_class:
        x, y = x[y == 3], y[y == 3]
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.mark.slow
def test_rank_json_then_table(capsys):
    p = run_cli(
        "rank",
        "--data",
        "builtin:digits",
        "--models",
        "tiny-cnn,no-such-model",
        "--scores",
        "hscore,logme,leep",
        *SMALL,
        "--json",
        check=0,
    )
    out = json.loads(p.stdout)
    rows = {r["model"]: r for r in out["rows"]}
    assert out["primary"] == "hscore" and out["order"] == ["tiny-cnn"]
    assert rows["tiny-cnn"]["status"] == "ok" and rows["tiny-cnn"]["scores"]["logme"] is not None
    assert rows["tiny-cnn"]["scores"]["leep"] is None
    assert "source head" in rows["tiny-cnn"]["empty"]["leep"]
    assert rows["no-such-model"]["status"] == "failed"
    # the table, in-process (same entry point; features now come from the shared cache)
    code = main(
        [
            "rank",
            "--data",
            "builtin:digits",
            "--models",
            "tiny-cnn,no-such-model",
            "--score",
            "knn",
            "--scores",
            "logme,leep",
            "--knn-k",
            "3",
            *SMALL,
        ]
    )
    table = capsys.readouterr().out
    assert code == 0 and "by knn" in table and "leep: tiny-cnn has no source head" in table
    assert "failed" in table and "Unknown backbone 'no-such-model'" in table
    assert "best by knn: tiny-cnn" in table
    runs = RunStore().list(kind="rank")
    assert len(runs) == 2 and {r.status for r in runs} == {"done"}
    assert runs[0].config["options"]["knn_k"] == 3


@pytest.mark.slow
def test_similarity_json(tmp_path):
    target = _npz(tmp_path / "inverted.npz", invert=True)
    p = run_cli(
        "similarity",
        "--source",
        "builtin:digits",
        "--target",
        target,
        "--model",
        "tiny-cnn",
        "--image-size",
        "16",
        "--max-examples",
        "80",
        "--permutations",
        "40",
        "--json",
        check=0,
    )
    out = json.loads(p.stdout)
    assert out["n_source"] == out["n_target"] == 80 and out["mmd2"] > 0
    assert abs(out["p_value"] - 1 / 41) < 1e-9 and out["proxy_a_distance"] > 1
    assert sorted(out["class_mmd"]) == [str(i) for i in range(10)]
