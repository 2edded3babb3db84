"""What every check shares: named checks that fail with one clear message, the plug-in under
test found by name or by class, and the options contract every registry family shares.

Checks raise :class:`AssertionError` through :func:`expect`, never with a bare ``assert``
(``python -O`` strips those, and a user's test run should not lose its checks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import torch

from transferkit.errors import UserError

Check = tuple[str, Callable[[], Any]]


def expect(condition: object, message: str) -> None:
    """Fail the running check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def run_checks(kind: str, name: str, checks: Iterable[Check]) -> None:
    """Run ``checks`` (``(what it checks, function)`` pairs) in order, under a forked torch
    random state (the caller's stays as it was) and one torch thread (the checks' models are
    so small that more threads only wait on each other, many times over on a busy machine).
    The first failure, or any error the plug-in raises inside a check, becomes one
    AssertionError that names the plug-in and the check: ``strategy 'mine' fails the check
    'gives the same predictions for the same seed': ...``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run(kind, name, checks)
    finally:
        torch.set_num_threads(threads)


def _run(kind: str, name: str, checks: Iterable[Check]) -> None:
    with torch.random.fork_rng(devices=[]):
        for what, check in checks:
            try:
                check()
            except AssertionError as e:
                raise AssertionError(f"{kind} {name!r} fails the check {what!r}: {e}") from e
            except Exception as e:  # noqa: BLE001 - any error of the plug-in fails this check
                raise AssertionError(
                    f"{kind} {name!r} fails the check {what!r}: it raised {type(e).__name__}: {e}"
                ) from e


def resolve_entry(registry: Any, entry: str | type, kind: str) -> tuple[str, Any]:
    """``(name, registered object)`` for a registered name or a registered class; a class that
    is not registered (or registered under another object) fails with how to register it."""
    if isinstance(entry, str):
        try:
            return entry.lower(), registry.get(entry)
        except UserError as e:
            raise AssertionError(f"{kind} {entry!r} is not registered: {e}") from e
    name = getattr(entry, "name", "")
    if not name or name not in registry or registry.get(name) is not entry:
        raise AssertionError(
            f"{kind} {entry!r} is not registered; register it first, e.g. with the "
            f"decorator @{registry_var(registry)}.register('my-name') on the class."
        )
    return name, entry


def registry_var(registry: Any) -> str:
    """How a registry is usually named in code, for messages."""
    return {
        "strategy": "STRATEGIES",
        "transferability score": "SCORES",
        "deep adaptation method": "DEEP_METHODS",
        "shallow adaptation method": "SHALLOW_METHODS",
        "pretraining method": "METHODS",
        "explanation method": "METHODS",
    }.get(registry.kind, "REGISTRY")


def options_declared(entry: Any) -> None:
    """An entry's ``options``, when it has them, is a dataclass whose every field has help
    text (the command line's ``--help`` is generated from it) and whose defaults are in
    range (an entry used with no options given must be valid)."""
    from transferkit.config import check_ranges

    cls = getattr(entry, "options", None)
    if cls is None:
        return
    expect(
        dataclasses.is_dataclass(cls),
        f"its options {cls!r} must be a dataclass (fields made with transferkit.config.opt)",
    )
    silent = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("help")]
    expect(not silent, f"options without help text: {', '.join(silent)} (use opt(default, help))")
    try:
        check_ranges(cls())
    except UserError as e:
        raise AssertionError(f"its default options are out of range: {e}") from e


def bounded_options(registry: Any, name: str) -> list[tuple[str, float]]:
    """``(dest, lowest allowed value)`` of every option of ``name`` with a lower bound."""
    from transferkit.config.options import dests

    out = []
    for dest, f in dests(registry, name).items():
        low = f.metadata.get("min", f.metadata.get("gt"))
        if low is not None:
            out.append((dest, low))
    return out


def flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")
