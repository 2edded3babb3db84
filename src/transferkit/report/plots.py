"""Report plots, each returned as PNG bytes: one name to import them all by.

The plots live by kind: :mod:`~transferkit.report.fit_plots` (a fit's learning curves,
confusion matrix and reliability diagram), :mod:`~transferkit.report.efficiency_plots`
(accuracy against labels per class), :mod:`~transferkit.report.comparison_plots` (bars across
runs or models, time per stage) and :mod:`~transferkit.report.adapt_plots` (source and target
embeddings), all drawn on :mod:`~transferkit.report.canvas` (no pyplot; user text made safe).
"""

from __future__ import annotations

from transferkit.report.adapt_plots import domain_embeddings
from transferkit.report.canvas import COLORS, label
from transferkit.report.comparison_plots import bar_chart, stage_bar
from transferkit.report.efficiency_plots import data_efficiency
from transferkit.report.fit_plots import confusion_matrix, learning_curves, reliability_diagram

__all__ = [
    "COLORS",
    "bar_chart",
    "confusion_matrix",
    "data_efficiency",
    "domain_embeddings",
    "label",
    "learning_curves",
    "reliability_diagram",
    "stage_bar",
]
