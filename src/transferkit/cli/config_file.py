"""``--config FILE.yaml`` and ``--print-config`` for every command that takes settings (the
convention of Lightning's CLI), and a stored run's settings as such a file (``runs show RUN
--config``).

A file holds the flat mapping of :mod:`transferkit.config.mapping`: one key per option, named
as the setting (``lr: 0.001`` is ``--lr 0.001``), the entries' own options beside them
(``lora_rank: 4``), and ``command: fit`` naming the command it is for. Its values get the checks
the flags get; flags given beside a file override it, and of several files the later wins.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from transferkit.cli.commands import Command
from transferkit.cli.options import family_keys, registries, settings_from_args
from transferkit.config import check_ranges
from transferkit.config.fields import flag_of
from transferkit.config.files import dump_config, read_config_file
from transferkit.config.mapping import check_mapping, setting_keys, to_mapping
from transferkit.config.options import dests, resolve
from transferkit.config.reproduce import stored_run
from transferkit.errors import UserError

PRINT_FLAGS = ("--print-config", "--print_config")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--print-config`` for a command that takes settings."""
    group = parser.add_argument_group("config file")
    group.add_argument(
        "--config",
        dest="config_files",
        action="append",
        metavar="FILE.yaml",
        help="Read settings from a YAML file: one `name: value` per setting, named as "
        "--print-config writes them. Options given too override the file; of several "
        "--config files, the later overrides the earlier.",
    )
    group.add_argument(
        *PRINT_FLAGS,
        dest="print_config",
        action="store_true",
        help="Print the resolved settings (defaults, then --config files, then options) "
        "as YAML and exit without running; the output works as a --config file.",
    )


def from_file(argv: list[str]) -> bool:
    """Whether ``argv`` reads or prints a config file, so that options the command line
    otherwise requires may come from the file (or be left empty in the printed one)."""
    return any(a in (*PRINT_FLAGS, "--config") or a.startswith("--config=") for a in argv)


def merge_config_files(args: argparse.Namespace, command: Command) -> None:
    """Fill ``args`` from the ``--config`` files (checked as the flags are), under the options
    given on the command line; then refuse a required setting that neither gave."""
    given = set(vars(args))
    known = {**setting_keys(command.settings), **family_keys(command.families)}
    for path in getattr(args, "config_files", None) or []:
        values = check_mapping(read_config_file(path, command.name), known, path, command.name)
        for key, value in values.items():
            if key not in given:
                setattr(args, key, value)
    if not getattr(args, "print_config", False):
        _check_required(args, command)


def _check_required(args: argparse.Namespace, command: Command) -> None:
    """What argparse checks when no file is read: each required option and positional."""
    for key, s in setting_keys(command.settings).items():
        m = s.field.metadata
        required = m.get("required") or (m.get("positional") and m.get("nargs") is None)
        if required and not hasattr(args, key):
            name = m.get("metavar", key.upper()) if m.get("positional") else flag_of(s.field)
            raise UserError(
                f"`transferkit {command.name}` needs {name}: give it on "
                f"the command line, or as `{key}:` in the --config file."
            )


def settings_of(args: argparse.Namespace, command: Command) -> list[Any]:
    """The command's settings objects from ``args``, as its handler builds them (each without
    the fields its command skips)."""
    return [settings_from_args(cls, args, command.families, skip) for cls, skip in command.settings]


def _named_entries(objects: list[Any], command: Command) -> list[str]:
    """The entries of the command's families that the settings name (fit's strategy,
    compare's strategies, adapt's methods ...), fields the command skips left out."""
    names = []
    for obj, (_, skip) in zip(objects, command.settings):
        for f in dataclasses.fields(obj):
            if f.metadata.get("registry") in command.families and f.name not in skip:
                value = getattr(obj, f.name)
                names += value if isinstance(value, list) else [value]
    return names


def _with_resolved_options(objects: list[Any], command: Command) -> list[Any]:
    """The settings with the named entries' options filled in with their defaults, as the run
    stores them; an option out of bounds is refused as the run refuses it. Options that no
    named entry takes stay as given (the run says where they belong)."""
    given = next((o.options for o in objects if _has_options(o)), {})
    resolved: dict[str, Any] = {}
    for name in _named_entries(objects, command):
        for registry in (r for key in command.families for r in registries(key)):
            if name in registry and (obj := resolve(registry, name, given)) is not None:
                resolved |= {d: getattr(obj, f.name) for d, f in dests(registry, name).items()}
    options = {**resolved, **{k: v for k, v in given.items() if k not in resolved}}
    return [dataclasses.replace(o, options=options) if _has_options(o) else o for o in objects]


def _has_options(settings: Any) -> bool:
    return any(f.name == "options" for f in dataclasses.fields(settings))


def print_config(args: argparse.Namespace, command: Command) -> str:
    """The resolved settings of ``args`` as the YAML of a config file (``--print-config``)."""
    objects = settings_of(args, command)
    for obj in objects:
        check_ranges(obj)
    objects = _with_resolved_options(objects, command)
    return dump_config(
        to_mapping(objects, command.settings),
        command.name,
        f"transferkit {command.name} settings; run them with `transferkit {command.name} "
        "--config FILE` (options given with it override the file).",
    )


def stored_config(record: Any) -> str:
    """A stored run's settings as the YAML of a config file (``runs show RUN --config``); its
    first lines say which command runs it again."""
    again = stored_run(record.kind, record.config, record.id)
    command = " ".join([f"transferkit {again.command} --config FILE", *again.extra])
    return again.config_file(
        f"run {record.id} ({record.kind}, {record.status}); run it again with\n  {command}"
    )
