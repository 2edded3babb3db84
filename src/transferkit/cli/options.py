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
import typing
from typing import Any

from transferkit.config.fields import flag_of
from transferkit.config.mapping import Part, Setting, base_type, build, option_keys, setting_keys

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


def add_field(
    parser: argparse.ArgumentParser,
    f: dataclasses.Field,
    tp: Any,
    flag: str | None = None,
    dest: str | None = None,
    from_file: bool = False,
) -> None:
    """One option (or positional) for a settings field; ``from_file``: a config file may give
    it, so the command line need not (required options and positionals become optional)."""
    m, dest = f.metadata, dest or f.name
    default = (
        f.default
        if f.default is not dataclasses.MISSING
        else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    )
    tp = base_type(tp)
    kw: dict[str, Any] = {"help": _help(f, default), "default": argparse.SUPPRESS}
    if m.get("positional"):
        kw.update(nargs=m.get("nargs"), metavar=m.get("metavar", f.name.upper()))
        if kw["nargs"] is None and from_file:
            kw["nargs"] = "?"
        elif kw["nargs"] is None:
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
        required=bool(m.get("required")) and not from_file,
        **kw,
    )


def add_settings(
    parser: argparse.ArgumentParser, parts: tuple[Part, ...], from_file: bool = False
) -> None:
    """Options for every setting of a command's settings classes (nested ones included)."""
    for s in setting_keys(parts).values():
        add_field(parser, s.field, s.type, from_file=from_file)


def family_keys(keys: tuple[str, ...]) -> dict[str, Setting]:
    """The options every entry of the families ``keys`` declares, by name (``lora_rank``)."""
    return option_keys(r for key in keys for r in registries(key))


def add_family(parser: argparse.ArgumentParser, key: str) -> None:
    """The options every entry of the family ``key`` declares (``--lora-rank`` ...)."""
    for dest, s in family_keys((key,)).items():
        add_field(parser, s.field, s.type, flag="--" + dest.replace("_", "-"), dest=dest)


def settings_from_args(
    cls: type, ns: argparse.Namespace, families: tuple[str, ...] = (), skip: tuple[str, ...] = ()
) -> Any:
    """``cls`` filled from the options given (the rest keep their defaults); nested settings
    classes are filled the same way, and an ``options`` field gets the families' options.
    Fields in ``skip`` keep their defaults: the command's own options of the same name (compare's
    ``--labels-per-class``) are not theirs."""
    return build(cls, vars(ns), family_keys(families) if families else None, skip)
