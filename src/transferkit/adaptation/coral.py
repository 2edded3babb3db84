"""``coral``: Deep CORAL (Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain
Adaptation", ECCV Workshops 2016): the source risk plus the distance between the second-order
statistics of source and target features (eq. 1 and 5),

    l = l_CLASS + lambda l_CORAL,   l_CORAL = 1/(4 d^2) ||C_S - C_T||_F^2.
"""

from __future__ import annotations

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod
from transferkit.adaptation.losses import coral_loss


@DEEP_METHODS.register("coral")
class DeepCORAL(DeepMethod):
    """Covariance alignment of the pooled features."""

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):
        return coral_loss(fs, ft)
