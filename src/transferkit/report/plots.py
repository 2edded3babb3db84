"""Report plots, each returned as PNG bytes.

Figures are built with the object-oriented matplotlib API on the Agg canvas: no pyplot, so no
global figure registry to leak into and no GUI backend is ever touched; each figure is
released when the function returns. Text that comes from users (class names, strategy names)
goes through :func:`label` so matplotlib never interprets it as mathtext.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
COLORS = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
ALL = "all"


def label(text: Any, limit: int = 40) -> str:
    """A user string made safe for matplotlib: ``$`` escaped (no mathtext), one line, truncated."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "\u2026"
    return s.replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    fig.clear()
    return buf.getvalue()


def _series(history: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, h in enumerate(history):
        v = h.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(float(h.get("epoch", i + 1)))
            ys.append(float(v))
    return xs, ys


def learning_curves(history: Sequence[dict], title: str = "") -> bytes:
    """Training / validation loss and validation accuracy per epoch.

    Every point has a marker, so a single-epoch history (the linear strategy) shows as dots
    rather than an empty line.
    """
    if not history:
        raise ValueError("learning_curves needs at least one epoch of history")
    fig = _figure(9, 3.4)
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
    if title:
        fig.suptitle(label(title, 90), fontsize=11)
    return _png(fig)


def _budget_positions(budgets: Sequence[Any]) -> dict[Any, float]:
    """x positions on a log axis: numeric budgets as themselves, 'all' to the right of them."""
    numeric = sorted({float(b) for b in budgets if b != ALL and b is not None})
    pos: dict[Any, float] = {b: float(b) for b in budgets if b != ALL and b is not None}
    if any(b == ALL or b is None for b in budgets):
        right = numeric[-1] * 2.5 if numeric else 1.0
        pos[ALL] = right
    return pos


def data_efficiency(rows: Sequence[dict], metric: str = "test accuracy", title: str = "") -> bytes:
    """Metric vs labels per class on a log axis, one line per strategy, 95% CI error bars.

    ``rows`` are compare table rows: ``strategy``, ``labels_per_class`` (int or ``"all"``),
    ``mean`` and optional ``ci_low`` / ``ci_high`` (fractions; shown in percent).
    """
    rows = [r for r in rows if isinstance(r.get("mean"), (int, float)) and math.isfinite(r["mean"])]
    if not rows:
        raise ValueError("data_efficiency needs at least one row with a mean")
    budgets = [ALL if r["labels_per_class"] in (None, ALL) else r["labels_per_class"] for r in rows]
    pos = _budget_positions(budgets)
    fig = _figure(7, 4.2)
    ax = fig.subplots()
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    for i, s in enumerate(strategies):
        pts = sorted(
            ((pos[b], r) for b, r in zip(budgets, rows) if r["strategy"] == s), key=lambda p: p[0]
        )
        dodge = 1.04 ** (i - (len(strategies) - 1) / 2)  # keep error bars apart
        xs = [x * dodge for x, _ in pts]
        ys = [100 * r["mean"] for _, r in pts]
        lo = [
            100 * (r["mean"] - r["ci_low"]) if r.get("ci_low") is not None else 0.0 for _, r in pts
        ]
        hi = [
            100 * (r["ci_high"] - r["mean"]) if r.get("ci_high") is not None else 0.0
            for _, r in pts
        ]
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            marker="o",
            ms=5,
            capsize=4,
            lw=1.6,
            color=COLORS[i % len(COLORS)],
            label=label(s),
        )
    ax.set_xscale("log")
    ticks = sorted(set(pos.values()))
    names = {v: k for k, v in pos.items()}
    ax.set_xticks(ticks)
    ax.set_xticklabels([ALL if names[t] == ALL else f"{names[t]:g}" for t in ticks])
    ax.minorticks_off()
    lo_x, hi_x = min(ticks), max(ticks)
    ax.set_xlim(lo_x / 1.6, hi_x * 1.6)
    ends = [
        100 * r[k]
        for r in rows
        for k in ("mean", "ci_low", "ci_high")
        if isinstance(r.get(k), (int, float))
    ]
    ax.set_ylim(max(min(ends) - 3, -1.0), min(max(ends) + 3, 101.0))  # accuracy lives in 0-100
    ax.set_xlabel("labelled examples per class (log scale)")
    ax.set_ylabel(f"{label(metric)} (%)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=9, title="strategy" if len(strategies) > 1 else None)
    ax.set_title(
        label(title or f"{metric} vs labels per class (error bars: 95% CI)", 90), fontsize=11
    )
    return _png(fig)


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
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    font = 9 if k <= 10 else 7 if k <= 20 else 5
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
    if k <= 20:
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
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(label(title or "confusion matrix (% of each true class)", 90), fontsize=11)
    return _png(fig)


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
    fig = _figure(5.2, 5.8)
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
    return _png(fig)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    errors: Sequence[tuple[float, float] | None] | None = None,
    *,
    xlabel: str = "",
    title: str = "",
    highlight: int | None = None,
) -> bytes:
    """Horizontal bars in the given order (top to bottom), optional (low, high) error bars.

    Used for rankings and for test accuracy across runs; ``highlight`` marks one bar (the best).
    """
    if not labels or len(labels) != len(values):
        raise ValueError("bar_chart needs as many labels as values, at least one")
    n = len(labels)
    fig = _figure(7, max(1.6, 0.38 * n + 1.1))
    ax = fig.subplots()
    ys = list(range(n))[::-1]
    colors = [COLORS[1] if i == highlight else COLORS[0] for i in range(n)]
    xerr = None
    if errors is not None:
        lo = [v - e[0] if e else 0.0 for v, e in zip(values, errors)]
        hi = [e[1] - v if e else 0.0 for v, e in zip(values, errors)]
        xerr = [lo, hi]
    ax.barh(ys, values, color=colors, xerr=xerr, capsize=3 if xerr else 0, height=0.65)
    ax.set_yticks(ys)
    ax.set_yticklabels([label(s, 48) for s in labels], fontsize=9)
    finite = [v for v in values if math.isfinite(v)]
    span = max(finite) if finite else 1.0
    for y, v in zip(ys, values):
        if math.isfinite(v):
            ax.text(v + 0.01 * span, y, f"{v:.3g}", va="center", fontsize=8)
    ax.set_xlim(min(0.0, min(finite, default=0.0)), span * 1.12 if span > 0 else 1.0)
    ax.set_xlabel(label(xlabel, 80))
    ax.grid(alpha=0.3, axis="x")
    if title:
        ax.set_title(label(title, 90), fontsize=11)
    return _png(fig)


def domain_embeddings(panels: Sequence[dict], title: str = "") -> bytes:
    """Side-by-side 2-D embeddings (t-SNE) of source and target points, one panel per dict
    with ``label``, ``xy`` (N x 2) and ``domain`` (0 source, 1 target): how far adaptation
    brought the two domains together."""
    if not panels:
        raise ValueError("domain_embeddings needs at least one panel")
    fig = _figure(5.0 * len(panels), 4.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        xy, dom = panel.get("xy") or [], panel.get("domain") or []
        for d, name, color, marker in (
            (0, "source", COLORS[0], "o"),
            (1, "target", COLORS[1], "^"),
        ):
            pts = [p for p, k in zip(xy, dom) if k == d]
            if pts:
                ax.scatter(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    s=9,
                    alpha=0.6,
                    c=color,
                    marker=marker,
                    label=name,
                    linewidths=0,
                )
        ax.set_title(label(panel.get("label", ""), 60), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(label(title, 90), fontsize=11)
    return _png(fig)


def stage_bar(
    stages: Sequence[tuple[str, float]],
    mark: float | None = None,
    mark_label: str = "",
    title: str = "",
) -> bytes:
    """One stacked bar: seconds per stage (in the order given), with an optional vertical
    mark (the budget of a search)."""
    fig = _figure(8, 1.5)
    ax = fig.subplots()
    left = 0.0
    for i, (name, sec) in enumerate(stages):
        ax.barh(
            [0],
            [sec],
            left=left,
            color=COLORS[i % len(COLORS)],
            label=f"{name} {sec:.1f} s" if sec < 10 else f"{name} {sec:.0f} s",
        )
        left += sec
    if mark is not None:
        ax.axvline(mark, color="#333", ls="--", lw=1)
        ax.text(mark, 0.45, f" {mark_label}", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(mark or 0.0, left, 1e-3) * 1.08)
    ax.legend(
        fontsize=7,
        ncol=min(5, max(1, len(stages))),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.45),
    )
    if title:
        ax.set_title(label(title, 90), fontsize=10)
    return _png(fig)
