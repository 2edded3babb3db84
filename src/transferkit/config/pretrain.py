"""Settings of ``pretrain``: making one's own source model (the methods' own options, such as
the autoencoder's ``latent_dim``, arrive in the ``options`` dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transferkit.config.blocks import ImageInput, Optimiser, Reading, Runtime, Seeded
from transferkit.config.fields import Default, Stored, defaults, opt


@dataclass
@defaults(
    epochs=10,
    batch_size=128,
    lr=1e-3,
    weight_decay=1e-4,
    seed=0,
    image_size=Default(None, "Square input size; default: the architecture's."),
)
class PretrainConfig(Stored, Optimiser, Runtime, Reading, ImageInput, Seeded):
    """One pretraining run: source data, method, architecture and recipe."""

    data: str = opt(
        "",
        "Source data (labelled or not): builtin:NAME, a folder, CSV, .npz, idx; multitask: "
        "several labelled sources, comma-separated (builtin:mnist5k,builtin:fashion-mnist).",
    )
    method: str = opt("supervised", "How to pretrain.", registry="pretrain")
    arch: str = opt("cnn-small", "Architecture: cnn-small, tiny-cnn, timm:NAME, effnet-lite0 ...")
    from_pretrained: bool = opt(
        False, "Start from the architecture's pretrained weights (domain-adaptive pretraining)."
    )
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: architectures.")
    name: str | None = opt(None, "A name for the result in the zoo (default: run:ID).")
    max_examples: int | None = opt(
        None, "Use a seeded random subset of this many examples (multitask: per source).", min=1
    )
    val_fraction: float = opt(0.1, "Share of the source data held out for validation.", min=0, lt=1)
    augment: bool = opt(
        True, "Augment the supervised / autoencoder views too (contrastive always does)."
    )
    options: dict[str, Any] = opt({}, "The method's own options (e.g. latent_dim).", cli=False)
