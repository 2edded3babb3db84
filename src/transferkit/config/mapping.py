"""A command's settings as one flat mapping, and back: the shape of a YAML config file.

One key per command-line option, named as the field (``lr``, ``labels_per_class``; the option
is ``--lr``, ``--labels-per-class``): nested settings (fit's data and training recipe) are
flattened, and the entries' own options (``lora_rank``, ``knn_k``) sit beside the fields, as
their flags do. A command may take several settings classes (compare: its own and fit's, less
the fields it replaces); a :data:`Part` says which. :func:`to_mapping` writes the mapping
(``--print-config``, ``runs show --config``, and through :mod:`~transferkit.config.reproduce`
the command line that reproduces a run: each key is one flag), :func:`check_mapping` refuses
what the flags would refuse (an unknown key, a wrong type, a value out of bounds) and
:func:`build` fills the settings from checked values, so a file and the command line give the
same settings objects.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from dataclasses import dataclass
from typing import Any

from transferkit.config.fields import field_problems
from transferkit.errors import UserError

#: The key naming the command a mapping is for (``command: fit``).
COMMAND_KEY = "command"

#: A settings class and the fields its command leaves out (they are the command's own).
Part = tuple[type, tuple[str, ...]]


@dataclass(frozen=True)
class Setting:
    """One key of a command's mapping: the field it fills, the field's type, and where the
    field is in the settings object (``("data", "labels_per_class")`` in fit's)."""

    key: str
    field: dataclasses.Field
    type: Any
    path: tuple[str, ...] = ()

    def value(self, settings: Any) -> Any:
        return functools.reduce(getattr, self.path or (self.key,), settings)


def base_type(tp: Any) -> Any:
    """int for ``int | None``, etc."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _optional(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def ordered_fields(cls: type) -> list[dataclasses.Field]:
    """The class's own fields first, then those of its blocks (the order of ``--help``)."""
    inherited = {
        f.name
        for base in cls.__mro__[1:]
        if dataclasses.is_dataclass(base)
        for f in dataclasses.fields(base)
    }
    own = set(cls.__dict__.get("__annotations__", {})) - inherited
    fields = dataclasses.fields(cls)
    return [f for f in fields if f.name in own] + [f for f in fields if f.name not in own]


def setting_keys(parts: typing.Sequence[Part]) -> dict[str, Setting]:
    """Every key of a command's settings in ``--help`` order: a class's own fields, those of
    its blocks, then its nested settings (flattened); the fields a part skips and Python-only
    fields (``cli=False``: the options dict) left out. Two fields of one name are an error, as
    two options of one name are for argparse."""
    out: dict[str, Setting] = {}

    def collect(cls: type, skip: tuple[str, ...], path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(cls)
        fields = ordered_fields(cls)  # the class's own settings before its nested groups
        nested = [f for f in fields if dataclasses.is_dataclass(hints[f.name])]
        for f in [f for f in fields if f not in nested] + nested:
            if f.name in skip or not f.metadata.get("cli", True):
                continue
            if dataclasses.is_dataclass(hints[f.name]):
                collect(hints[f.name], skip, (*path, f.name))
            elif f.name in out:
                raise ValueError(f"two settings named {f.name!r} in {[p[0] for p in parts]}")
            else:
                out[f.name] = Setting(f.name, f, hints[f.name], (*path, f.name))

    for cls, skip in parts:
        collect(cls, skip, ())
    return out


def option_keys(registries: typing.Iterable[Any]) -> dict[str, Setting]:
    """The keys of the options that the registries' entries declare (``lora_rank`` ...); one
    name in two registries is an error, as two options of one name are for argparse."""
    out: dict[str, Setting] = {}
    for registry in registries:
        for dest, f, cls in registry.option_fields():
            if dest in out:
                raise ValueError(f"two {registry.kind} options named {dest!r}")
            out[dest] = Setting(dest, f, typing.get_type_hints(cls)[f.name])
    return out


def _plain(value: Any, tp: Any = None) -> Any:
    """``value`` as YAML's plain types: lists for tuples, text for paths, and a list stored in a
    text setting joined by commas as its flag takes it (rank stores its expanded models)."""
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return ",".join(map(str, items)) if base_type(tp) is str else items
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def to_mapping(settings: typing.Sequence[Any], parts: typing.Sequence[Part]) -> dict[str, Any]:
    """The flat mapping of a command's settings objects (one per part, matched by class):
    every setting's key and value, then the entries' options from the ``options`` dict."""
    by_class = {type(s): s for s in settings}
    out: dict[str, Any] = {}
    for cls, skip in parts:
        obj = by_class[cls]
        for key, s in setting_keys([(cls, skip)]).items():
            out[key] = _plain(s.value(obj), s.type)
        out.update(_plain(getattr(obj, "options", None) or {}))
    return out


_MISSING = object()

#: What a value of each type must be, and how a YAML value becomes one.
_KINDS = {
    bool: ("true or false", lambda v: v if isinstance(v, bool) else _MISSING),
    int: (
        "a whole number",
        lambda v: v if isinstance(v, int) and not isinstance(v, bool) else _MISSING,
    ),
    float: (
        "a number",
        lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _MISSING,
    ),
    str: (
        "text",
        lambda v: (
            v
            if isinstance(v, str)
            else str(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else _MISSING
        ),
    ),
}


def _coerce(key: str, value: Any, tp: Any) -> tuple[Any, str | None]:
    """(the value as the setting's type, None) or (None, what is wrong with it)."""
    if value is None:
        return (None, None) if _optional(tp) else (None, f"{key} cannot be null")
    tp = base_type(tp)
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            return None, f"{key} must be a list such as [a, b], not {value!r}"
        items = [_coerce(key, v, typing.get_args(tp)[0]) for v in value]
        problem = next((p for _, p in items if p), None)
        return (None, f"{problem} (in the list)") if problem else ([v for v, _ in items], None)
    if tp not in _KINDS:
        return value, None
    words, convert = _KINDS[tp]
    out = convert(value)
    if out is _MISSING:
        hint = " (quote it: YAML reads yes, no, on and off as booleans)" if tp is str else ""
        return None, f"{key} must be {words}, not {value!r}{hint}"
    return out, None


def _unknown(key: Any, known: typing.Iterable[str]) -> str:
    text = str(key).lstrip("-").replace("-", "_")
    close = difflib.get_close_matches(text, list(known), n=1, cutoff=0.6)
    return f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def check_mapping(
    mapping: dict[Any, Any], known: dict[str, Setting], source: str, command: str
) -> dict[str, Any]:
    """The values of ``mapping`` as their settings' types, without the ``command`` key. A
    UserError names what the flags would refuse: a mapping for another command, unknown keys
    (with the closest known one), values of the wrong type or outside their bounds."""
    named = mapping.get(COMMAND_KEY, command)
    if named != command:
        raise UserError(
            f"{source} is a config for `transferkit {named}`, not `{command}`: run "
            f"`transferkit {named} --config {source}`, or change its `command:` line."
        )
    unknown = [k for k in mapping if k != COMMAND_KEY and k not in known]
    if unknown:
        raise UserError(
            f"{source}: unknown setting{'s' * (len(unknown) > 1)} "
            f"{', '.join(_unknown(k, known) for k in unknown)} for `transferkit {command}`. "
            f"The keys are the settings' names as `transferkit {command} --print-config` "
            "writes them."
        )
    values, problems = {}, []
    for key, value in mapping.items():
        if key == COMMAND_KEY:
            continue
        s = known[key]
        values[key], problem = _coerce(key, value, s.type)
        problems += [problem] if problem else field_problems(s.field, values[key], key)
    if problems:
        raise UserError(
            f"{source}: {'; '.join(problems)}. Fix the file (`transferkit {command} "
            "--print-config` writes every setting), or override the setting with its flag."
        )
    return values


def build(
    cls: type,
    values: dict[str, Any],
    options: typing.Container[str] | None = None,
    skip: tuple[str, ...] = (),
) -> Any:
    """``cls`` filled from flat ``values`` (the rest keep their defaults): nested settings the
    same way, and the ``options`` field, when ``options`` names the entries' option keys, with
    the values of those keys. Fields in ``skip`` (the command's own) keep their defaults."""
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if f.name == "options" and options is not None:
            kw["options"] = {k: v for k, v in values.items() if k in options}
        elif dataclasses.is_dataclass(hints[f.name]):
            kw[f.name] = build(hints[f.name], values, skip=skip)
        elif f.name in values:
            kw[f.name] = values[f.name]
    return cls(**kw)


def from_mapping(
    mapping: dict[str, Any],
    parts: typing.Sequence[Part],
    command: str,
    options: dict[str, Setting] | None = None,
    source: str = "the config",
) -> list[Any]:
    """The inverse of :func:`to_mapping`: checked, then one settings object per part.
    ``options`` are the keys of the entries' options the command takes (:func:`option_keys`)."""
    known = {**setting_keys(parts), **(options or {})}
    values = check_mapping(mapping, known, source, command)
    return [build(cls, values, options or {}, skip) for cls, skip in parts]
