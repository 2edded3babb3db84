"""Plots of an explain run: a gallery of overlays, and what fine-tuning changed per block."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from transferkit.report.canvas import COLORS, figure, label, png


def gallery(images: Sequence[tuple[bytes, str]], cols: int = 4) -> bytes:
    """The PNG overlays in a grid, each with its caption (predicted class, confidence ...)."""
    from PIL import Image

    n = max(1, len(images))
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig = figure(2.4 * cols, 2.7 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(images):
            overlay, caption = images[k]
            ax.imshow(Image.open(io.BytesIO(overlay)).convert("RGB"))
            ax.set_title(label(caption, 34), fontsize=8)
    return png(fig)


def transfer_profile(blocks: Sequence[dict], title: str = "") -> bytes:
    """Per block: relative weight change (bars, left axis, %) and linear CKA with the source
    model (line, right axis, 0-1)."""
    xs = [int(b.get("block", i + 1)) for i, b in enumerate(blocks)]
    change = [
        100 * float(b["weight_change"]) if b.get("weight_change") is not None else 0.0
        for b in blocks
    ]
    cka = [float(b["cka"]) if b.get("cka") is not None else float("nan") for b in blocks]
    fig = figure(max(5.0, 0.45 * len(xs) + 3), 3.4)
    ax = fig.subplots()
    ax.bar(xs, change, color=COLORS[0], alpha=0.55, label="weight change ||W - W0|| / ||W0||")
    ax.set_xlabel("block (input to output)")
    ax.set_ylabel("relative weight change (%)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    right = ax.twinx()
    right.plot(xs, cka, color=COLORS[1], marker="o", lw=2, label="CKA with the source")
    right.set_ylim(0, 1.05)
    right.set_ylabel("linear CKA with the source model")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(label(title, 80), fontsize=9)
    return png(fig)
