"""``timm:NAME``: any timm model as a backbone, with its classifier removed (``num_classes=0``).

Weights come through timm's own pretrained loading path: from the Hugging Face hub (or its
local cache) when online, or from a local file given with ``weights=FILE`` (``--weights``),
passed to timm as ``pretrained_cfg_overlay=dict(file=FILE)`` so that timm's checkpoint filters
and input-conv adaptation apply just as for hub weights. timm itself is imported lazily: it is
slow to import and most commands never need it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import UserError, suggest
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import SOURCES, Source, attach_source_head, ordered_blocks

PREFIX = "timm:"
DETAIL_LIMIT = 20  # list_zoo instantiates (on the meta device) at most this many models


class TimmBackbone(Backbone):
    """A timm model without classifier; features are timm's pre-logits (pooled, normed)."""

    def __init__(
        self,
        model: nn.Module,
        arch: str,
        kwargs: dict[str, Any],
        data_config: DataConfig | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_features = int(getattr(model, "head_hidden_size", None) or model.num_features)
        self.data_config = data_config or timm_data_config(model)
        self.spec = BackboneSpec(PREFIX + arch, dict(kwargs))
        attach_source_head(self, None, None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def blocks(self) -> list[nn.Module]:
        """Top-level children in order, ``blocks`` / ``layers`` / ``stages`` expanded."""
        return ordered_blocks(self.model)


def timm_data_config(model: nn.Module) -> DataConfig:
    """timm's resolved data config for ``model``, as a transferkit :class:`DataConfig`."""
    from timm.data import resolve_model_data_config

    cfg = resolve_model_data_config(model)
    return DataConfig(
        modality="image",
        input_size=tuple(int(v) for v in cfg["input_size"]),
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
        interpolation=cfg.get("interpolation") or "bicubic",
        crop_pct=float(cfg.get("crop_pct") or 0.875),
    )


def _check_name(arch: str) -> None:
    import timm

    if arch.startswith(("hf-hub:", "hf_hub:")) or timm.is_model(arch):
        return
    names = timm.list_models() + timm.list_models(pretrained=True)
    raise UserError(
        f"Unknown timm model {arch!r}.{suggest(arch, names)} "
        "Run `transferkit zoo 'timm:*pattern*'` to list timm models."
    )


@contextlib.contextmanager
def _capture_timm_log() -> Iterator[list[logging.LogRecord]]:
    """Collect the messages timm's loader logs (missing / unexpected keys)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("timm.models._builder")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _offline_message(arch: str, err: Exception) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    where = (
        "HF_HUB_OFFLINE is set and they are not in the local cache"
        if offline
        else "the download failed"
    )
    return (
        f"Could not get pretrained weights for timm:{arch} ({where}: {type(err).__name__}: "
        f"{str(err).split('. ')[0][:200]}). Download them once on a machine with network access (they go to the "
        "Hugging Face cache, ~/.cache/huggingface/hub), or pass a local weight file with "
        f"--weights FILE (Python: create_backbone('timm:{arch}', weights='FILE')); a .safetensors "
        "or .pth state dict saved from this architecture. For random initial weights use "
        "pretrained=False or the `scratch` strategy."
    )


def _load_from_file(arch: str, path: Path, kwargs: dict[str, Any]) -> nn.Module:
    import timm

    if not path.is_file():
        raise UserError(f"Weight file {path} for timm:{arch} does not exist.")
    overlay = dict(file=str(path))
    try:
        with _capture_timm_log() as records:
            model = timm.create_model(
                arch, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay, **kwargs
            )
    except Exception as e:  # unreadable file, shape mismatch, strict-load failure
        raise UserError(
            f"Could not load {path} into timm:{arch} ({type(e).__name__}: {str(e)[:300]}). "
            "The file must be a .safetensors or .pth state dict saved from this architecture."
        ) from e
    missing = [r.getMessage() for r in records if r.getMessage().startswith("Missing keys")]
    if missing:
        raise UserError(
            f"{path} does not hold all weights of timm:{arch}: {missing[0][:300]} "
            "Check that the file was saved from this architecture."
        )
    return model


def create_timm(
    arch: str,
    pretrained: bool = True,
    weights: str | Path | None = None,
    image_size: int | None = None,
) -> TimmBackbone:
    """``timm.create_model(arch, num_classes=0)`` with hub, file or fresh weights."""
    import timm

    _check_name(arch)
    kwargs: dict[str, Any] = {}
    cfg = timm.models.get_pretrained_cfg(arch)
    if image_size and cfg is not None and cfg.fixed_input_size:
        kwargs["img_size"] = int(image_size)  # e.g. ViT: resize position embeddings
    if weights is not None:
        model = _load_from_file(arch, Path(weights).expanduser(), kwargs)
    elif pretrained:
        try:
            model = timm.create_model(arch, pretrained=True, num_classes=0, **kwargs)
        except Exception as e:  # hub unreachable, not cached, no weights for this tag
            raise UserError(_offline_message(arch, e)) from e
    else:
        model = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    backbone = TimmBackbone(model, arch, kwargs)
    backbone.data_config = backbone.data_config.with_size(image_size)
    return backbone


def build_timm(spec: BackboneSpec, data_config: DataConfig | None = None) -> TimmBackbone:
    """The architecture of ``spec`` with fresh weights (no download)."""
    import timm

    arch = spec.name.removeprefix(PREFIX)
    _check_name(arch)
    model = timm.create_model(arch, pretrained=False, num_classes=0, **spec.kwargs)
    return TimmBackbone(model, arch, spec.kwargs, data_config)


def weights_cached(cfg: Any) -> tuple[bool, str]:
    """Whether the pretrained weights of a timm config are on this machine (no network)."""
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        return False, "no pretrained weights in timm; pass --weights FILE"
    if cfg.file and Path(cfg.file).is_file():
        return True, "local file"
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        files = (
            [cfg.hf_hub_filename]
            if cfg.hf_hub_filename
            else ["model.safetensors", "pytorch_model.bin"]
        )
        for f in files:
            if isinstance(try_to_load_from_cache(cfg.hf_hub_id, f), str):
                return True, "in the Hugging Face cache"
    if cfg.url:
        ckpt = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if ckpt.is_file():
            return True, "in the torch hub cache"
    return False, "download needed (or --weights FILE)"


def _meta_size(arch: str) -> tuple[int | None, int | None]:
    """Parameters and feature size from a model built on the meta device (no memory, fast)."""
    import timm

    try:
        with torch.device("meta"):
            m = timm.create_model(arch, pretrained=False, num_classes=0)
    except Exception:  # noqa: BLE001 - best effort: any failure means "not available"
        return None, None
    feats = getattr(m, "head_hidden_size", None) or m.num_features
    return sum(p.numel() for p in m.parameters()), int(feats)


def list_timm(pattern: str = "*") -> list[dict[str, Any]]:
    """Rows for ``transferkit zoo 'timm:PATTERN'``: pretrained tags, else architectures."""
    import timm

    names = timm.list_models(pattern or "*", pretrained=True)
    tagged = bool(names)
    names = names or timm.list_models(pattern or "*")
    detailed = len(names) <= DETAIL_LIMIT
    rows = []
    for name in names:
        cfg = timm.models.get_pretrained_cfg(name) if tagged else None
        offline, note = (
            weights_cached(cfg)
            if tagged
            else (False, "architecture only; pretrained=False or --weights FILE")
        )
        params, feats = _meta_size(name) if detailed else (None, None)
        size = cfg.input_size[-1] if cfg is not None and cfg.input_size else 224
        rows.append(
            dict(
                name=PREFIX + name,
                modality="image",
                params=params,
                features=feats,
                input_size=int(size),
                offline=offline,
                searchable=offline,
                note=note,
            )
        )
    return rows


SOURCES.register(
    "timm",
    Source(
        "any timm model (hub weights when online, or --weights FILE)",
        create=create_timm,
        build=build_timm,
        owns=lambda spec: spec.name.startswith(PREFIX),
        listing=list_timm,
        example="resnet18",
    ),
)
