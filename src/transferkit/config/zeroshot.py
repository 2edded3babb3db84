"""Settings of ``zeroshot``: classification by similarity to embedded class descriptions,
or to few-shot prototypes."""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config.blocks import (
    Batching,
    Columns,
    Descriptions,
    ImageInput,
    Reading,
    Runtime,
    Seeded,
    Sourced,
    TextInput,
)
from transferkit.config.fields import Default, Stored, defaults, opt


@dataclass
@defaults(
    batch_size=Default(64, "Examples per forward pass."),
    model=Default(
        "minilm-l6",
        "A text encoder (minilm-l6, hf:PATH) for text, a CLIP model (hf:PATH) for images.",
    ),
    seed=Default(0, "Seed of the split (the test examples are those fit holds out)."),
    image_size=Default(None, "Square input size; default: the model's."),
)
class ZeroShotConfig(
    Stored,
    Descriptions,
    Sourced,
    Seeded,
    Batching,
    Runtime,
    Reading,
    Columns,
    ImageInput,
    TextInput,
):
    """Zero-shot (or few-shot prototype) classification by embedding similarity."""

    data: str = opt(
        "",
        "Data to classify: a text table (.csv/.tsv/.jsonl/.parquet/.txt), or "
        "images for CLIP-family models; labels in it are used for evaluation.",
    )
    shots: int = opt(
        0,
        "Labelled examples per class to add to each class prototype "
        "(few-shot; 0: zero-shot). Taken from fit's training pool for the seed.",
        min=0,
    )
    max_test: int | None = opt(None, "Stratified cap on the number of test examples.", min=1)
