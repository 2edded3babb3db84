"""What fine-tuning changed, block by block: representations (linear CKA between the source
model and the trained model on the same target examples) and weights (relative change), and a
plain-language reading of the profile with the ``--unfreeze K`` it suggests.

Both models are seen through the backbone contract: ``blocks()`` gives the same ordered
groups for the source and the trained copy of one architecture, so block i of one is block i
of the other. A block's representation is its output pooled over positions (feature maps
averaged over height and width, token sequences over the non-padding tokens), as in the
pooled-feature comparisons of Kornblith et al. (ICML 2019).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.data.batches import to_device
from transferkit.explanation.cka import linear_cka
from transferkit.explanation.methods import first_tensor, hookable
from transferkit.zoo.base import Backbone

#: A block whose CKA with the source is at least this "barely changed".
BARELY = 0.95
#: A relative weight change below this is too small to explain a drop in CKA by itself.
STATS_ONLY = 0.01


def _pool(out: Any, mask: torch.Tensor | None) -> torch.Tensor | None:
    t = first_tensor(out)
    if t is None:
        return None
    t = t.detach().float()
    if t.ndim == 4:
        return t.mean(dim=(2, 3))
    if t.ndim == 3:
        if mask is not None and tuple(mask.shape) == tuple(t.shape[:2]):
            m = mask.to(t.dtype).unsqueeze(-1)
            return (t * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return t.mean(1)
    return t.reshape(len(t), -1)


@torch.no_grad()
def block_features(
    backbone: Backbone, batches: Iterable, device: torch.device
) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Each block's pooled output for every example of ``batches`` ((inputs, labels) pairs),
    and the backbone's own features; a block without a runnable module gives None."""
    layers = [hookable(b) for b in backbone.blocks()]
    seen: dict[int, torch.Tensor] = {}
    mask: list[torch.Tensor | None] = [None]

    def keep(i: int):
        def hook(_module: nn.Module, _inputs: Any, out: Any) -> None:
            pooled = _pool(out, mask[0])
            if pooled is not None:
                seen[i] = pooled.cpu()

        return hook

    handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(layers) if m is not None]
    parts: list[list[torch.Tensor]] = [[] for _ in layers]
    final = []
    backbone.eval().to(device)
    try:
        for x, _ in batches:
            x = to_device(x, device)
            mask[0] = x.get("attention_mask") if isinstance(x, dict) else None
            seen.clear()
            final.append(backbone.forward_features(x).float().cpu())
            for i in range(len(layers)):
                if i in seen:
                    parts[i].append(seen[i])
    finally:
        for h in handles:
            h.remove()
    blocks = [torch.cat(p).numpy() if p else None for p in parts]
    return blocks, torch.cat(final).numpy() if final else np.zeros((0, backbone.num_features))


def merged(backbone: Backbone) -> Backbone:
    """``backbone`` with low-rank adapters (LoRA) merged into a copy of its weights, so its
    blocks hold the same parameters as the source's; other backbones as they are."""
    if not getattr(backbone, "has_adapters", False):
        return backbone
    copied = copy.deepcopy(backbone)
    copied.model = copied.model.merge_and_unload()
    return copied


@torch.no_grad()
def weight_change(source: Backbone, trained: Backbone) -> list[dict[str, Any]]:
    """Per block: ||W - W0|| / ||W0|| over all its parameters (W0: the source's), and its
    parameter count. NaN where the two blocks do not hold the same shapes."""
    out = []
    for i, (b0, b1) in enumerate(zip(source.blocks(), merged(trained).blocks()), start=1):
        p0, p1 = list(b0.parameters()), list(b1.parameters())
        if len(p0) != len(p1) or any(a.shape != b.shape for a, b in zip(p0, p1)):
            out.append({"block": i, "weight_change": math.nan, "params": 0})
            continue
        num = sum(float(((b.float().cpu() - a.float().cpu()) ** 2).sum()) for a, b in zip(p0, p1))
        den = sum(float((a.float().cpu() ** 2).sum()) for a in p0)
        out.append(
            {
                "block": i,
                "weight_change": math.sqrt(num / den) if den > 0 else math.nan,
                "params": int(sum(a.numel() for a in p0)),
            }
        )
    return out


def cka_profile(source_blocks: list, trained_blocks: list) -> list[float]:
    """Linear CKA of block i of the source with block i of the trained model."""
    return [
        linear_cka(a, b) if a is not None and b is not None else math.nan
        for a, b in zip(source_blocks, trained_blocks)
    ]


def _span(first: int, last: int) -> str:
    return f"block {first}" if first == last else f"blocks {first}-{last}"


def read_profile(
    cka: list[float], change: list[float], flag: bool = True
) -> tuple[str, int | None]:
    """A plain-language reading of a CKA profile (and the weight change), and the ``--unfreeze
    K`` it suggests (None when no smaller K follows from it); ``flag=False`` leaves the fit
    flags out of the text (the run was not a fit).

    Block i's output depends on every block below it, so the first block whose CKA with the
    source falls below :data:`BARELY` is where the adaptation starts: the blocks under it kept
    the source's representation, and training only the blocks from there up (``--unfreeze
    K``) is the cheaper recipe the profile points to. Where that block's weights hardly moved,
    the change more likely comes from re-estimated normalisation statistics, and the reading
    says so."""
    text, k = _reading(cka, change)
    if not flag:
        text = text.replace(f", --unfreeze {k},", "").replace(" (--strategy linear)", "")
        text = text.replace(" and --unfreeze would not save much", "")
    return text, k


def _reading(cka: list[float], change: list[float]) -> tuple[str, int | None]:
    n = len(cka)
    known = [(i, c) for i, c in enumerate(cka) if not math.isnan(c)]
    if not known:
        return "No block's representation could be compared with the source model's.", None
    first = next((i for i, c in known if c < BARELY), None)
    top = max(range(n), key=lambda i: -1 if math.isnan(change[i]) else change[i])
    weights = (
        f" The largest relative weight change is in block {top + 1} ({100 * change[top]:.1f}%)."
        if not math.isnan(change[top])
        else ""
    )
    if first is None:
        return (
            f"No block's representation of the target examples moved far from the source "
            f"model's (CKA at least {BARELY} in all {n} blocks): fine-tuning kept the source "
            f"features, so a linear probe (--strategy linear) is likely about as good at a "
            f"fraction of the cost.{weights}"
        ), None
    moved = ", ".join(f"{c:.2f}" for i, c in known if i >= first)
    if not math.isnan(change[first]) and change[first] < STATS_ONLY:
        weights += (
            f" Block {first + 1}'s weights moved by under {100 * STATS_ONLY:.0f}%, so "
            "its change may come from re-estimated normalisation statistics (BatchNorm) "
            "more than from training."
        )
    if first == 0:
        return (
            f"The representation changed from block 1 on (CKA with the source {moved} from "
            f"block 1 up): the adaptation reaches down to the first block, so full "
            f"fine-tuning fits this target and --unfreeze would not save much.{weights}"
        ), None
    k = n - first
    top_k = (
        f"the top block ({_span(n, n)}, CKA {moved}) carries"
        if k == 1
        else f"the top {k} ({_span(first + 1, n)}, CKA {moved}) carry"
    )
    return (
        f"{_span(1, first).capitalize()} barely changed (CKA with the source at least "
        f"{BARELY}); {top_k} the adaptation. Training only {'it' if k == 1 else 'those'}, "
        f"--unfreeze {k}, is likely to keep most of the gain at lower cost.{weights}"
    ), k
