"""The settings of one transfer run (``fit``): target data and its splits, the source model
and strategy, the training recipe, and the strategy's own options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from transferkit.config.blocks import (
    Columns,
    ImageInput,
    Optimiser,
    Reading,
    Runtime,
    Seeded,
    Sourced,
    TextInput,
)
from transferkit.config.fields import Default, defaults, opt, split_known

BALANCE = ("none", "weights", "sampler")
HEAD_INIT = ("linear", "random")
#: Options that lived in TrainOptions before strategies declared their own (stored configs
#: of older runs still hold them there).
_MOVED_TO_OPTIONS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_targets")
#: fit's strategy when none is named: the quick rule by labels per class. Runs stored before
#: the rule had its own name say ``auto`` without a budget (``auto`` is now the search).
DEFAULT_STRATEGY = "linear-or-finetune"


@dataclass
class DataOptions(Reading, Columns, ImageInput, TextInput):
    """Which data, and how it is split."""

    data: str = opt(
        "",
        "Target data: builtin:NAME, an image folder (one sub-folder per class, "
        "optionally under train/val/test folders), a CSV manifest, .npz or idx "
        "files, or a text table (.csv/.tsv/.jsonl/.parquet with a text column).",
    )
    labels_per_class: int | None = opt(
        None,
        "Labelled examples per class drawn from the training pool (train + validation).",
        min=1,
    )
    val_fraction: float = opt(
        0.2, "Share of the labelled examples held out for validation.", gt=0, lt=1
    )
    test_fraction: float = opt(
        0.2, "Share held out for testing when the data has no test split.", gt=0, lt=1
    )
    max_test: int | None = opt(None, "Stratified cap on the number of test examples.", min=1)
    path_column: str | None = opt(None, "CSV column with file paths (default: path/image/file).")
    allow_outside_root: bool = opt(False, "Let manifest paths point outside the manifest's folder.")


@dataclass
@defaults(
    lr=Default(
        None,
        "Peak learning rate of the new head; blocks below get lr * "
        "decay^depth (default: the strategy's for the modality, e.g. "
        "finetune 1e-3 images, 1e-4 text).",
    )
)
class TrainOptions(Optimiser, Runtime):
    """The training recipe shared by finetune and scratch (so their comparison is fair)."""

    lr_decay: float = opt(
        0.75, "Per-block learning-rate decay from the top block downwards.", gt=0, max=1
    )
    label_smoothing: float = opt(0.1, "Label smoothing of the cross-entropy loss.", min=0, lt=1)
    accumulate: int = opt(1, "Gradient accumulation steps.", min=1)
    unfreeze: int | None = opt(None, "Train only the top K blocks (default: all).", min=1)
    gradual_unfreeze: int = opt(
        0, "Unfreeze one more block every N epochs, from the top (0: off).", min=0
    )
    head_init: str = opt(
        "linear",
        "linear: start the new head from a linear probe on the source features "
        "(LP-FT; scratch has no source features and always starts from a fresh head); "
        "random: a freshly initialised head.",
        choices=HEAD_INIT,
    )
    augment: bool = opt(True, "Augmentation suited to the modality (random resized crop, flip).")
    balance: str = opt(
        "none", "Imbalanced data: none, weights (class-weighted loss) or sampler.", choices=BALANCE
    )


@dataclass
class FitConfig(Sourced, Seeded):
    """One transfer run: a source model, a strategy, target data and a recipe."""

    strategy: str = opt(
        DEFAULT_STRATEGY,
        f"How to transfer ({DEFAULT_STRATEGY}: linear below 20 labelled examples in the "
        "smallest class, else finetune; auto: the automatic search, with --budget).",
        registry="strategy",
    )
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    options: dict[str, Any] = opt(
        {}, "The strategy's own options (e.g. lora_rank), by name.", cli=False
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        """A stored config back (also one stored before strategies had their own options,
        or before the rule by labels per class was named ``linear-or-finetune``: ``auto``
        without a budget)."""
        d = dict(d)
        if d.get("strategy") == "auto" and not (d.get("options") or {}).get("budget"):
            d["strategy"] = DEFAULT_STRATEGY
            d["options"] = {k: v for k, v in (d.get("options") or {}).items() if k != "budget"}
        train, moved = split_known(TrainOptions, dict(d.pop("train", {})))
        options = {
            **{k: v for k, v in moved.items() if k in _MOVED_TO_OPTIONS},
            **d.pop("options", {}),
        }
        if d.get("strategy") != "lora":
            options = {k: v for k, v in options.items() if k not in _MOVED_TO_OPTIONS}
        top, _ = split_known(cls, d)
        return cls(
            **{k: v for k, v in top.items() if k not in ("data", "train", "options")},
            data=DataOptions(**split_known(DataOptions, d.get("data", {}))[0]),
            train=TrainOptions(**train),
            options=options,
        )
