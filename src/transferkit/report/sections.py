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
