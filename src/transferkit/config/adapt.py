"""Settings of ``adapt``: domain adaptation from a labelled source to an unlabelled target
(the methods' own options, such as the discriminator's ``hidden``, arrive in ``options``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transferkit.config.blocks import Columns, ImageInput, Optimiser, Reading, Runtime
from transferkit.config.fields import Default, Stored, defaults, opt


@dataclass
@defaults(
    epochs=10,
    lr=Default(1e-3, "Peak learning rate of the head and discriminator (AdamW)."),
    weight_decay=5e-4,
    warmup_epochs=0.5,
    patience=Default(100, "Early stopping: epochs without a better selection score."),
    batch_size=Default(32, "Examples per domain per step."),
    text_column=Default(None, "Text tables: the column with the texts (both domains)."),
    label_column=Default(None, "The column with the labels (both domains)."),
)
class AdaptConfig(Stored, Optimiser, Runtime, Reading, Columns, ImageInput):
    """One domain adaptation run: labelled source, unlabelled target, methods, recipe."""

    source: str = opt("", "Labelled source data: builtin:NAME, a folder, CSV, .npz, idx files.")
    target: str = opt(
        "", "Target data (its labels, if any, are not used for training or selection)."
    )
    model: str = opt("effnet-lite0", "Backbone (see `transferkit zoo`), or run:ID / file:PATH.")
    methods: list[str] = opt(
        ["dann"],
        "Adaptation methods (comma-separated; every one runs and the label-free rule picks).",
        flag="--method",
        registry="adaptation",
    )
    trade_offs: list[float] = opt(
        [1.0],
        "Weights of the transfer loss to try (deep methods); the label-free rule picks.",
        flag="--trade-off",
        gt=0,
    )
    seeds: int = opt(1, "Number of seeds (0..N-1); every candidate runs with each.", min=1)
    select: str = opt("dev", "Label-free model selection.", registry="selection")
    target_labels_for_eval: bool = opt(
        False, "Use the target's labels for the final report only (with the oracle choice)."
    )
    allow_partial: bool = opt(
        False, "Allow a target whose classes are a subset of the source's; report the missing ones."
    )
    scratch: bool = opt(False, "Start the backbone from fresh weights (e.g. cnn-small on digits).")
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: models.")
    max_source: int | None = opt(None, "Stratified cap on the source examples used.", min=2)
    max_target: int | None = opt(None, "Seeded cap on the target examples used.", min=2)
    val_fraction: float = opt(
        0.2, "Share of the source held out for validation and selection.", gt=0, lt=1
    )
    backbone_lr: float | None = opt(
        None,
        "Backbone learning rate as a multiple of --lr (default: 0.1 pretrained, 1 scratch).",
        min=0,
    )
    augment: bool = opt(
        True, "Mild augmentation of the training images (both domains; text has none)."
    )
    selection_examples: int = opt(
        1000, "Examples per domain for the importance weights of the selection rule.", min=2
    )
    embed_points: int = opt(300, "Points per domain in the report's t-SNE plots (0: none).", min=0)
    options: dict[str, Any] = opt({}, "The methods' own options (e.g. hidden), by name.", cli=False)
