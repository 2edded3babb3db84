"""A :class:`Document` as one self-contained HTML page.

Plots are embedded as base64 ``data:`` URIs and the style sheet is inline, so the file can be
mailed or opened offline. There are no scripts, and a Content-Security-Policy forbids them
(and any network fetch) as a second line of defence: every piece of text passes through
:func:`esc` (``html.escape``), since class names come from folder names and CSV cells.
"""

from __future__ import annotations

import base64
import html
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
    safe_name,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
       background: #f6f7f9; margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 32px 64px; background: #fff;
       min-height: 100vh; box-shadow: 0 0 12px rgba(0,0,0,.06); }
h1 { font-size: 1.7em; margin: .2em 0 .1em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 2px solid #e4e7ec; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.subtitle { color: #5b6475; margin: 0 0 1em; }
nav { font-size: .9em; margin: 1em 0; color: #5b6475; }
nav a { margin-right: 1em; color: #2456a6; text-decoration: none; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
table:not(.kv) { min-width: 480px; }
caption { text-align: left; font-weight: 600; padding: .3em 0; color: #3a4253; }
th, td { border: 1px solid #dde1e7; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 14em; font-weight: 500; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e7ec; }
figcaption { font-size: .85em; color: #5b6475; }
pre { background: #f0f2f5; padding: 10px 12px; overflow-x: auto; font-size: .85em;
      white-space: pre-wrap; word-break: break-all; }
.verdict { background: #eef6ee; border-left: 4px solid #2e8b3e; padding: .6em 1em .6em 2em; }
.verdict li { margin: .25em 0; }
.note { color: #5b6475; font-size: .9em; }
.warning { background: #fff4e5; border-left: 4px solid #e08a00; padding: .5em 1em; }
details { margin: .5em 0 1em; }
summary { cursor: pointer; font-weight: 600; color: #3a4253; }
footer { margin-top: 3em; font-size: .8em; color: #8a93a3; }
"""


def esc(value: Any) -> str:
    """Text for HTML content and attribute values: ``& < > " '`` escaped."""
    return html.escape(fmt(value), quote=True)


def _table(t: Table) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{esc(v)}</td>' if is_numeric(v) else f"<td>{esc(v)}</td>" for v in row
        )
        + "</tr>\n"
        for row in t.rows
    )
    cap = f"<caption>{esc(t.caption)}</caption>" if t.caption else ""
    return (
        f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}</tbody></table></div>"
    )


def _kv(t: KeyValues) -> str:
    cap = f"<caption>{esc(t.caption)}</caption>" if t.caption else ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>\n" for k, v in t.pairs)
    return f'<div class="scroll"><table class="kv">{cap}<tbody>\n{rows}</tbody></table></div>'


def _image(img: Image) -> str:
    data = base64.b64encode(img.png).decode("ascii")
    cap = f"<figcaption>{esc(img.caption)}</figcaption>" if img.caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(img.alt)}">{cap}</figure>'


def block(b: Block) -> str:
    if isinstance(b, Paragraph):
        cls = f' class="{esc(b.kind)}"' if b.kind else ""
        return f"<p{cls}>{esc(b.text)}</p>"
    if isinstance(b, Bullets):
        cls = f' class="{esc(b.kind)}"' if b.kind else ""
        return f"<ul{cls}>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, KeyValues):
        return _kv(b)
    if isinstance(b, Code):
        cap = f'<p class="note">{esc(b.caption)}</p>' if b.caption else ""
        return f"{cap}<pre><code>{html.escape(b.text, quote=True)}</code></pre>"
    if isinstance(b, Image):
        return _image(b)
    if isinstance(b, Details):
        inner = "\n".join(block(x) for x in b.blocks)
        return f"<details><summary>{esc(b.summary)}</summary>\n{inner}\n</details>"
    raise TypeError(f"unknown report block {type(b).__name__}")


def _section(s: Section) -> str:
    anchor = safe_name(s.anchor or s.title)
    body = "\n".join(block(b) for b in s.blocks)
    return f'<section id="{esc(anchor)}"><h2>{esc(s.title)}</h2>\n{body}\n</section>'


def render(doc: Document, footer: str = "") -> str:
    """The whole page as a string."""
    nav = ""
    if len(doc.sections) > 2:
        links = "".join(
            f'<a href="#{esc(safe_name(s.anchor or s.title))}">{esc(s.title)}</a>'
            for s in doc.sections
        )
        nav = f"<nav>{links}</nav>"
    sub = f'<p class="subtitle">{esc(doc.subtitle)}</p>' if doc.subtitle else ""
    sections = "\n".join(_section(s) for s in doc.sections)
    foot = f"<footer>{esc(footer)}</footer>" if footer else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(doc.title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{esc(doc.title)}</h1>
{sub}
{nav}
{sections}
{foot}
</main>
</body>
</html>
"""
