"""Report section for a ``pretrain`` run: the generic content (status, metrics, provenance)
with its learning curves, and blocks that a pretraining method registers for itself in
:data:`PRETRAIN_BLOCKS` under the method's name (multi-task: per-task curves and heads, in
``pretrain_multitask.py``)."""

from __future__ import annotations

from collections.abc import Callable

from transferkit.registry import Registry
from transferkit.report.common import provenance
from transferkit.report.document import Image, Section
from transferkit.report.evaluation import generic_section
from transferkit.report.fit_plots import learning_curves
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord

#: ``method -> f(record) -> (blocks, verdicts)``: what a pretraining method adds to its run's
#: section (placed after the learning curves, before the provenance).
PRETRAIN_BLOCKS: Registry[Callable] = Registry(
    "pretrain report block", package="transferkit.report"
)


def history_of(r: RunRecord) -> list[dict]:
    history = r.extra.get("history")
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


@SECTIONS.register("pretrain")
def pretrain_section(r: RunRecord) -> tuple[Section, list[str]]:
    """The pretrain run's section and the verdicts its method's blocks give."""
    section = generic_section(r)
    extra: list = []
    history = history_of(r)
    if history:
        method = r.config.get("method", "pretrain")
        extra.append(
            Image(
                f"{r.id}-curves",
                learning_curves(history, f"{method} pretraining"),
                alt=f"loss and validation accuracy per epoch of {method} pretraining",
                caption="Learning curves (the best epoch's weights are kept)",
            )
        )
    verdicts: list[str] = []
    method = str(r.config.get("method", ""))
    if method in PRETRAIN_BLOCKS:
        blocks, verdicts = PRETRAIN_BLOCKS.get(method)(r)
        extra += blocks
    at = len(section.blocks) - len(provenance(r))
    section.blocks[at:at] = extra
    return section, verdicts
