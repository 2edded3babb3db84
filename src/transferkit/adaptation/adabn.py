"""``adabn``: Adaptive Batch Normalization (Li et al., "Revisiting Batch Normalization For
Practical Domain Adaptation", arXiv:1603.04779, 2016). The network trains on the labelled
source alone, exactly as ``source-only``; then every BatchNorm layer's statistics are
re-estimated on target images only (their Algorithm 1), so each layer standardises target
activations by the target's own mean and variance. The weights are source-only's; only the
normalisation moves, at no extra training cost and with no trade-off to choose.

The statistics are re-estimated before every validation (the model saved is the best epoch's,
with target statistics), so source validation scores and the label-free selection are
computed on the network as it will run on the target. The method needs BatchNorm: a backbone
without it (text encoders, LayerNorm transformers) is refused, since the result would be
source-only under another name.
"""

from __future__ import annotations

from transferkit.adaptation.base import DEEP_METHODS, DeepMethod


@DEEP_METHODS.register("adabn")
class AdaBN(DeepMethod):
    """Source cross-entropy; BatchNorm statistics from the target."""

    uses_target = False  # training batches are source only
    uses_trade_off = False
    needs_batchnorm = True

    def norm_domains(self) -> tuple[str, ...]:
        return ("target",)

    def transfer_loss(self, extra, fs, ft, ls, lt, progress):  # pragma: no cover - unused
        return fs.new_zeros(())
