"""One small generic registry, used for backbones, backbone sources, strategies, scores,
adaptation methods, selection rules, pretraining methods, datasets and report sections.

Names are lowercase and unique; registering a name twice is an error. ``get`` of an unknown name
raises a :class:`~transferkit.errors.UserError` that suggests close names. The decorator writes
the name once: ``@SCORES.register("logme")`` sets ``LogME.name = "logme"``.

A family's package finds its members by itself: :func:`discover` imports every module of the
package, and each module registers what it holds, so adding a method is adding one file.

An entry may declare its own settings as a dataclass in its ``options`` attribute (LoRA's
rank, the discriminator's width, the kNN score's k); :meth:`Registry.option_fields` lists them
so that the command line, its help and the validation are generated from the entries
(:mod:`transferkit.config.options`).
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from transferkit.errors import UserError, suggest

T = TypeVar("T")


def plural(noun: str) -> str:
    """The English plural of a registry's noun, for messages ("Known strategies: ...").

    The last word takes the ending: ``strategy`` -> ``strategies``, ``backbone source`` ->
    ``backbone sources``, ``report section`` -> ``report sections``; a vowel before the y keeps
    it (``key`` -> ``keys``), and s, x, z, ch and sh take ``es``.
    """
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


class Registry(Generic[T]):
    """A name -> object mapping for one kind of thing (``kind``, a singular noun, is used in
    messages; ``plural_kind`` when its plural is not the regular one :func:`plural` makes)."""

    def __init__(
        self, kind: str, package: str | None = None, plural_kind: str | None = None
    ) -> None:
        self.kind = kind
        self.kinds = plural_kind or plural(kind)
        self.package = package  # discovered on first lookup when given
        self._items: dict[str, T] = {}
        self._discovered = package is None

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name`` (and set ``obj.name``); without ``obj`` it is a
        decorator."""
        if obj is None:
            return lambda o: self.register(name, o)  # type: ignore[return-value]
        if name != name.lower() or not name:
            raise ValueError(f"{self.kind} names must be non-empty lowercase, got {name!r}")
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        if isinstance(obj, type) or hasattr(obj, "__dict__"):
            try:
                obj.name = name  # type: ignore[attr-defined]
            except (AttributeError, TypeError):  # e.g. a frozen object: it keeps its own
                pass
        self._items[name] = obj
        return obj

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return what it held: for a plug-in that is unloaded, and for
        tests that register a throwaway entry. An unknown name is a :class:`UserError`."""
        entry = self.get(name)
        del self._items[str(name).lower()]
        return entry

    def _ensure(self) -> None:
        if not self._discovered:
            self._discovered = True
            discover(self.package)  # type: ignore[arg-type]

    def get(self, name: str) -> T:
        self._ensure()
        key = str(name).lower()
        if key not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise UserError(
                f"Unknown {self.kind} {name!r}.{suggest(key, self._items)} "
                f"Known {self.kinds}: {known}."
            )
        return self._items[key]

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        self._ensure()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern.lower()))

    def names(self) -> str:
        """The registered names as ``a, b, c`` (for help texts)."""
        return ", ".join(self.list())

    def option_fields(self) -> list[tuple[str, Any, type]]:
        """``(dest, field, options class)`` for every option an entry declares, each name
        once (entries may share options, e.g. the discriminator's width). ``dest`` is
        the option's name on the command line and in stored configs (see
        :func:`transferkit.config.options.option_dest`)."""
        import dataclasses

        from transferkit.config.options import option_dest

        seen: set[str] = set()
        out = []
        for name in self.list():
            cls = getattr(self._items[name], "options", None)
            for f in dataclasses.fields(cls) if cls is not None else ():
                dest = option_dest(cls, name, f)
                if dest not in seen:  # options classes may share fields (latent_dim)
                    seen.add(dest)
                    out.append((dest, f, cls))
        return out

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        self._ensure()
        return iter(sorted(self._items))

    def __len__(self) -> int:
        self._ensure()
        return len(self._items)


def discover(package: str) -> list[str]:
    """Import every module of ``package`` (not sub-packages' private ``_*`` modules), so that
    each registers what it defines; returns the module names imported."""
    pkg = importlib.import_module(package)
    names = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{package}.{info.name}")
        names.append(info.name)
    return names
