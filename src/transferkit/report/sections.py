"""The report's section for each kind of run record, registered by the module that draws it.

A section function takes a :class:`~transferkit.store.RunRecord` and returns ``(Section,
verdicts)``. :data:`SECTIONS` imports every module of this package on first use, so a new
workflow's report section is one new file that registers itself under its run kind; records of
a kind without a section get the generic one (config, metrics, timings).
"""

from __future__ import annotations

from collections.abc import Callable

from transferkit.registry import Registry

SECTIONS: Registry[Callable] = Registry("report section", package="transferkit.report")

#: Blocks appended to every fit run's section by the modules that draw them (``explain``'s
#: "what transferred"): each takes the fit record and returns a list of blocks, often empty.
FIT_BLOCKS: Registry[Callable] = Registry("fit report block", package="transferkit.report")


def fit_blocks(r) -> list:
    """The registered extra blocks for the fit record ``r``, in name order."""
    return [b for name in FIT_BLOCKS.list() for b in FIT_BLOCKS.get(name)(r)]
