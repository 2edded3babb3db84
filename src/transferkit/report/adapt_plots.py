"""The plot of a domain adaptation run: source and target embeddings, side by side."""

from __future__ import annotations

from collections.abc import Sequence

from transferkit.report.canvas import COLORS, figure, label, png


def domain_embeddings(panels: Sequence[dict], title: str = "") -> bytes:
    """Side-by-side 2-D embeddings (t-SNE) of source and target points, one panel per dict
    with ``label``, ``xy`` (N x 2) and ``domain`` (0 source, 1 target): how far adaptation
    brought the two domains together."""
    if not panels:
        raise ValueError("domain_embeddings needs at least one panel")
    fig = figure(5.0 * len(panels), 4.6)
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
    return png(fig)
