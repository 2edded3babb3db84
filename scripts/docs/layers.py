"""MkDocs hook: the architecture page's layer diagram, drawn from the layering test's own table.

``tests/test_layering.py`` is the authority on which package may import which: its ``LAYERS``
list holds the groups of packages from the top down. This hook imports that file by path and
replaces the marker ``<!-- layer-diagram -->`` in ``docs/architecture.md`` with an SVG drawing
of those layers and a table of them, so the page always shows the order the test enforces.
The SVG is plain markup in the page: nothing is fetched when it is built or viewed.
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path

MARKER = "<!-- layer-diagram -->"
PAGE = "architecture.md"
TEST_FILE = Path(__file__).resolve().parents[2] / "tests" / "test_layering.py"

ROW_HEIGHT, ROW_GAP, CHAR_WIDTH, BOX_PADDING, BOX_GAP, WIDTH = 34, 22, 8.4, 22, 14, 760
WHAT = {  # names in LAYERS that are not packages of their own
    "__main__": "python -m transferkit",
    "__init__": "import transferkit",
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Fill the architecture page; leave every other page alone."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its marker {MARKER}: the layer diagram has nowhere to go")
    layers = load_layers()
    return markdown.replace(MARKER, render_svg(layers) + "\n\n" + render_table(layers))


def load_layers(path: Path = TEST_FILE) -> list[list[str]]:
    """``LAYERS`` from the layering test, each group sorted (the groups are sets)."""
    spec = importlib.util.spec_from_file_location("_layering_for_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [sorted(group) for group in module.LAYERS]


def render_svg(layers: list[list[str]]) -> str:
    """One row of boxes per layer, top to bottom, an arrow between rows ("may import")."""
    height = len(layers) * (ROW_HEIGHT + ROW_GAP) - ROW_GAP + 2
    out = [
        f'<div class="tk-layers"><svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" style="max-width:{WIDTH}px" '
        f'font-family="monospace" font-size="14">',
        "<title>transferkit's layers, from the top down (tests/test_layering.py)</title>",
        '<defs><marker id="tk-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="#777"/></marker>'
        "</defs>",
    ]
    for i, group in enumerate(layers):
        y = 1 + i * (ROW_HEIGHT + ROW_GAP)
        out.extend(_row(group, y, i))
        if i + 1 < len(layers):
            mid, top = WIDTH / 2, y + ROW_HEIGHT
            out.append(
                f'<line x1="{mid}" y1="{top}" x2="{mid}" y2="{top + ROW_GAP - 3}" '
                'stroke="#777" stroke-width="1.5" marker-end="url(#tk-arrow)"/>'
            )
    out.append("</svg></div>")
    return "".join(out)


def _row(group: list[str], y: float, index: int) -> list[str]:
    """The boxes of one layer, centred; the layer's number at the left edge."""
    widths = [len(name) * CHAR_WIDTH + BOX_PADDING for name in group]
    x = (WIDTH - sum(widths) - BOX_GAP * (len(group) - 1)) / 2
    out = [
        f'<text x="4" y="{y + ROW_HEIGHT / 2 + 5}" fill="#999" font-size="12">{index + 1}</text>'
    ]
    for name, w in zip(group, widths):
        label = escape(name)
        out.append(
            f'<g class="tk-layer" data-package="{label}">'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW_HEIGHT}" rx="5" '
            f'fill="#e8eaf6" stroke="#3f51b5" stroke-width="1.2"/>'
            f'<text x="{x + w / 2:.1f}" y="{y + ROW_HEIGHT / 2 + 5}" text-anchor="middle" '
            f'fill="#1a237e">{label}</text></g>'
        )
        x += w + BOX_GAP
    return out


def render_table(layers: list[list[str]]) -> str:
    """The same layers as a table: number, members, and what each may import (a package
    never imports another of its own layer: the test counts that as upwards)."""
    rows = ["| layer | packages and modules | may import |", "|---|---|---|"]
    for i, group in enumerate(layers):
        names = ", ".join(_name(n) for n in group)
        below = "itself, and the layers below" if i + 1 < len(layers) else "only itself"
        rows.append(f"| {i + 1} | {names} | {below} |")
    return "\n".join(rows)


def _name(name: str) -> str:
    if name in WHAT:
        return f"`{name}` ({WHAT[name]})"
    return f"`{name}`"
