"""The pieces image-text pretraining trains with: the module (image tower, text tower, learned
logit scale), its examples (an image and one of its texts), and LoRA on the text encoder."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.data.transforms import ImageTorchDataset
from transferkit.errors import UserError
from transferkit.pretraining.pairs import ImageTextPairs
from transferkit.zoo.image_text import ImageTextBackbone

MAX_SCALE = 100.0  # CLIP clamps the learned logit scale at 100


class ImageTextModule(nn.Module):
    """What trains: the backbone (image tower + projection), the text tower and the scale."""

    def __init__(self, backbone: ImageTextBackbone, temperature: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.text = backbone.text_tower  # a child here, so DDP and the optimiser see it
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(MAX_SCALE)).exp()

    def forward(self, images: torch.Tensor, text: Any):
        """(image embeddings, text embeddings, scale); ``text`` is token tensors, or the frozen
        encoder's cached features (only the projection runs)."""
        return self.backbone.forward_features(images), self.embed_text(text), self.scale()

    def embed_text(self, text: Any) -> torch.Tensor:
        return self.text(text) if isinstance(text, dict) else self.text.project(text)


class PairExamples(torch.utils.data.Dataset):
    """``(image, text id, group)``: one of the example's texts, drawn by the seeded example."""

    def __init__(self, pairs: ImageTextPairs, indices, transform, text_ids) -> None:
        self.images = ImageTorchDataset(pairs, indices, transform)
        self.pairs, self.text_ids = pairs, text_ids

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, j: int):
        x, _ = self.images[j]
        i = int(self.images.indices[j])
        ids = self.text_ids[i]
        return x, ids[int(np.random.randint(len(ids)))], int(self.pairs.groups[i])


def add_text_lora(text: Any, rank: int) -> None:
    """LoRA adapters on the text encoder's attention projections (query and value, as in
    Hu et al., 2021); only they train."""
    from peft import LoraConfig
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as known

    if not hasattr(text, "add_adapters"):
        raise UserError(
            f"--text-tuning lora needs a transformers text encoder (minilm-l6, hf:PATH); "
            f"{text.name} is not one. Use --text-tuning frozen or full."
        )
    model_type = getattr(text.hf_model.config, "model_type", "")
    targets = list(known.get(model_type, ["query", "value"]))
    text.add_adapters(
        LoraConfig(
            r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets, bias="none"
        )
    )
