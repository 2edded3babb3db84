"""One small generic registry, used for backbones, strategies, scores, methods and datasets.

Names are lowercase and unique; registering a name twice is an error. ``get`` of an unknown name
raises a :class:`~transferkit.errors.UserError` that suggests close names.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from transferkit.errors import UserError, suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping for one kind of thing (``kind`` is used in messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj`` it is a decorator."""
        if obj is None:
            return lambda o: self.register(name, o)  # type: ignore[return-value]
        if name != name.lower() or not name:
            raise ValueError(f"{self.kind} names must be non-empty lowercase, got {name!r}")
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        key = name.lower()
        if key not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise UserError(
                f"Unknown {self.kind} {name!r}.{suggest(key, self._items)} "
                f"Known {self.kind}s: {known}."
            )
        return self._items[key]

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern.lower()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
