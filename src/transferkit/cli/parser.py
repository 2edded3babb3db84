"""The parser, built from the command table (:mod:`transferkit.cli.commands`); only the command
being run gets its options built, so ``transferkit --help`` and commands that need no models
never import torch."""

from __future__ import annotations

import argparse
import sys

from transferkit.cli.commands import COMMANDS, EXAMPLES, Command
from transferkit.cli.config_file import add_config_options
from transferkit.cli.options import add_family, add_settings

__all__ = ["COMMANDS", "Command", "Parser", "build_parser", "command_of"]


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one paragraph and exit code 2, like every other
    bad input."""

    def error(self, message: str):  # type: ignore[override]
        print(f"error: {message}. See `{self.prog} --help`.", file=sys.stderr)
        raise SystemExit(2)


def _quiet(parser: argparse.ArgumentParser, top: bool = False) -> None:
    kw = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="No progress bars or status lines.", **kw
    )


def _populate(parser: argparse.ArgumentParser, cmd: Command, from_file: bool = False) -> None:
    if cmd.settings:
        add_settings(parser, cmd.settings, from_file)
        add_config_options(parser)
    for key in cmd.families:
        add_family(parser, key)
    for flags, kw in cmd.args:
        parser.add_argument(*flags, **kw)
    if cmd.actions:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
        for action in cmd.actions:
            p = sub.add_parser(
                action.name, help=action.help.replace("%", "%%"), description=action.help
            )
            _populate(p, action)
            _quiet(p)


def build_parser(command: str | None = None, from_file: bool = False) -> argparse.ArgumentParser:
    """The parser; only ``command`` (the one being run) gets its options. ``from_file``: a
    config file is read or printed, so no option is required on the command line."""
    p = Parser(
        prog="transferkit",
        description="Transfer learning: reuse a pretrained source model on your target data.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _quiet(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for cmd in COMMANDS:
        c = sub.add_parser(cmd.name, help=cmd.help.replace("%", "%%"), description=cmd.help)
        if cmd.name == command:
            _populate(c, cmd, from_file)
        _quiet(c)
    return p


def command_of(argv: list[str]) -> Command | None:
    """The command ``argv`` runs (its first word that is not an option)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return next((c for c in COMMANDS if c.name == word), None)
