"""Plots of one fit: its learning curves, its confusion matrix, its calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence

from transferkit.report.canvas import COLORS, figure, label, png


def _series(history: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, h in enumerate(history):
        v = h.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(float(h.get("epoch", i + 1)))
            ys.append(float(v))
    return xs, ys


def _epoch_axis(ax, history: Sequence[dict], ylabel: str) -> None:
    """Label and grid one panel, its x range fitted to the epochs; "not recorded" if empty."""
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    epochs = [float(h.get("epoch", i + 1)) for i, h in enumerate(history)]
    lo, hi = min(epochs), max(epochs)
    pad = 0.5 if hi - lo < 2 else 0.2
    ax.set_xlim(lo - pad, hi + pad)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            "not recorded",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#777",
        )


def learning_curves(history: Sequence[dict], title: str = "") -> bytes:
    """Training / validation loss and validation accuracy per epoch.

    Every point has a marker, so a single-epoch history (the linear strategy) shows as dots
    rather than an empty line.
    """
    if not history:
        raise ValueError("learning_curves needs at least one epoch of history")
    fig = figure(9, 3.4)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key, name, color in (
        ("train_loss", "train loss", COLORS[0]),
        ("val_loss", "validation loss", COLORS[1]),
    ):
        xs, ys = _series(history, key)
        if xs:
            loss_ax.plot(xs, ys, marker="o", ms=4, color=color, label=name)
    xs, ys = _series(history, "val_accuracy")
    if xs:
        acc_ax.plot(
            xs,
            [100 * y for y in ys],
            marker="o",
            ms=4,
            color=COLORS[2],
            label="validation accuracy",
        )
    for ax, ylabel in ((loss_ax, "loss"), (acc_ax, "validation accuracy (%)")):
        _epoch_axis(ax, history, ylabel)
    if title:
        fig.suptitle(label(title, 90), fontsize=11)
    return png(fig)


def _class_ticks(ax, classes: Sequence[str], k: int, font: int) -> None:
    """Class names on both axes (numbers past the names given); none above 60 classes."""
    if k <= 60:
        names = [label(c, 24) for c in classes[:k]] + [str(i) for i in range(len(classes), k)]
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(
            names,
            rotation=45 if k <= 10 else 90,
            ha="right" if k <= 10 else "center",
            rotation_mode="anchor" if k <= 10 else "default",
            fontsize=font,
        )
        ax.set_yticklabels(names, fontsize=font)
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def _cell_percentages(ax, m, norm, font: int) -> None:
    """Each non-empty cell's share of its true class, in percent, legible on its shade."""
    k = m.shape[0]
    for i in range(k):
        for j in range(k):
            if m[i, j] > 0:
                v = norm[i, j]
                ax.text(
                    j,
                    i,
                    f"{100 * v:.0f}",
                    ha="center",
                    va="center",
                    fontsize=font,
                    color="white" if v > 0.55 else "#222",
                )


def confusion_matrix(
    matrix: Sequence[Sequence[float]], classes: Sequence[str], title: str = ""
) -> bytes:
    """Row-normalised confusion matrix (rows: true class) with class names on both axes.

    Cells are annotated with percentages up to 20 classes; above 60 classes the tick labels
    are left out, since they could not be read anyway.
    """
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    k = m.shape[0]
    if m.ndim != 2 or k == 0 or m.shape[1] != k:
        raise ValueError("confusion_matrix needs a square, non-empty matrix")
    totals = m.sum(1, keepdims=True)
    norm = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    side = min(max(4.0, 0.45 * k + 2.5), 16.0)
    fig = figure(side + 1.2, side)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    font = 9 if k <= 10 else 7 if k <= 20 else 5
    _class_ticks(ax, classes, k, font)
    if k <= 20:
        _cell_percentages(ax, m, norm, font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(label(title or "confusion matrix (% of each true class)", 90), fontsize=11)
    return png(fig)


def reliability_diagram(calibration: dict, title: str = "") -> bytes:
    """Accuracy against mean confidence per confidence bin, with the example count per bin.

    ``calibration`` holds ``bins`` and per-bin lists ``confidence``, ``accuracy``, ``count``
    (empty bins: count 0, values None). The gap to the diagonal is the miscalibration.
    """
    n_bins = int(calibration.get("bins") or len(calibration.get("count", [])))
    conf = list(calibration.get("confidence") or [])
    acc = list(calibration.get("accuracy") or [])
    count = [int(c or 0) for c in calibration.get("count") or []]
    if n_bins < 1 or not count or sum(count) == 0:
        raise ValueError("reliability_diagram needs at least one non-empty bin")
    width = 1.0 / n_bins
    centers = [(i + 0.5) * width for i in range(n_bins)]
    used = [
        i
        for i in range(min(n_bins, len(count), len(conf), len(acc)))
        if count[i] > 0 and acc[i] is not None and conf[i] is not None
    ]
    total = sum(count)
    ece = sum(count[i] / total * abs(acc[i] - conf[i]) for i in used)
    fig = figure(5.2, 5.8)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], ls="--", color="#888", lw=1, label="perfect calibration")
    top.bar(
        [centers[i] for i in used],
        [acc[i] for i in used],
        width=width * 0.95,
        color=COLORS[0],
        edgecolor="white",
        label="accuracy",
    )
    top.bar(
        [centers[i] for i in used],
        [conf[i] - acc[i] for i in used],
        bottom=[acc[i] for i in used],
        width=width * 0.95,
        color=COLORS[1],
        alpha=0.35,
        label="gap to confidence",
    )
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    top.set_title(label(title or f"reliability (ECE {100 * ece:.1f}%)", 90), fontsize=11)
    bottom.bar(centers[: len(count)], count, width=width * 0.95, color="#999")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("examples")
    bottom.grid(alpha=0.3)
    return png(fig)
