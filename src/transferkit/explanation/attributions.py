"""Attributions through Captum: integrated gradients (images, and text through the embedding
layer) and occlusion (images).

Both explain the whole model, head and backbone together, for one class per input (the
predicted one unless asked otherwise). Image maps are (H, W) at the model's input size, scaled
to [0, 1]; text gets one signed score per token.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.explanation.methods import METHODS, Attribution, Method, Settings, hookable


def heat(attr: torch.Tensor, positive: bool = False, clip: float = 99.0) -> list[np.ndarray]:
    """(N, C, H, W) attributions -> per-image (H, W) maps in [0, 1]: summed over channels as
    magnitudes (or the positive part: evidence for the class), clipped at the ``clip``
    percentile so that a single pixel does not wash the map out."""
    a = attr.detach().float()
    m = a.sum(1).clamp(min=0) if positive else a.abs().sum(1)
    out = []
    for one in m.cpu().numpy():
        top = float(np.percentile(one, clip)) if one.size else 0.0
        out.append(np.clip(one / top, 0, 1) if top > 0 else np.zeros_like(one))
    return out


@METHODS.register("ig")
class IntegratedGradients(Method):
    r"""Integrated gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep
    Networks", ICML 2017), computed by Captum:

        IG_i(x) = (x_i - x'_i) \int_0^1 dF(x' + a (x - x')) / dx_i  da

    from the baseline x' (images: zeros after normalisation, i.e. the mean colour; text: the
    padding token in every position but the special ones). Completeness, sum_i IG_i(x) =
    F(x) - F(x'), holds up to the numerical integration error that Captum reports as the
    convergence delta. Text is attributed through the embedding layer (Captum's
    LayerIntegratedGradients on the output of the first block), one score per token."""

    modalities = ("image", "text")
    label = "integrated gradients"

    def attribute(
        self, model: nn.Module, x: Any, targets: torch.Tensor, settings: Settings
    ) -> Attribution:
        if isinstance(x, dict):
            return token_attributions(model, x, targets, settings)
        from captum.attr import IntegratedGradients as CaptumIG

        baseline = torch.zeros_like(x)
        attr, delta = CaptumIG(model).attribute(
            x,
            baselines=baseline,
            target=targets,
            n_steps=settings.ig_steps,
            internal_batch_size=max(settings.batch_size, len(x)),
            return_convergence_delta=True,
        )
        return Attribution(
            heat(attr),
            delta.detach().float().cpu().numpy(),
            output_gap(model, x, baseline, targets),
        )


def output_gap(
    forward, x: torch.Tensor, baseline: torch.Tensor, targets: torch.Tensor, *extra: torch.Tensor
) -> np.ndarray:
    """F(x) - F(baseline) for each input's explained class (what completeness says the
    attributions add up to)."""
    with torch.no_grad():
        fx, fb = forward(x, *extra).float(), forward(baseline, *extra).float()
    t = targets[:, None].to(fx.device)
    return (fx.gather(1, t) - fb.gather(1, t))[:, 0].cpu().numpy()


def token_attributions(
    model: nn.Module, enc: dict[str, torch.Tensor], targets: torch.Tensor, settings: Settings
) -> Attribution:
    """Integrated gradients of a text model through its embedding layer (an ensemble's:
    through each member's, summed): one score per token (the attribution summed over the
    embedding dimensions), padding dropped."""
    ids = enc["input_ids"]
    keys = [k for k in enc if k != "input_ids"]

    def forward(input_ids: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return model({"input_ids": input_ids, **dict(zip(keys, rest))})

    # an ensemble (members sharing a tokenizer) is attributed through every member's
    # embedding layer at once; a token's score is the sum over the members
    members = getattr(model, "members", None)
    layer = (
        [hookable(m.backbone.blocks()[0]) for m in members]
        if members is not None
        else hookable(model.backbone.blocks()[0])
    )
    keep = torch.tensor(list(settings.keep_ids) or [-1], device=ids.device)
    baseline = torch.where(torch.isin(ids, keep), ids, torch.full_like(ids, settings.pad_id))
    with warnings.catch_warnings():  # the members' embedding layers do not feed each other
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        attr, delta = _layer_ig(forward, layer, ids, baseline, targets, settings, enc, keys)
    parts = attr if isinstance(attr, (list, tuple)) else [attr]
    scores = sum(a.detach().float().sum(-1) for a in parts)
    mask = enc.get("attention_mask", torch.ones_like(ids)).bool()
    extra = tuple(enc[k] for k in keys)
    return Attribution(
        [s[m].cpu().numpy() for s, m in zip(scores, mask)],
        delta.detach().float().cpu().numpy(),
        output_gap(forward, ids, baseline, targets, *extra),
    )


@METHODS.register("occlusion")
class Occlusion(Method):
    """Occlusion (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
    ECCV 2014), computed by Captum: a square patch (``--window`` pixels, stride half of it)
    is replaced by the mean colour at every position, and the drop of the class's score is the
    patch's attribution; the map shows where hiding the image hurts the prediction."""

    label = "occlusion"

    def attribute(
        self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, settings: Settings
    ) -> Attribution:
        from captum.attr import Occlusion as CaptumOcclusion

        c, h, w = x.shape[1:]
        side = max(1, min(settings.window, h, w))
        stride = max(1, side // 2)
        attr = CaptumOcclusion(model).attribute(
            x,
            sliding_window_shapes=(c, side, side),
            strides=(c, stride, stride),
            baselines=0.0,
            target=targets,
            perturbations_per_eval=max(1, settings.batch_size // len(x)),
        )
        return Attribution(heat(attr, positive=True))


def _layer_ig(forward, layer, ids, baseline, targets, settings: Settings, enc, keys):
    """Captum's layer integrated gradients of ``forward`` through ``layer`` (one or several)."""
    from captum.attr import LayerIntegratedGradients

    return LayerIntegratedGradients(forward, layer).attribute(
        ids,
        baselines=baseline,
        target=targets,
        n_steps=settings.ig_steps,
        additional_forward_args=tuple(enc[k] for k in keys),
        internal_batch_size=max(settings.batch_size, len(ids)),
        return_convergence_delta=True,
    )
