"""MkDocs hook: the command-line reference, written at build time from the real parser.

``docs/reference/cli.md`` holds a short introduction and the marker ``<!-- cli-reference -->``;
this hook replaces the marker with one section per command of
:data:`transferkit.cli.parser.COMMANDS` (and one per ``runs`` action): its description, its
usage line and a table of its options, exactly as ``transferkit COMMAND --help`` prints them.
Because the page is made from the parser on every build, it cannot drift from the tool.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"
PAGE = "reference/cli.md"
WIDTH = "76"  # the usage lines are wrapped at this width (the code block's), whatever the terminal


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Fill the CLI page; leave every other page alone."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its marker {MARKER}: the CLI reference has nowhere to go")
    return markdown.replace(MARKER, render_reference())


def render_reference() -> str:
    """Markdown for the whole reference: the top-level usage, then every command."""
    from transferkit.cli.parser import COMMANDS, build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse reads the width when it formats
    try:
        top = build_parser()
        parts = [_top_section(top)]
        for cmd in COMMANDS:
            parser = _subparser(build_parser(cmd.name), cmd.name)
            parts.append(_command_section(parser, f"transferkit {cmd.name}", cmd.name, level=2))
            for action in cmd.actions:
                sub = _subparser(parser, action.name)
                anchor = f"{cmd.name}-{action.name}"
                title = f"transferkit {cmd.name} {action.name}"
                parts.append(_command_section(sub, title, anchor, level=3))
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n\n".join(parts) + "\n"


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The sub-command parser called ``name`` (argparse keeps it on its sub-parsers action)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    raise KeyError(f"the parser has no sub-command {name!r}")


def _top_section(parser: argparse.ArgumentParser) -> str:
    """``transferkit`` itself: usage, the command list and the examples from ``--help``."""
    rows = [
        f"| [`{name}`](#{name}) | {_cell(sub.description or '')} |"
        for name, sub in _subparsers(parser).items()
    ]
    return "\n\n".join(
        [
            "## `transferkit` {#transferkit}",
            parser.description or "",
            _code(parser.format_usage()),
            "| command | what it does |\n|---|---|\n" + "\n".join(rows),
            _options_table(parser),
            _code(parser.epilog or ""),
        ]
    )


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _command_section(parser: argparse.ArgumentParser, title: str, anchor: str, level: int) -> str:
    """One command: heading, description, usage, then its options (and its actions, if any)."""
    parts = [f"{'#' * level} `{title}` {{#{anchor}}}", parser.description or ""]
    parts.append(_code(parser.format_usage()))
    actions = _subparsers(parser)
    if actions:
        rows = [
            f"| [`{name}`](#{anchor}-{name}) | {_cell(sub.description or '')} |"
            for name, sub in actions.items()
        ]
        parts.append("| action | what it does |\n|---|---|\n" + "\n".join(rows))
    parts.append(_options_table(parser))
    return "\n\n".join(p for p in parts if p)


def _options_table(parser: argparse.ArgumentParser) -> str:
    """A table of the parser's arguments, in ``--help`` order, with ``--help``'s texts.

    The invocation (``--lr LR``) and the expanded help (``%(default)s`` filled in) come from the
    parser's own help formatter, so they read exactly as the terminal shows them.
    """
    formatter = parser._get_formatter()
    rows = []
    for group in parser._action_groups:
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            invocation = formatter._format_action_invocation(action)
            help_text = formatter._expand_help(action) if action.help else ""
            rows.append(f"| `{invocation}` | {_cell(help_text)} |")
    if not rows:
        return ""
    return "| argument | meaning |\n|---|---|\n" + "\n".join(rows)


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell: one line, pipes and markup escaped."""
    text = " ".join(text.split())
    for char in ("\\", "|", "*", "_", "[", "`"):
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;")


def _code(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```"
