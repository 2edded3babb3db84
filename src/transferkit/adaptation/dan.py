"""``dan``: Deep Adaptation Networks (Long, Cao, Wang, Jordan, "Learning Transferable Features
with Deep Adaptation Networks", ICML 2015).

The multi-kernel MMD between source and target (eq. 2-3; :func:`losses.mk_mmd2`) is added to
the source risk for each adapted layer (eq. 4): here the pooled features and the logits,

    min  1/n_a sum J(theta(x_i^a), y_i^a) + lambda sum_{l} d_k^2(D_s^l, D_t^l).
"""

from __future__ import annotations

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod
from transferkit.adaptation.losses import mk_mmd2


@DEEP_METHODS.register("dan")
class DAN(DeepMethod):
    """MK-MMD on the features and on the logits."""

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):
        return mk_mmd2(fs, ft) + mk_mmd2(ls, lt)
