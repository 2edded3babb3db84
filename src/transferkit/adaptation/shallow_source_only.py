"""``shallow-source-only``: the shallow baseline, the same logistic-regression head on the
unadapted source features (a linear probe trained on the source, applied to the target)."""

from __future__ import annotations

from transferkit.adaptation.base import SHALLOW_METHODS, ShallowMethod


@SHALLOW_METHODS.register("shallow-source-only")
class ShallowSourceOnly(ShallowMethod):
    """No map, no weights: what the shallow methods are measured against."""
