"""A :class:`Document` as Markdown, with its plots as PNG files in a folder beside it.

Markdown renderers pass inline HTML through, so user text is HTML-escaped here too, and
Markdown's own punctuation is backslash-escaped so a class name cannot become a link, an
image or a broken table.
"""

from __future__ import annotations

import html
import re
from typing import Any

from transferkit.report.document import (
    Block,
    Bullets,
    Code,
    Details,
    Document,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    fmt,
    is_numeric,
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
_LINE_START = re.compile(r"^(\d*)([-+#>=.)])")


def esc(value: Any, line_start: bool = False) -> str:
    """Inline Markdown text: one line, HTML-escaped, Markdown punctuation escaped.

    ``line_start``: the text begins a line, so a leading ``-``, ``#``, ``1.`` ... is escaped
    too (it would otherwise start a list, heading or quote).
    """
    s = " ".join(fmt(value).split())
    s = html.escape(s, quote=False)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return _LINE_START.sub(r"\1\\\2", s) if line_start else s


def _table(columns: list[str], rows: list[list[Any]], numeric_cols: set[int]) -> str:
    head = "| " + " | ".join(esc(c) for c in columns) + " |"
    sep = (
        "| "
        + " | ".join("---:" if i in numeric_cols else "---" for i in range(len(columns)))
        + " |"
    )
    body = ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join([head, sep, *body])


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


class MarkdownRenderer:
    """Renders a document; ``image_paths`` maps each :class:`Image` (by id) to a relative path."""

    def __init__(self, image_paths: dict[int, str]) -> None:
        self.image_paths = image_paths

    def block(self, b: Block, level: int = 3) -> str:
        if isinstance(b, Paragraph):
            text = esc(b.text, line_start=True)
            return f"> **Warning:** {text}" if b.kind == "warning" else text
        if isinstance(b, Bullets):
            return "\n".join(f"- {esc(i, line_start=True)}" for i in b.items)
        if isinstance(b, Table):
            numeric = {
                i
                for i in range(len(b.columns))
                if b.rows
                and all(is_numeric(r[i]) or r[i] in (None, "") for r in b.rows if i < len(r))
            }
            cap = f"**{esc(b.caption)}**\n\n" if b.caption else ""
            return cap + _table(b.columns, b.rows, numeric)
        if isinstance(b, KeyValues):
            cap = f"**{esc(b.caption)}**\n\n" if b.caption else ""
            return cap + _table(["", ""], [[k, v] for k, v in b.pairs], set())
        if isinstance(b, Code):
            cap = f"{esc(b.caption)}\n\n" if b.caption else ""
            return cap + _fence(b.text)
        if isinstance(b, Image):
            path = self.image_paths[id(b)]
            cap = f"\n\n*{esc(b.caption)}*" if b.caption else ""
            return f"![{esc(b.alt)}]({path}){cap}"
        if isinstance(b, Details):
            inner = "\n\n".join(self.block(x, level + 1) for x in b.blocks)
            return f"{'#' * min(level, 6)} {esc(b.summary)}\n\n{inner}"
        raise TypeError(f"unknown report block {type(b).__name__}")

    def section(self, s: Section) -> str:
        body = "\n\n".join(self.block(b) for b in s.blocks)
        return f"## {esc(s.title)}\n\n{body}"

    def render(self, doc: Document, footer: str = "") -> str:
        parts = [f"# {esc(doc.title)}"]
        if doc.subtitle:
            parts.append(f"*{esc(doc.subtitle)}*")
        parts += [self.section(s) for s in doc.sections]
        if footer:
            parts.append(f"---\n\n{esc(footer)}")
        return "\n\n".join(parts) + "\n"


def render(doc: Document, image_paths: dict[int, str], footer: str = "") -> str:
    """The document as Markdown; images link to ``image_paths[id(image)]``."""
    return MarkdownRenderer(image_paths).render(doc, footer)
