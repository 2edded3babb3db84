"""The generated command line and config file reproduce the settings they come from, for every
command of the CLI's table that takes settings (a new command is covered as it is added).

Hypothesis draws each command's settings from its fields (bounds, choices, registry names,
lists, booleans, None, the entries' options such as --lora-rank, texts with spaces, quotes,
leading dashes and non-ASCII letters); then settings -> command line -> ``shlex.split`` -> the
real parser -> settings, and settings -> YAML -> ``--config`` -> settings, must give them back.
Every report's "Command to reproduce it" must parse back to its run's stored settings.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transferkit.cli.commands import COMMANDS
from transferkit.cli.config_file import merge_config_files, settings_of
from transferkit.cli.options import REGISTRIES, family_keys, registries
from transferkit.cli.parser import build_parser
from transferkit.config import AdaptConfig, ExplainConfig
from transferkit.config.files import dump_config
from transferkit.config.mapping import Setting, base_type, build, setting_keys, to_mapping
from transferkit.config.reproduce import PARTS, command_line, stored_run
from transferkit.errors import UserError

WITH_SETTINGS = [c for c in COMMANDS if c.settings]
#: Commands with settings whose runs are not stored under their own kind.
NOT_STORED = {
    "predict": "writes CSV",
    "report": "writes files",
    "demo": "records fits",
    "export": "writes a folder",
    "serve": "records nothing",
}

#: Any text but "--": argparse takes "--" as its end-of-options marker even as `--opt=--` (it
#: drops it from the values), so no command line can give that value to any option.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10).filter(
    lambda t: t != "--"
)
PATHS = st.sampled_from(
    ["/data/my images/train", "données é/日本", 'it\'s "quoted"', "-starts with a dash", ""]
)
#: The names of each registry a setting names (imported once, before Hypothesis draws).
NAMES = {key: [n for r in registries(key) for n in r.list()] for key in REGISTRIES}
#: A list item that comma-splitting keeps as it is.
ITEM = TEXT.map(str.strip).filter(lambda t: t and "," not in t)


def _bounded_number(tp: type, m: dict) -> st.SearchStrategy:
    lo, hi = m.get("min", m.get("gt")), m.get("max", m.get("lt"))
    if tp is int:
        lo = -(10**9) if lo is None else lo + ("gt" in m)
        hi = 10**9 if hi is None else hi - ("lt" in m)
        return st.integers(lo, hi)
    return st.floats(
        lo, hi, exclude_min="gt" in m, exclude_max="lt" in m, allow_nan=False, allow_infinity=False
    )


def _scalar(tp: Any, m: dict) -> st.SearchStrategy:
    """Values of one field (or list element) of type ``tp`` within its bounds and choices."""
    if m.get("registry"):
        return st.sampled_from(NAMES[m["registry"]])
    if m.get("choices"):
        return st.sampled_from(list(m["choices"]))
    if tp is bool:
        return st.booleans()
    if tp in (int, float):
        return _bounded_number(tp, m)
    if tp is str:
        return PATHS | TEXT
    raise NotImplementedError(f"no strategy for a setting of type {tp}: add one here")


def _values(s: Setting, default: Any) -> st.SearchStrategy:
    """Values of the setting ``s`` as the command line can give them: None only where the
    default is None (no flag sets None otherwise), list items without commas."""
    tp, m = base_type(s.type), s.field.metadata
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if m.get("nargs") == "*":  # a positional list: one argument per item
            items = TEXT
        elif item is str and not m.get("registry"):
            items = ITEM
        else:
            items = _scalar(item, m)
        out = st.lists(items, max_size=3)
    else:
        out = _scalar(tp, m)
    optional = type(None) in typing.get_args(s.type)
    return st.none() | out if optional and default is None else out


def _default(s: Setting) -> Any:
    f = s.field
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


@st.composite
def _settings(draw, command) -> tuple[list[Any], list[Any]]:
    """(the command's settings objects, the same with the options given None left out: the
    command line leaves them out, and a run fills in their default, None)."""
    keys = setting_keys(command.settings)
    values = draw(st.fixed_dictionaries({k: _values(s, _default(s)) for k, s in keys.items()}))
    options = family_keys(command.families)
    given = draw(
        st.fixed_dictionaries({}, optional={k: _values(s, None) for k, s in options.items()})
    )
    objects = [
        build(cls, {**values, **given}, options or None, skip) for cls, skip in command.settings
    ]
    given = {k: v for k, v in given.items() if v is not None}
    shown = [
        build(cls, {**values, **given}, options or None, skip) for cls, skip in command.settings
    ]
    return objects, shown


#: The real parser of a command (built once: parsing leaves no state in it).
_parser = functools.cache(build_parser)


def _parsed(command, argv: list[str], from_file: bool = False) -> list[Any]:
    """What the real parser of ``command`` makes of ``argv`` (as ``main`` does it)."""
    args = _parser(command.name, from_file).parse_args(argv)
    merge_config_files(args, command)
    return settings_of(args, command)


@pytest.mark.parametrize("command", WITH_SETTINGS, ids=lambda c: c.name)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_command_line_and_config_file_give_the_settings_back(command, data):
    objects, shown = data.draw(_settings(command))
    line = command_line(command.name, objects, command.settings)
    argv = shlex.split(line)
    assert argv[:2] == ["transferkit", command.name], line
    assert _parsed(command, argv[1:]) == shown, line
    text = dump_config(to_mapping(objects, command.settings), command.name, "a comment")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "my config é.yaml"
        path.write_text(text, encoding="utf-8")
        assert _parsed(command, [command.name, "--config", str(path)], True) == objects, text


def test_every_command_with_settings_is_reproducible_or_said_not_to_store_runs():
    """config/reproduce.py's table of the commands stored runs belong to is the CLI's: a new
    command that stores runs must be added there (or here, with why it stores none)."""
    table = {c.name: c.settings for c in WITH_SETTINGS}
    assert set(table) == set(PARTS) | set(NOT_STORED)
    for name, parts in PARTS.items():
        assert parts == table[name], name


def test_an_option_given_none_means_its_default():
    """The command line leaves out an option whose value is None: lossless only while every
    option that may be None defaults to None (the run fills in the default)."""
    keys = {k: s for c in WITH_SETTINGS for k, s in family_keys(c.families).items()}
    for key, s in keys.items():
        if type(None) in typing.get_args(s.type):
            assert _default(s) is None, key


@pytest.mark.parametrize(
    "kind, config, words",
    [
        ("adapt", AdaptConfig(source="s", target="t", lr=None), "--lr None"),
        ("explain", ExplainConfig(run="r1", classes=["cat, dog", "bird"]), "'cat, dog'"),
        ("explain", ExplainConfig(run="r1", classes=[" cat"]), "split at commas"),
    ],
)
def test_a_value_the_command_line_cannot_carry_is_refused_naming_the_config_file(
    kind, config, words
):
    again = stored_run(kind, dataclasses.asdict(config), "r1")
    assert again.config_file()  # the config file carries it
    with pytest.raises(UserError) as e:
        again.line()
    assert words in str(e.value) and "--config" in str(e.value)
