"""``source-only``: the no-adaptation baseline; the same network and recipe trained on the
labelled source alone (the lower bound every adaptation paper reports against)."""

from __future__ import annotations

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod


@DEEP_METHODS.register("source-only")
class SourceOnly(DeepMethod):
    """Cross-entropy on source batches; target images are never seen in training."""

    uses_target = False
    uses_trade_off = False

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):  # pragma: no cover - unused
        return fs.new_zeros(())
