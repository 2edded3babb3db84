"""The explanation methods, one registry, and which of them apply to a model.

Every method registers itself in :data:`METHODS` from its own module (integrated gradients and
occlusion in :mod:`~.attributions`, the Grad-CAM family in :mod:`~.cam`). A method declares
the modalities it explains and whether it needs feature maps (``needs_conv``: the Grad-CAM
family weights the channels of a convolutional layer's output, which a transformer's token
sequences do not have). :func:`choose` resolves ``auto`` and refuses, naming the methods that
do apply, a method that does not fit the backbone.

Models are seen through the backbone contract only: ``blocks()`` and a probe forward pass
tell which blocks output (N, C, H, W) feature maps.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.registry import Registry
from transferkit.zoo.base import Backbone
from transferkit.zoo.common import Group

#: ``auto`` picks the first of these that applies.
PREFERENCE = ("gradcam", "ig")


@dataclass
class Attribution:
    """What a method gives for a batch: one map per input, in the input's own layout
    ((H, W) in [0, 1] for images; one signed score per token for text), and, for integrated
    gradients, Captum's convergence delta per input (sum of attributions minus the difference
    of the model's outputs at the input and at the baseline) and that difference itself
    (``gap``: F(x) - F(baseline) for the explained class), which gives the delta its scale."""

    maps: list[np.ndarray]
    delta: np.ndarray | None = None
    gap: np.ndarray | None = None

    def relative_delta(self) -> np.ndarray | None:
        """|delta| / |F(x) - F(baseline)| per input: the integration's error as a share of
        what the attributions add up to (None for methods without a delta)."""
        if self.delta is None or self.gap is None:
            return None
        return np.abs(self.delta) / np.maximum(np.abs(self.gap), 1e-6)


@dataclass
class Settings:
    """The knobs methods read (from :class:`~transferkit.config.ExplainConfig`)."""

    ig_steps: int = 32
    window: int = 8
    batch_size: int = 16
    pad_id: int = 0  # text: the baseline token of integrated gradients
    keep_ids: tuple[int, ...] = ()  # text: special tokens kept in the baseline


class Method:
    """Base class. ``modalities``: the inputs it explains; ``needs_conv``: it needs a block
    that outputs feature maps; ``label``: its name for people. The registry sets ``name``."""

    modalities: tuple[str, ...] = ("image",)
    needs_conv = False
    label = ""
    requires = "captum"  # the module the method comes from (checked before it is used)

    def attribute(
        self, model: nn.Module, x: Any, targets: torch.Tensor, settings: Settings
    ) -> Attribution:  # pragma: no cover - abstract
        raise NotImplementedError


METHODS: Registry[type[Method]] = Registry("explanation method", package="transferkit.explanation")


def hookable(block: nn.Module) -> nn.Module | None:
    """The module of ``block`` that actually runs in the forward pass (a :class:`Group` is a
    view over modules and never runs itself: its last part does), or None."""
    while isinstance(block, Group):
        if not len(block.parts):
            return None
        block = block.parts[-1]
    return block


def first_tensor(out: Any) -> torch.Tensor | None:
    """A block's output tensor (transformer layers may return tuples or model outputs)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return getattr(out, "last_hidden_state", None)


@torch.no_grad()
def block_shapes(backbone: Backbone) -> list[tuple[nn.Module, tuple[int, ...]]]:
    """(module, output shape) of each block's runnable module, from one probe image."""
    layers = [m for m in (hookable(b) for b in backbone.blocks()) if m is not None]
    shapes: dict[int, tuple[int, ...]] = {}

    def keep(module: nn.Module, _inputs: Any, out: Any) -> None:
        t = first_tensor(out)
        if t is not None:
            shapes[id(module)] = tuple(t.shape)

    handles = [m.register_forward_hook(keep) for m in layers]
    was_training = backbone.training
    backbone.eval()
    try:
        device = next(backbone.parameters()).device
        backbone.forward_features(torch.zeros(1, *backbone.data_config.input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        backbone.train(was_training)
    return [(m, shapes[id(m)]) for m in layers if id(m) in shapes]


def conv_layer(backbone: Backbone) -> nn.Module | None:
    """The top block whose output is a (N, C, H, W) feature map (square for the square input;
    one larger than 1 x 1 when there is one), for the Grad-CAM family; None for transformers."""
    if backbone.data_config.modality != "image":
        return None
    maps = [(m, s) for m, s in block_shapes(backbone) if len(s) == 4 and s[2] == s[3]]
    wide = [m for m, s in maps if s[2] > 1]
    return wide[-1] if wide else (maps[-1][0] if maps else None)


def problem(name: str, backbone: Backbone) -> str:
    """Why method ``name`` cannot explain ``backbone`` ('' when it can)."""
    method = METHODS.get(name)
    modality = backbone.data_config.modality
    if modality not in method.modalities:
        return f"{name} explains {' and '.join(method.modalities)} inputs, not {modality}"
    if method.needs_conv and conv_layer(backbone) is None:
        return (
            f"{name} weights the channels of a convolutional feature map, and no block of "
            f"{backbone.name} outputs one (its blocks output token sequences: a transformer)"
        )
    return ""


def applicable(backbone: Backbone) -> list[str]:
    """The registered methods that can explain ``backbone``."""
    conv = backbone.data_config.modality == "image" and conv_layer(backbone) is not None
    modality = backbone.data_config.modality
    return [
        n
        for n in METHODS.list()
        if modality in METHODS.get(n).modalities and (conv or not METHODS.get(n).needs_conv)
    ]


def choose(name: str, backbone: Backbone, what: str = "this model") -> Method:
    """The method to use: ``name``, or for ``auto`` the first of :data:`PREFERENCE` that
    applies; a UserError naming the methods that apply when ``name`` does not."""
    usable = applicable(backbone)
    if name == "auto":
        name = next((p for p in PREFERENCE if p in usable), usable[0] if usable else "ig")
    why = problem(name, backbone)  # also refuses unknown names, suggesting close ones
    if why:
        raise UserError(
            f"--method {name} does not apply to {what} ({backbone.name}): {why}. "
            f"Methods that apply: {', '.join(usable) or 'none'}; pass one of them "
            f"with --method (or --method auto)."
        )
    method = METHODS.get(name)
    if importlib.util.find_spec(method.requires) is None:
        raise UserError(
            f"--method {name} needs the {method.requires} package, which is not "
            "installed: pip install 'transferkit[explain]'."
        )
    return method()
