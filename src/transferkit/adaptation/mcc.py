"""``mcc``: Minimum Class Confusion (Jin, Wang, Long, Wang, "Minimum Class Confusion for
Versatile Domain Adaptation", ECCV 2020): no alignment of features at all; the target batch's
class confusion, the entropy-weighted, category-normalised correlation of its predictions
(eq. 1-7; :func:`losses.mcc_loss`), is minimised alongside the source risk (eq. 8):

    min  CE(source) + mu L_MCC(target),   temperature T = 2.5.
"""

from __future__ import annotations

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod
from transferkit.adaptation.losses import mcc_loss

TEMPERATURE = 2.5


@DEEP_METHODS.register("mcc")
class MCC(DeepMethod):
    """Class confusion of the target predictions."""

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):
        return mcc_loss(lt, TEMPERATURE)
