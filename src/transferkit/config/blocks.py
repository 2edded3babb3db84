"""Settings blocks that several workflows share, so each field is written once.

A workflow's settings class inherits the blocks it needs and changes their defaults with
:func:`~transferkit.config.fields.defaults` (pretraining's batch of 128, adaptation's
patience of 100, ...). Stored configs stay flat: a block adds fields, not a level of nesting.
"""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config.fields import opt


@dataclass
class Runtime:
    """Where and how a run computes."""

    device: str = opt("auto", "auto, cpu or cuda (cuda:N for one GPU).")
    amp: bool = opt(True, "Mixed precision on CUDA.")
    num_workers: int = opt(0, "DataLoader worker processes.", min=0)


@dataclass
class Batching:
    """How many examples go through the model at once."""

    batch_size: int = opt(32, "Global batch size (split across processes under torchrun).", min=1)


@dataclass
class Optimiser(Batching):
    """The optimisation recipe: AdamW with a linear warm-up and cosine decay, early stopping."""

    epochs: int = opt(15, "Maximum training epochs.", min=1)
    lr: float | None = opt(None, "Peak learning rate (AdamW, warm-up then cosine).", gt=0)
    weight_decay: float = opt(0.05, "AdamW weight decay.", min=0)
    warmup_epochs: float = opt(1.0, "Linear warm-up before cosine decay, in epochs.", min=0)
    patience: int = opt(5, "Early stopping: epochs without validation improvement.", min=0)


@dataclass
class Reading:
    """How inputs are read."""

    strict: bool = opt(False, "Treat skippable problems (corrupt images, empty labels) as errors.")


@dataclass
class Columns:
    """Which columns of a table hold the texts and the labels."""

    text_column: str | None = opt(
        None, "Text tables: the column with the texts (default: text/sentence/content/...)."
    )
    label_column: str | None = opt(
        None, "The column with the labels (default: label/class/target)."
    )


@dataclass
class ImageInput:
    """The input size of image models."""

    image_size: int | None = opt(
        None, "Square input size; default: the model's native size.", min=1
    )


@dataclass
class TextInput:
    """The input length of text models."""

    max_length: int | None = opt(
        None,
        "Text: the most tokens per text; longer texts are truncated and counted "
        "(default: the model's own limit).",
        min=2,
    )


@dataclass
class Seeded:
    seed: int = opt(0, "Random seed for splits, sampling, initialisation and augmentation.")


@dataclass
class Sourced:
    """A source model from the zoo."""

    model: str = opt("effnet-lite0", "Source model (see `transferkit zoo`), run:ID or file:PATH.")
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: models.")


@dataclass
class Descriptions:
    """Class descriptions for zero-shot classification (the zeroshot command, and the options
    of the zeroshot and prototypes strategies)."""

    prefix = ""  # as strategy options: --labels, --template
    labels: str | None = opt(
        None,
        "Comma-separated class names, or name=description pairs (e.g. "
        "'sci.space=outer space,rec.autos=cars'); default: the data's own class names.",
    )
    template: str | None = opt(
        None,
        "Template for the label descriptions, {} is the description; several separated "
        "by | are averaged (default: 'This text is about {}.' / 'a photo of a {}.').",
    )
