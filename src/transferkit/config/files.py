"""YAML config files: reading one (``--config FILE.yaml``) and writing one (``--print-config``,
``runs show RUN --config``), with safe_load and safe_dump only, so a file cannot make Python
objects. The mapping inside is :mod:`transferkit.config.mapping`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from transferkit.config.mapping import COMMAND_KEY
from transferkit.errors import UserError


def read_config_file(path: str | Path, command: str) -> dict[Any, Any]:
    """The mapping in the YAML file ``path``; a UserError when the file is missing, unreadable,
    not YAML or not a mapping (an empty file is an empty mapping)."""
    p = Path(path)
    write = f"`transferkit {command} --print-config` prints a valid one"
    if not p.exists():
        raise UserError(
            f"Config file {path} does not exist. Check the path, or write one with "
            f"`transferkit {command} --print-config > {path}`."
        )
    if p.is_dir():
        raise UserError(f"Config file {path} is a folder; name a YAML file ({write}).")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"Config file {path} is not UTF-8 text; {write}.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(e, "problem", None) or type(e).__name__
        raise UserError(
            f"Config file {path} is not valid YAML ({what}{where}). Fix the syntax: one "
            f"`name: value` per line; {write}."
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(
            f"Config file {path} holds a {type(loaded).__name__}, not a mapping of settings: "
            f"write one `name: value` per line (e.g. `epochs: 5`); {write}."
        )
    return loaded


def dump_config(mapping: dict[str, Any], command: str, comment: str = "") -> str:
    """YAML text of a command's settings mapping, ``command:`` first, in block style (one key
    per line, one list item per line); ``comment`` (lines) at the top."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.safe_dump(
        {COMMAND_KEY: command, **mapping},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10**6,
    )
    return head + body
