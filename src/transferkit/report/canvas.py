"""The canvas every report plot is drawn on: colours, safe labels, a figure, its PNG bytes.

Figures are built with the object-oriented matplotlib API on the Agg canvas: no pyplot, so no
global figure registry to leak into and no GUI backend is ever touched; each figure is
released once its PNG is taken. Text that comes from users (class names, strategy names)
goes through :func:`label` so matplotlib never interprets it as mathtext.
"""

from __future__ import annotations

import io
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


def label(text: Any, limit: int = 40) -> str:
    """A user string made safe for matplotlib: ``$`` escaped (no mathtext), one line, truncated."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "\u2026"
    return s.replace("$", r"\$")


def figure(width: float, height: float) -> Figure:
    """A blank figure of ``width`` x ``height`` inches on its own Agg canvas (not pyplot's)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes on white, trimmed to its content; the figure is cleared after."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    fig.clear()
    return buf.getvalue()
