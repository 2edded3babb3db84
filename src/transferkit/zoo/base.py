"""The one contract every source model honours, whatever library it comes from.

Strategies, feature extraction and adaptation see only :class:`Backbone`; never timm,
torchvision or transformers internals. A zoo adapter wraps a library model into this contract.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class DataConfig:
    """Preprocessing that travels with the weights (as timm's pretrained config does)."""

    modality: str = "image"
    input_size: tuple[int, int, int] = (3, 224, 224)  # (channels, height, width)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    # Text models (and the text tower of CLIP-family models): a folder with the tokenizer's
    # files, and the most tokens a text may have (longer texts are truncated and counted).
    tokenizer: str = ""
    max_length: int = 0

    def with_size(self, size: int | None) -> DataConfig:
        """The same config at another square input size (``--image-size``); text: unchanged."""
        if not size or self.modality != "image":
            return self
        c = self.input_size[0]
        return DataConfig(**{**asdict(self), "input_size": (c, int(size), int(size))})

    def with_max_length(self, n: int | None) -> DataConfig:
        """The same config with at most ``n`` tokens per text (``--max-length``); images: unchanged."""
        if not n or self.modality != "text":
            return self
        return DataConfig(**{**asdict(self), "max_length": int(n)})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataConfig:
        d = dict(d)
        for k in ("input_size", "mean", "std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class BackboneSpec:
    """How to rebuild a backbone's architecture without its weights (for saved models).

    ``name`` is the zoo name (e.g. ``effnet-lite0``, ``timm:resnet18``); ``kwargs`` are the
    architecture arguments the adapter needs. Weights then come from the saved state dict.
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class Backbone(nn.Module):
    """A feature extractor: ``forward_features(x) -> (N, D)`` pooled embeddings.

    Subclasses set ``num_features``, ``data_config`` and ``spec`` and implement
    ``forward_features`` and ``blocks``. ``forward`` is ``forward_features``.
    """

    num_features: int
    data_config: DataConfig
    spec: BackboneSpec

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def blocks(self) -> list[nn.Module]:  # pragma: no cover - abstract
        """Ordered groups of layers from input to output; together they hold every parameter."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def identity(self) -> str:
        """Stable ``name@hash`` of the weights, for caches and the run store."""
        if getattr(self, "_identity", None) is None:
            self._identity = f"{self.spec.name}@{weights_hash(self)}"
        return self._identity

    def invalidate_identity(self) -> None:
        """Call after changing weights in place (identity is cached)."""
        self._identity = None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def weights_hash(module: nn.Module, length: int = 12) -> str:
    """SHA-256 over parameter and buffer names, shapes and bytes, in state-dict order."""
    h = hashlib.sha256()
    for key, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:length]


def check_blocks_cover(backbone: Backbone) -> None:
    """Raise if ``blocks()`` misses or repeats a parameter (a contract check used in tests)."""
    seen: dict[int, int] = {}
    for b in backbone.blocks():
        for p in b.parameters():
            seen[id(p)] = seen.get(id(p), 0) + 1
    params = {id(p) for p in backbone.parameters()}
    missing = params - set(seen)
    repeated = [k for k, v in seen.items() if v > 1]
    if missing or repeated:
        raise AssertionError(
            f"blocks() of {backbone.name}: {len(missing)} parameters missing, "
            f"{len(repeated)} repeated"
        )
