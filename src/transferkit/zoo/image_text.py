"""An image-text model of one's own (made by ``pretrain --method image-text``): an image
backbone that can also embed text, for zero-shot transfer like a CLIP folder.

CLIP (Radford et al., 2021, arXiv:2103.00020) trains an image tower and a text tower into one
embedding space. Here either tower is any zoo model (an image backbone such as ``tiny-cnn`` or
``effnet-lite0``; a text encoder such as ``minilm-l6``), each followed by a linear projection
into the joint space. As a backbone, the image tower with its projection gives L2-normalised
embeddings (``forward_features``), so linear probes and fine-tuning work as for any image
model; ``encode_text`` embeds label descriptions with the text tower, so ``zeroshot``, the
zero-shot strategies and ``auto``'s cheap zero-shot stage take it as they take CLIP.

As in :mod:`transferkit.zoo.hf_clip`, the text tower is kept beside the backbone, not inside
it: the backbone's parameters, blocks and optimiser groups are the image tower's alone (a
fine-tuned copy does not train or all-reduce a text encoder it never runs). Unlike CLIP's, the
text tower's weights are this run's own, so they travel in the backbone's state dict (under
``text_tower.``) and hence in every saved model; the tokenizer travels in the data config.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from transferkit import progress
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import SOURCES, Source, attach_source_head

NAME = "image-text"
TEXT_PREFIX = "text_tower."


class TextTower(nn.Module):
    """A zoo text encoder and a linear projection into the joint space (L2-normalised);
    ``logit_scale`` is the learned softmax scale (CLIP's exp(t)), kept as a buffer."""

    def __init__(self, encoder: Backbone, dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = nn.Linear(encoder.num_features, dim, bias=False)
        self.register_buffer("logit_scale", torch.tensor(1 / 0.07))

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Joint-space embeddings of the encoder's pooled ``features``."""
        return F.normalize(self.projection(features), dim=-1)

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.project(self.encoder.forward_features(tokens))


class ImageTextBackbone(Backbone):
    """Image tower + projection (L2-normalised); ``encode_text`` embeds texts beside it.
    ``text_in_state`` False leaves the text tower out of the state dict (while a training
    module that holds the tower as a child is saved, so that it is not stored twice)."""

    text_in_state = True

    def __init__(self, image: Backbone, text: Backbone, dim: int) -> None:
        super().__init__()
        self.image = image
        self.projection = nn.Linear(image.num_features, dim, bias=False)
        self.num_features = int(dim)
        tdc = text.data_config
        self.data_config = DataConfig.from_dict(
            {
                **image.data_config.to_dict(),
                "tokenizer": tdc.tokenizer,
                "max_length": tdc.max_length,
            }
        )
        self.spec = BackboneSpec(
            NAME,
            {
                "image": {"name": image.spec.name, "kwargs": image.spec.kwargs},
                "text": {"name": text.spec.name, "kwargs": text.spec.kwargs},
                "dim": int(dim),
            },
        )
        # Not a submodule (see the module docstring); saved through the state-dict hooks below.
        object.__setattr__(self, "text_tower", TextTower(text, dim))
        attach_source_head(self, None, None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.image.forward_features(x)), dim=-1)

    def blocks(self) -> list[nn.Module]:
        blocks = list(self.image.blocks())
        return [*blocks, self.projection]

    @property
    def logit_scale(self) -> float:
        """The softmax scale of cosine similarities the model was trained with."""
        return float(self.text_tower.logit_scale)

    @property
    def text_limit(self) -> int:
        """The most tokens a text may have; longer texts are truncated."""
        return int(self.data_config.max_length or 512)

    # -- the text tower's weights travel in the state dict ---------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if not self.text_in_state:
            return
        for k, v in self.text_tower.state_dict(keep_vars=keep_vars).items():
            destination[prefix + TEXT_PREFIX + k] = v if keep_vars else v.detach()

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors
    ) -> None:
        mine = prefix + TEXT_PREFIX
        if not self.text_in_state:
            super()._load_from_state_dict(
                state_dict, prefix, local_metadata, strict, missing, unexpected, errors
            )
            return
        text = {k[len(mine) :]: v for k, v in state_dict.items() if k.startswith(mine)}
        result = self.text_tower.load_state_dict(text, strict=False)
        missing.extend(mine + k for k in result.missing_keys)
        unexpected.extend(mine + k for k in result.unexpected_keys)
        rest = {k: v for k, v in state_dict.items() if not k.startswith(mine)}
        super()._load_from_state_dict(
            rest, prefix, local_metadata, strict, missing, unexpected, errors
        )

    # -- text ------------------------------------------------------------------------------------
    def tokenizer(self):
        """The text tower's tokenizer (saved with the model)."""
        from transferkit.zoo.transformers_common import load_tokenizer

        return load_tokenizer(self.data_config.tokenizer)

    def tokenize(self, texts: list[str]) -> tuple[dict[str, torch.Tensor], int]:
        """Token tensors of ``texts`` (truncated to the limit) and how many were truncated."""
        tok = self.tokenizer()
        limit = self.text_limit
        lengths = [len(ids) for ids in tok(list(texts), truncation=False)["input_ids"]]
        enc = tok(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return dict(enc), sum(n > limit for n in lengths)

    @torch.no_grad()
    def encode_text(
        self, texts: list[str], device: torch.device | None = None, batch_size: int = 64
    ) -> torch.Tensor:
        """L2-normalised text embeddings (len(texts), D) in the image embeddings' space.
        Texts longer than the text model reads are truncated and counted (a note, not an
        error); the count is kept in ``last_truncated``."""
        device = device or next(self.parameters()).device
        tower = self.text_tower.to(device)
        was = tower.training
        tower.eval()
        out, cut = [], 0
        for start in range(0, len(texts), batch_size):
            tokens, n = self.tokenize(texts[start : start + batch_size])
            cut += n
            out.append(tower({k: v.to(device) for k, v in tokens.items()}).float().cpu())
        tower.train(was)
        self.last_truncated = cut
        if cut:
            progress.info(
                f"{cut} of {len(texts)} texts are longer than the {self.text_limit} tokens "
                f"{self.name} reads; their ends were cut off."
            )
        return torch.cat(out) if out else torch.zeros(0, self.num_features)


def image_text_data_configs(data_config: DataConfig) -> tuple[DataConfig, DataConfig]:
    """The image tower's and the text tower's data configs inside a saved model's one."""
    from transferkit.zoo.transformers_common import text_data_config

    d = data_config.to_dict()
    image = DataConfig.from_dict({**d, "tokenizer": "", "max_length": 0})
    text = text_data_config(data_config.tokenizer, data_config.max_length or 512)
    return image, text


def build_image_text(
    spec: BackboneSpec, data_config: DataConfig | None = None
) -> ImageTextBackbone:
    """The architecture of ``spec`` with fresh weights (never reads the original models)."""
    from transferkit.zoo.factory import build_from_spec

    def inner(part: dict[str, Any], dc: DataConfig | None) -> Backbone:
        return build_from_spec(BackboneSpec(part["name"], dict(part.get("kwargs", {}))), dc)

    image_dc, text_dc = (
        (None, None) if data_config is None else image_text_data_configs(data_config)
    )
    model = ImageTextBackbone(
        inner(spec.kwargs["image"], image_dc),
        inner(spec.kwargs["text"], text_dc),
        int(spec.kwargs["dim"]),
    )
    if data_config is not None:
        model.data_config = data_config
    return model


SOURCES.register(
    NAME,
    Source(
        "an image-text model made by `pretrain --method image-text` (its own CLIP)",
        build=build_image_text,
        owns=lambda spec: spec.name == NAME,
    ),
)
