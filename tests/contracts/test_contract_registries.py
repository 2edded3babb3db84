"""What every registry and every entry promises: names written once and lowercase, every
module of a family's package found without being listed, every entry's own options documented,
valid by default and offered on the command line of the workflow that uses the family."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from transferkit.cli.options import REGISTRIES, registries
from transferkit.cli.parser import COMMANDS, build_parser
from transferkit.config import check_ranges

FAMILIES = {key: registries(key) for key in REGISTRIES}


def _all_registries():
    from transferkit.adaptation.selection import SELECTION_RULES
    from transferkit.data.builtin import DATASETS
    from transferkit.report.sections import SECTIONS
    from transferkit.zoo import BACKBONES, SOURCES

    return [r for rs in FAMILIES.values() for r in rs] + [
        SELECTION_RULES,
        DATASETS,
        SECTIONS,
        BACKBONES,
        SOURCES,
    ]


@pytest.mark.parametrize("registry", _all_registries(), ids=lambda r: r.kind)
def test_names_are_lowercase_and_set_on_the_entries(registry):
    assert len(registry) > 0
    for name in registry.list():
        entry = registry.get(name)
        assert name == name.lower()
        assert getattr(entry, "name", name) == name


def _home(entry) -> str:
    """The module that defines a registered entry (a class, a function, or a ZooEntry /
    Source record, by its factory)."""
    for obj in (
        entry,
        getattr(entry, "factory", None),
        getattr(entry, "create", None),
        getattr(entry, "build", None),
    ):
        if getattr(obj, "__module__", "").startswith("transferkit."):
            return obj.__module__
    raise AssertionError(f"cannot tell where {entry!r} is defined")


@pytest.mark.parametrize(
    "registry", [r for r in _all_registries() if r.package], ids=lambda r: r.kind
)
def test_entries_come_from_their_package_found_without_a_list(registry):
    """Every entry is defined in a module of the family's package, and the package's
    ``__init__`` imports none of the modules that register: they are found by discovery, so
    adding one is adding one file."""
    homes = {_home(registry.get(n)) for n in registry.list()}
    assert all(h == registry.package or h.startswith(registry.package + ".") for h in homes)
    init = Path(importlib.import_module(registry.package).__file__)
    tree = ast.parse(init.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {
        f"{n.module}.{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module
        for a in n.names
    }
    listed = {h for h in homes if h in imported and not h.endswith((".base", ".common"))}
    assert not listed, f"{init} lists {sorted(listed)}"


OPTION_CASES = [
    (key, r, d, f, cls)
    for key, rs in FAMILIES.items()
    for r in rs
    for d, f, cls in r.option_fields()
]


@pytest.mark.parametrize(
    "key, registry, dest, field, cls", OPTION_CASES, ids=[c[2] for c in OPTION_CASES]
)
def test_every_option_has_help_a_valid_default_and_a_flag(key, registry, dest, field, cls):
    assert field.metadata.get("help"), f"{dest} has no help text"
    check_ranges(cls())
    for cmd in (c for c in COMMANDS if key in c.families):
        parser = build_parser(cmd.name)
        text = parser._subparsers._group_actions[0].choices[cmd.name].format_help()
        assert "--" + dest.replace("_", "-") in text, (cmd.name, dest)


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.settings], ids=lambda c: c.name)
def test_command_options_do_not_collide(cmd):
    """Building a command's options refuses two options of one name (argparse raises)."""
    build_parser(cmd.name)


def test_every_source_that_makes_backbones_has_a_contract_case():
    from test_contract_backbones import CASES

    from transferkit.zoo import SOURCES

    named = {c.split(":")[0] for c in CASES if ":" in c}
    makers = {n for n in SOURCES.list() if SOURCES.get(n).create is not None}
    assert makers - {"run"} <= named  # run:ID is file: with the path taken from the store


@pytest.mark.parametrize("rule", FAMILIES["selection"][0].list())
def test_every_selection_rule_gives_a_risk_from_the_scores_it_reads(rule):
    from transferkit.adaptation.selection import SELECTION_RULES

    r = SELECTION_RULES.get(rule)()
    scores = {"dev": 0.3, "iwcv": 0.4, "source_val_loss": 0.5, "snd": 1.2, "im": 0.7}
    assert isinstance(r.risk(scores), float)
    if r.target_side:
        assert r.risk(scores) < 0  # higher target-side scores are better: risk is negative
