"""``torchvision:NAME``: a torchvision classification model as a backbone.

The model's final ``nn.Linear`` classifier (``fc``, ``classifier.N``, ``heads.head``) is replaced
by ``Identity``, so the features are what that classifier saw (512 for resnet18, 1024 for
mobilenet_v3_small). With pretrained ImageNet weights the removed classifier is kept as the
source head, with the ImageNet class names, for LEEP / NCE. ``weights=FILE`` loads a local state
dict (safetensors, or ``torch.load(weights_only=True)``) in torchvision's key names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import UserError, suggest
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import (
    SOURCES,
    Source,
    attach_source_head,
    linear_from,
    load_weights_file,
    ordered_blocks,
)

PREFIX = "torchvision:"
IMAGENET = DataConfig(interpolation="bilinear")  # mean/std of ImageNet at 224 px
DETAIL_LIMIT = 20


def classification_models() -> list[str]:
    """Names of torchvision's image classification models."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _check_name(arch: str) -> None:
    names = classification_models()
    if arch not in names:
        raise UserError(
            f"Unknown torchvision classification model {arch!r}.{suggest(arch, names)} "
            "Run `transferkit zoo 'torchvision:*'` to list them."
        )


def _default_weights(arch: str) -> Any:
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError, KeyError):
        return None


def data_config_from_weights(weights: Any) -> DataConfig:
    """The preprocessing of torchvision weights (crop, resize, mean/std), else ImageNet at 224."""
    if weights is None:
        return IMAGENET
    try:
        t = weights.transforms()
        crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
        return DataConfig(
            modality="image",
            input_size=(3, crop, crop),
            mean=tuple(float(v) for v in t.mean),
            std=tuple(float(v) for v in t.std),
            interpolation=t.interpolation.value,
            crop_pct=crop / resize,
        )
    except (AttributeError, TypeError, IndexError):
        return IMAGENET


def _classifier_name(model: nn.Module) -> str:
    """The last ``nn.Linear`` in module order: the classifier of a torchvision model."""
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError(
            f"{type(model).__name__} has no linear classifier to remove; it is not supported."
        )
    return linears[-1]


class TorchvisionBackbone(Backbone):
    """A torchvision model whose classifier is ``Identity``; ``forward`` gives the features."""

    def __init__(
        self,
        model: nn.Module,
        arch: str,
        kwargs: dict[str, Any],
        data_config: DataConfig | None = None,
    ) -> None:
        super().__init__()
        self.head_name = _classifier_name(model)
        head = model.get_submodule(self.head_name)
        parent, _, attr = self.head_name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, nn.Identity())
        self.model = model
        self.num_features = int(head.in_features)
        self.data_config = data_config or data_config_from_weights(_default_weights(arch))
        self.spec = BackboneSpec(PREFIX + arch, dict(kwargs))
        attach_source_head(self, None, None)
        object.__setattr__(self, "_removed_head", head)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if not isinstance(out, torch.Tensor):  # GoogLeNet / Inception in training mode
            out = out[0]
        return out.flatten(1)

    def blocks(self) -> list[nn.Module]:
        """Stem, then each element of ``features`` / ``layerN`` / ``layers``, then the rest."""
        return ordered_blocks(self.model)


def _offline() -> bool:
    return any(
        os.environ.get(v, "") not in ("", "0") for v in ("TRANSFERKIT_OFFLINE", "HF_HUB_OFFLINE")
    )


def _cached_file(weights: Any) -> Path | None:
    if weights is None or not getattr(weights, "url", None):
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    return path if path.is_file() else None


def create_torchvision(
    arch: str,
    pretrained: bool = True,
    weights: str | Path | None = None,
    image_size: int | None = None,
) -> TorchvisionBackbone:
    """``torchvision.models.get_model(arch)`` with its default, file or fresh weights."""
    from torchvision.models import get_model

    _check_name(arch)
    default = _default_weights(arch)
    if pretrained and weights is None:
        if default is None:
            raise UserError(
                f"torchvision has no pretrained weights for {arch}; pass --weights FILE."
            )
        if _cached_file(default) is None and _offline():
            raise UserError(
                f"The ImageNet weights of torchvision:{arch} are not in the torch hub cache "
                f"({torch.hub.get_dir()}/checkpoints) and this machine is offline. Download them "
                "once with network access, or pass a local state dict with --weights FILE "
                f"(Python: create_backbone('torchvision:{arch}', weights='FILE'))."
            )
        try:
            model = get_model(arch, weights="DEFAULT")
        except Exception as e:  # network failure, corrupt download
            raise UserError(
                f"Could not get the pretrained weights of torchvision:{arch}: {e}"
            ) from e
        backbone = TorchvisionBackbone(model, arch, {})
        attach_source_head(
            backbone, backbone._removed_head, list(default.meta.get("categories") or []) or None
        )
    else:
        backbone = TorchvisionBackbone(get_model(arch, weights=None), arch, {})
        if weights is not None:
            keys = (f"{backbone.head_name}.weight", f"{backbone.head_name}.bias")
            head = linear_from(load_weights_file(backbone, weights, head_keys=keys), *keys)
            if head is not None:
                attach_source_head(backbone, head, [str(i) for i in range(head.out_features)])
    backbone.data_config = backbone.data_config.with_size(image_size)
    return backbone


def build_torchvision(
    spec: BackboneSpec, data_config: DataConfig | None = None
) -> TorchvisionBackbone:
    """The architecture of ``spec`` with fresh weights (no download)."""
    from torchvision.models import get_model

    arch = spec.name.removeprefix(PREFIX)
    _check_name(arch)
    return TorchvisionBackbone(
        get_model(arch, weights=None, **spec.kwargs), arch, spec.kwargs, data_config
    )


def _meta_features(arch: str) -> int | None:
    from torchvision.models import get_model

    try:
        with torch.device("meta"):
            model = get_model(arch, weights=None)
        return int(model.get_submodule(_classifier_name(model)).in_features)
    except Exception:  # noqa: BLE001 - best effort: any failure means "not available"
        return None


def list_torchvision(pattern: str = "*") -> list[dict[str, Any]]:
    """Rows for ``transferkit zoo 'torchvision:PATTERN'``."""
    import fnmatch

    names = [n for n in classification_models() if fnmatch.fnmatch(n, pattern or "*")]
    rows = []
    for name in names:
        w = _default_weights(name)
        cached = _cached_file(w) is not None
        rows.append(
            dict(
                name=PREFIX + name,
                modality="image",
                params=(w.meta.get("num_params") if w is not None else None),
                features=_meta_features(name) if len(names) <= DETAIL_LIMIT else None,
                input_size=data_config_from_weights(w).input_size[-1],
                offline=cached,
                searchable=cached,
                note=("in the torch hub cache" if cached else "download needed (or --weights FILE)")
                if w is not None
                else "no pretrained weights; --weights FILE",
            )
        )
    return rows


SOURCES.register(
    "torchvision",
    Source(
        "a torchvision classification model (its default weights, or --weights FILE)",
        create=create_torchvision,
        build=build_torchvision,
        owns=lambda spec: spec.name.startswith(PREFIX),
        listing=list_torchvision,
        example="resnet18",
    ),
)
