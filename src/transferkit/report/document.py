"""The content of a report as plain data, rendered twice: to HTML and to Markdown.

Builders only assemble these blocks from run records; they never write markup. All escaping
happens in the two renderers, so a user string cannot reach the output unescaped by any path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Paragraph:
    text: str
    kind: str = ""  # "" | "note" | "warning": how prominently it is shown


@dataclass
class Bullets:
    items: list[str]
    kind: str = ""  # "verdict" lists are shown as the report's headline


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class KeyValues:
    pairs: list[tuple[str, Any]]
    caption: str = ""


@dataclass
class Code:
    text: str
    caption: str = ""


@dataclass
class Image:
    name: str  # file stem for the Markdown twin; made safe by :func:`safe_name`
    png: bytes
    alt: str
    caption: str = ""


@dataclass
class Details:
    """Collapsible in HTML (``<details>``); a plain sub-section in Markdown."""

    summary: str
    blocks: list[Block] = field(default_factory=list)


Block = Paragraph | Bullets | Table | KeyValues | Code | Image | Details


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""


@dataclass
class Document:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def images(self) -> list[Image]:
        out: list[Image] = []

        def walk(blocks: list[Block]) -> None:
            for b in blocks:
                if isinstance(b, Image):
                    out.append(b)
                elif isinstance(b, Details):
                    walk(b.blocks)

        for s in self.sections:
            walk(s.blocks)
        return out


def safe_name(text: str) -> str:
    """A file-name-safe stem (letters, digits, ``-`` and ``_``)."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-")
    return s[:80] or "figure"


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?%?")


def is_numeric(v: Any) -> bool:
    """A number, or a string that is one (formatted cells), for right-aligned columns."""
    if isinstance(v, bool):
        return False
    return isinstance(v, (int, float)) or (isinstance(v, str) and bool(_NUMBER.fullmatch(v)))


def fmt(v: Any) -> str:
    """Cell text: floats to 4 significant decimals, None as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:  # NaN
            return ""
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)
