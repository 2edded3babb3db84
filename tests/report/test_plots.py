"""Report plots: PNG bytes for normal and degenerate inputs, no pyplot state left behind."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from transferkit.report import efficiency_plots, plots

NASTY = ["<script>alert(1)</script>", "\"&'", "$x$ ^_ {", "a\\b$", "x" * 80]


def _image(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 100
    packed = img[..., 0].astype(np.int32) << 16 | img[..., 1].astype(np.int32) << 8 | img[..., 2]
    assert len(np.unique(packed)) > 10  # something was drawn
    return img


def _history(epochs: int) -> list[dict]:
    return [
        {
            "epoch": e + 1,
            "train_loss": 2.0 / (e + 1),
            "val_loss": 2.2 / (e + 1),
            "val_accuracy": 0.5 + 0.04 * e,
            "lr": 1e-3,
        }
        for e in range(epochs)
    ]


def test_learning_curves_many_and_single_epoch():
    _image(plots.learning_curves(_history(12), title="finetune on <data>"))
    single = _image(plots.learning_curves([{"epoch": 1, "val_accuracy": 0.9, "val_loss": 0.3}]))
    # the single point is drawn as a coloured marker, not an empty axis
    red = (single[..., 0] > 180) & (single[..., 1] < 80) & (single[..., 2] < 80)
    green = (single[..., 1] > 120) & (single[..., 0] < 90) & (single[..., 2] < 90)
    assert red.sum() > 10 and green.sum() > 10
    with pytest.raises(ValueError):
        plots.learning_curves([])


def test_data_efficiency_places_all_right_and_renders_a_single_point():
    rows = [
        {
            "strategy": s,
            "labels_per_class": b,
            "n": 3,
            "mean": m,
            "ci_low": m - 0.02,
            "ci_high": m + 0.02,
        }
        for s, base in (("linear", 0.6), ("finetune", 0.5))
        for b, m in ((10, base), (100, base + 0.2), ("all", base + 0.3))
    ]
    _image(plots.data_efficiency(rows))
    pos = efficiency_plots._budget_positions([10, 100, "all"])
    assert pos["all"] > pos[100] > pos[10]
    one = [
        {
            "strategy": "linear",
            "labels_per_class": "all",
            "n": 1,
            "mean": 0.9,
            "ci_low": None,
            "ci_high": None,
        }
    ]
    _image(plots.data_efficiency(one))
    _image(plots.data_efficiency([{**one[0], "labels_per_class": 10, "strategy": NASTY[2]}]))
    with pytest.raises(ValueError):
        plots.data_efficiency([{"strategy": "x", "labels_per_class": 10, "mean": float("nan")}])


@pytest.mark.parametrize("k", [2, 5, 20, 70])
def test_confusion_matrix_sizes_and_hostile_names(k):
    rng = np.random.default_rng(k)
    m = rng.integers(0, 5, (k, k)) + np.eye(k, dtype=int) * 20
    m[0] = 0  # a class with no test examples must not produce NaNs
    names = (NASTY * (k // len(NASTY) + 1))[:k]
    img = _image(plots.confusion_matrix(m.tolist(), names))
    assert img.shape[0] < 1800  # capped, still readable


def test_reliability_diagram_with_empty_bins_and_no_data():
    calib = {
        "bins": 15,
        "count": [0] * 10 + [3, 5, 8, 20, 64],
        "confidence": [None] * 10 + [0.7, 0.76, 0.83, 0.9, 0.98],
        "accuracy": [None] * 10 + [0.33, 0.6, 0.75, 0.95, 0.97],
    }
    _image(plots.reliability_diagram(calib))
    with pytest.raises(ValueError):
        plots.reliability_diagram(
            {"bins": 15, "count": [0] * 15, "confidence": [None] * 15, "accuracy": [None] * 15}
        )


def test_bar_chart():
    _image(
        plots.bar_chart(
            NASTY,
            [0.9, 0.5, 0.1, 0.0, 0.7],
            xlabel="score",
            highlight=0,
            errors=[(0.8, 1.0), None, (0.0, 0.2), None, (0.6, 0.8)],
        )
    )
    _image(plots.bar_chart(["only"], [1.0]))
    with pytest.raises(ValueError):
        plots.bar_chart([], [])


def test_no_pyplot_state():
    """Plots never load pyplot (no global figure registry, no GUI backend)."""
    code = (
        "import sys; from transferkit.report import plots; plots.bar_chart(['a'], [1.0]); "
        "plots.confusion_matrix([[1, 0], [0, 1]], ['a', 'b']); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
