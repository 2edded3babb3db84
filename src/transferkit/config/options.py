"""Options that belong to one registered entry (a strategy, a score, an adaptation method, a
pretraining method) rather than to a workflow.

An entry declares them as a dataclass in its ``options`` attribute::

    @dataclass
    class LoRAOptions:
        rank: int = opt(8, "Rank r of the low-rank update matrices.", min=1)

    @STRATEGIES.register("lora")
    class LoRA(Strategy):
        options = LoRAOptions

On the command line and in a stored config the option is named ``<prefix>_<field>`` (flag
``--lora-rank``): the prefix is the options class's ``prefix`` attribute when it has one (``""``
for options several entries share under their plain names, such as the discriminator's
``--hidden``), else the entry's registered name. A workflow's settings keep the values in one
flat ``options`` dict; :func:`resolve` turns it into the entry's options object.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transferkit.config.fields import check_ranges
from transferkit.errors import UserError


def option_dest(cls: type, entry: str, f: dataclasses.Field) -> str:
    prefix = getattr(cls, "prefix", None)
    prefix = entry.replace("-", "_") if prefix is None else prefix
    return f"{prefix}_{f.name}" if prefix else f.name


def dests(registry: Any, name: str) -> dict[str, dataclasses.Field]:
    """``{dest: field}`` of the options entry ``name`` declares (empty when none)."""
    cls = getattr(registry.get(name), "options", None)
    if cls is None:
        return {}
    return {option_dest(cls, name, f): f for f in dataclasses.fields(cls)}


def resolve(registry: Any, name: str, values: dict[str, Any]) -> Any:
    """The options object of entry ``name`` from flat ``values`` (defaults for what is not
    given), range-checked; None when the entry declares no options."""
    cls = getattr(registry.get(name), "options", None)
    if cls is None:
        return None
    fields = dests(registry, name)
    given = {f.name: values[d] for d, f in fields.items() if d in values}
    obj = cls(**given)
    check_ranges(obj, {f.name: "--" + d.replace("_", "-") for d, f in fields.items()})
    return obj


def resolved_values(registry: Any, names: list[str], values: dict[str, Any]) -> dict[str, Any]:
    """The flat options of ``names`` with every default filled in, for the stored config;
    refuses values that none of ``names`` takes (naming who takes them)."""
    out: dict[str, Any] = {}
    used: set[str] = set()
    for name in names:
        obj = resolve(registry, name, values)
        if obj is None:
            continue
        for dest, f in dests(registry, name).items():
            out[dest] = getattr(obj, f.name)
            used.add(dest)
    unused = sorted(set(values) - used)
    if unused:
        flags = ", ".join("--" + u.replace("_", "-") for u in unused)
        owners = {d: [n for n in registry.list() if d in dests(registry, n)] for d in unused}
        who = "; ".join(
            f"--{d.replace('_', '-')}: {', '.join(o) or 'no ' + registry.kind}"
            for d, o in owners.items()
        )
        verb, them, owns = (
            ("does", "it", "it belongs") if len(unused) == 1 else ("do", "them", "they belong")
        )
        raise UserError(
            f"{flags} {verb} not apply to {', '.join(names)} ({who}). Drop {them}, "
            f"or choose the {registry.kind} {owns} to."
        )
    return out
