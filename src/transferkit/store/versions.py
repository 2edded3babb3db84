"""Package versions recorded with every run, so ``transferkit runs show`` can tell how to reproduce it.

Versions are read from installed package metadata (:mod:`importlib.metadata`) and never by
importing the packages: importing torch or transformers just to read ``__version__`` would cost
seconds on every run and every ``transferkit runs`` call.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

#: Distributions whose versions decide whether a run can be reproduced. Always listed (``None``
#: when missing), so a missing core package is visible in the record.
CORE_PACKAGES = (
    "transferkit",
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "scikit-learn",
    "safetensors",
)

#: Optional distributions, recorded only when installed.
OPTIONAL_PACKAGES = ("transformers", "peft", "sentence-transformers", "accelerate", "scipy")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _cached() -> tuple[tuple[str, str | None], ...]:
    items: list[tuple[str, str | None]] = [("python", platform.python_version())]
    items += [(name, _version(name)) for name in CORE_PACKAGES]
    for name in OPTIONAL_PACKAGES:
        v = _version(name)
        if v is not None:
            items.append((name, v))
    return tuple(items)


def package_versions() -> dict[str, str | None]:
    """Versions of Python and the packages that affect results, e.g. ``{"torch": "2.4.0", ...}``.

    Cached for the life of the process (installed packages do not change under a running
    program); a fresh dict is returned each time so callers may modify it.
    """
    return dict(_cached())
