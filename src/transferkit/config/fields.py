"""The building blocks of every settings dataclass: fields with help text and bounds, new
defaults for inherited fields, range checks, and reading a stored config back.

A settings class is a plain dataclass whose fields are made with :func:`opt`. The CLI builds
its options from these fields (:mod:`transferkit.cli.options`), every run stores the resolved
settings, and :func:`check_ranges` enforces the bounds a field declares, so a bad value gets
the same message from the command line and from Python.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import field
from typing import Any

from transferkit.errors import UserError


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with CLI help text (``metadata['help']``) and optional metadata:

    * bounds that :func:`check_ranges` enforces: ``min`` / ``max`` (inclusive), ``gt`` / ``lt``
      (exclusive); for lists, every element is checked;
    * ``choices``: the allowed values (or a registry, whose names are the allowed values);
    * ``flag`` (the option's name on the command line when not ``--field-name``), ``aliases``
      (more names that keep old command lines working), ``positional``, ``nargs``,
      ``required``, ``cli=False`` (not on the command line: Python only)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclasses.dataclass(frozen=True)
class Default:
    """A new default (and optionally help text) for a field a settings class inherits."""

    value: Any
    help: str | None = None


def defaults(**values: Any):
    """Class decorator, applied before ``@dataclass``: new defaults for inherited fields, with
    their help text and bounds kept (``@dataclass @defaults(batch_size=128) class P(Optimiser)``).
    A value may be a :class:`Default` to change the help text too."""

    def wrap(cls: type) -> type:
        inherited = {
            f.name: f
            for base in reversed(cls.__mro__[1:])
            for f in getattr(base, "__dataclass_fields__", {}).values()
        }
        hints = {}
        for base in reversed(cls.__mro__[1:]):
            if dataclasses.is_dataclass(base):
                hints.update(typing.get_type_hints(base))
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        for name, value in values.items():
            if name not in inherited:
                raise TypeError(f"{cls.__name__} inherits no field {name!r}")
            d = value if isinstance(value, Default) else Default(value)
            meta = dict(inherited[name].metadata)
            if d.help is not None:
                meta["help"] = d.help
            setattr(cls, name, opt(d.value, **meta))
            annotations[name] = hints[name]
        cls.__annotations__ = annotations
        return cls

    return wrap


_BOUNDS = {
    "min": (lambda v, b: v >= b, "at least"),
    "max": (lambda v, b: v <= b, "at most"),
    "gt": (lambda v, b: v > b, "above"),
    "lt": (lambda v, b: v < b, "below"),
}


def flag_of(f: dataclasses.Field) -> str:
    """The command-line name of a settings field."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def field_problems(f: dataclasses.Field, value: Any, flag: str) -> list[str]:
    """One phrase per bound or choice of ``f`` that ``value`` (each element of a list) breaks,
    naming the setting ``flag``."""
    values = value if isinstance(value, (list, tuple)) else [value]
    problems = []
    for key, (ok, words) in _BOUNDS.items():
        bound = f.metadata.get(key)
        if bound is None:
            continue
        bad = [
            v
            for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not ok(v, bound)
        ]
        if bad:
            problems.append(f"{flag} must be {words} {bound} (got {bad[0]})")
    choices = f.metadata.get("choices")
    if choices is not None:
        allowed = list(choices.list()) if hasattr(choices, "list") else list(choices)
        bad = [v for v in values if v is not None and v not in allowed]
        if bad:
            problems.append(f"{flag} must be one of {', '.join(map(str, allowed))}, not {bad[0]!r}")
    return problems


def range_problems(settings: Any, flags: dict[str, str] | None = None) -> list[str]:
    """One phrase per field of ``settings`` (and of its nested settings) outside its declared
    bounds or choices, e.g. ``"--image-size must be at least 1 (got 0)"``; None is not checked.
    ``flags`` maps field names to the flag to name (for options whose flag has a prefix)."""
    problems = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            problems += range_problems(value)
        elif value is not None:
            problems += field_problems(f, value, (flags or {}).get(f.name) or flag_of(f))
    return problems


def check_ranges(settings: Any, flags: dict[str, str] | None = None) -> None:
    """A UserError listing every out-of-range setting (see :func:`range_problems`)."""
    problems = range_problems(settings, flags)
    if problems:
        raise UserError("Invalid settings: " + "; ".join(problems) + ".")


def split_known(cls: type, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the items of ``values`` that are fields of ``cls``, the rest)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return (
        {k: v for k, v in values.items() if k in names},
        {k: v for k, v in values.items() if k not in names},
    )


class Stored:
    """``from_dict``: settings back from a stored config; keys that are no longer fields (the
    method options older runs kept at the top level) go to ``options``."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known, rest = split_known(cls, dict(d))
        if "options" in known or rest:
            known["options"] = {**rest, **known.get("options", {})}
        return cls(**known)
