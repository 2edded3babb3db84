"""Command-line options generated from the settings dataclasses and from the registries.

Every field of a settings class becomes one option with the field's help text, default, type
and bounds (:mod:`transferkit.config.fields`); a field that names a registry lists its entries
in the help; every option a registered entry declares (LoRA's ``--lora-rank``, the kNN score's
``--knn-k``) is added to the commands that use that family. Parsing fills the same settings
objects the Python API takes, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import types
import typing
from typing import Any

from transferkit.config.fields import flag_of

#: Registry keys that settings fields name (``opt(..., registry="strategy")``), and where the
#: registries live: imported only when a command's options are built.
REGISTRIES = {
    "strategy": ("transferkit.strategies:STRATEGIES",),
    "score": ("transferkit.transferability:SCORES",),
    "adaptation": ("transferkit.adaptation:DEEP_METHODS", "transferkit.adaptation:SHALLOW_METHODS"),
    "selection": ("transferkit.adaptation.selection:SELECTION_RULES",),
    "pretrain": ("transferkit.pretraining:METHODS",),
    "explain": ("transferkit.explanation.methods:METHODS",),
}


def registries(key: str) -> list[Any]:
    out = []
    for where in REGISTRIES[key]:
        module, attr = where.split(":")
        out.append(getattr(importlib.import_module(module), attr))
    return out


def _base_type(tp: Any) -> Any:
    """int for ``int | None``, etc."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def _comma_list(item: type, flag: str):
    def parse(text: str) -> list:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        try:
            return [item(p) for p in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} takes comma-separated {'numbers' if item is not str else 'names'} "
                f"such as {'0.3,1' if item is not str else 'a,b'}; got {text!r}"
            ) from None

    return parse


def _help(f: dataclasses.Field, default: Any) -> str:
    text = f.metadata.get("help", "")
    key = f.metadata.get("registry")
    if key:
        text += " One of: " + "; ".join(r.names() for r in registries(key)) + "."
    if isinstance(default, list):
        default = ",".join(map(str, default))
    text = f"{text} (default: {default})" if default not in (None, "", {}) else text
    return text.replace("%", "%%")  # argparse expands %-formats in help


def _ordered_fields(cls: type) -> list[dataclasses.Field]:
    """The class's own fields first, then those of its blocks (for a readable --help)."""
    inherited = {
        f.name
        for base in cls.__mro__[1:]
        if dataclasses.is_dataclass(base)
        for f in dataclasses.fields(base)
    }
    own = set(cls.__dict__.get("__annotations__", {})) - inherited
    fields = dataclasses.fields(cls)
    return [f for f in fields if f.name in own] + [f for f in fields if f.name not in own]


def add_field(
    parser: argparse.ArgumentParser,
    f: dataclasses.Field,
    tp: Any,
    flag: str | None = None,
    dest: str | None = None,
) -> None:
    """One option (or positional) for a settings field."""
    m, dest = f.metadata, dest or f.name
    default = (
        f.default
        if f.default is not dataclasses.MISSING
        else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    )
    tp = _base_type(tp)
    kw: dict[str, Any] = {"help": _help(f, default), "default": argparse.SUPPRESS}
    if m.get("positional"):
        kw.update(nargs=m.get("nargs"), metavar=m.get("metavar", f.name.upper()))
        if kw["nargs"] is None:
            kw.pop("nargs")
            kw.pop("default")
        parser.add_argument(dest, **kw)
        return
    flags = [flag or flag_of(f), *m.get("aliases", ())]
    if tp is bool:
        parser.add_argument(*flags, dest=dest, action=argparse.BooleanOptionalAction, **kw)
        return
    if typing.get_origin(tp) is list:
        kw["type"] = _comma_list(typing.get_args(tp)[0], flags[0])
    elif tp in (int, float, str):
        kw["type"] = tp
    parser.add_argument(
        *flags,
        dest=dest,
        metavar=m.get("metavar", dest.upper()),
        required=bool(m.get("required")),
        **kw,
    )


def add_settings(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Options for every field of ``cls`` (nested settings classes included)."""
    hints = typing.get_type_hints(cls)
    for f in _ordered_fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            add_settings(parser, hints[f.name], skip)
        else:
            add_field(parser, f, hints[f.name])


def add_family(parser: argparse.ArgumentParser, key: str) -> None:
    """The options every entry of the family ``key`` declares (``--lora-rank`` ...)."""
    for registry in registries(key):
        for dest, f, cls in registry.option_fields():
            hints = typing.get_type_hints(cls)
            add_field(parser, f, hints[f.name], flag="--" + dest.replace("_", "-"), dest=dest)


def family_values(ns: argparse.Namespace, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values given for the families' own options, by name (``{"lora_rank": 4}``)."""
    dests = {d for k in keys for r in registries(k) for d, _, _ in r.option_fields()}
    return {k: v for k, v in vars(ns).items() if k in dests}


def settings_from_args(
    cls: type, ns: argparse.Namespace, families: tuple[str, ...] = (), **fixed: Any
) -> Any:
    """``cls`` filled from the options given (the rest keep their defaults); nested settings
    classes are filled the same way, and an ``options`` field gets the families' options."""
    hints = typing.get_type_hints(cls)
    given = vars(ns)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "options" and families:
            values["options"] = family_values(ns, families)
        elif dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = settings_from_args(hints[f.name], ns)
        elif f.name in given:
            values[f.name] = given[f.name]
    return cls(**{**values, **fixed})
