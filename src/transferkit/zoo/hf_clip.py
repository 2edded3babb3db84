"""CLIP-family models through transformers (``hf:PATH`` to a CLIP folder): an image backbone
that can also embed text, for zero-shot transfer.

CLIP (Radford et al., 2021, "Learning Transferable Visual Models From Natural Language
Supervision", arXiv:2103.00020) trains an image tower and a text tower into one embedding
space. As a backbone, the image tower with its projection gives L2-normalised image
embeddings (``forward_features``), so linear probes and fine-tuning work as for any image
model. The text tower is kept beside it, not inside it (``encode_text``), so the backbone's
parameters, blocks and saved weights are the image tower's alone; zero-shot classification
compares the two (:mod:`transferkit.zeroshot`). Preprocessing comes from the folder's
``preprocessor_config.json`` (CLIP's mean / std, resize and centre crop).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import Group, attach_source_head

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


class CLIPBackbone(Backbone):
    """CLIP's image tower and projection; ``encode_text`` embeds label descriptions."""

    def __init__(
        self, clip: nn.Module, name: str, kwargs: dict[str, Any], data_config: DataConfig
    ) -> None:
        super().__init__()
        self.vision = clip.vision_model
        self.projection = clip.visual_projection
        self.num_features = int(clip.config.projection_dim)
        self.data_config = data_config
        self.spec = BackboneSpec(name, dict(kwargs))
        # Not submodules: the backbone's state dict and blocks are the image tower's alone.
        object.__setattr__(
            self,
            "text_tower",
            nn.ModuleDict({"model": clip.text_model, "projection": clip.text_projection}).eval(),
        )
        self.logit_scale = float(clip.logit_scale.detach().exp())
        attach_source_head(self, None, None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.vision(pixel_values=x).pooler_output
        return nn.functional.normalize(self.projection(pooled), dim=-1)

    def blocks(self) -> list[nn.Module]:
        """Patch embedding (+ pre-norm), each transformer layer, post-norm + projection."""
        v = self.vision
        first = [m for m in (v.embeddings, getattr(v, "pre_layrnorm", None)) if m is not None]
        return [Group(first), *v.encoder.layers, Group([v.post_layernorm, self.projection])]

    @torch.no_grad()
    def encode_text(
        self, texts: list[str], device: torch.device | None = None, batch_size: int = 64
    ) -> torch.Tensor:
        """L2-normalised text embeddings (len(texts), D) in the image embeddings' space."""
        from transferkit.zoo.transformers_common import load_tokenizer

        if not self.data_config.tokenizer:
            raise UserError(
                f"{self.name} has no tokenizer saved with it, so it cannot embed "
                "label descriptions; load the CLIP folder with hf:PATH."
            )
        tok = load_tokenizer(self.data_config.tokenizer)
        limit = int(getattr(self.text_tower["model"].config, "max_position_embeddings", 77))
        device = device or next(self.parameters()).device
        tower = self.text_tower.to(device)
        out = []
        for start in range(0, len(texts), batch_size):
            enc = tok(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="pt",
            )
            pooled = tower["model"](
                input_ids=enc["input_ids"].to(device),
                attention_mask=enc["attention_mask"].to(device),
            ).pooler_output
            out.append(nn.functional.normalize(tower["projection"](pooled), dim=-1).float().cpu())
        return torch.cat(out)


def clip_data_config(folder: str, config: Any, tokenizer: str) -> DataConfig:
    """Mean, std, size and crop from ``preprocessor_config.json`` (CLIP's defaults without)."""
    pre: dict[str, Any] = {}
    path = Path(folder) / "preprocessor_config.json"
    if path.is_file():
        try:
            pre = json.loads(path.read_text())
        except json.JSONDecodeError:
            pre = {}
    size = int(config.vision_config.image_size)
    crop = pre.get("crop_size", size)
    crop = int(crop.get("height", size) if isinstance(crop, dict) else crop)
    short = pre.get("size", crop)
    short = int(short.get("shortest_edge", crop) if isinstance(short, dict) else short)
    return DataConfig(
        modality="image",
        input_size=(3, crop, crop),
        mean=tuple(pre.get("image_mean", CLIP_MEAN)),
        std=tuple(pre.get("image_std", CLIP_STD)),
        interpolation=RESAMPLE.get(int(pre.get("resample", 3)), "bicubic"),
        crop_pct=min(1.0, crop / max(short, 1)),
        tokenizer=tokenizer,
    )


def create_clip(folder: str, config: Any, *, pretrained: bool, name: str) -> CLIPBackbone:
    from transformers import AutoTokenizer, CLIPModel

    from transferkit.zoo.transformers_common import config_dict

    if getattr(config, "model_type", "") != "clip":
        raise UserError(
            f"{name} is a {config.model_type} model; of the image-text models only "
            "CLIP is supported (hf:PATH to a CLIP folder)."
        )
    try:
        clip = CLIPModel.from_pretrained(folder) if pretrained else CLIPModel(config)
        AutoTokenizer.from_pretrained(folder)  # fail now, not at zero-shot time
    except Exception as e:  # noqa: BLE001
        raise UserError(
            f"Could not load the CLIP model {name} ({type(e).__name__}: "
            f"{str(e)[:300]}). The folder needs config.json, the weights, "
            "preprocessor_config.json and the tokenizer files."
        ) from None
    kwargs = {"hf_config": config_dict(config), "clip": True}
    return CLIPBackbone(clip, name, kwargs, clip_data_config(folder, config, folder))


def build_clip(spec: BackboneSpec, config: Any, data_config: DataConfig | None) -> CLIPBackbone:
    """Fresh weights for the architecture of ``spec`` (no files read)."""
    from transformers import CLIPModel

    if data_config is None:
        data_config = clip_data_config("", config, "")
    return CLIPBackbone(CLIPModel(config), spec.name, spec.kwargs, data_config)
