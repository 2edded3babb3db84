"""Settings of ``auto``: the automatic search over source models, strategies and recipes
within a time budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transferkit.config.blocks import Batching, Columns, Reading, Runtime, Seeded, TextInput
from transferkit.config.fields import Default, Stored, defaults, opt


@dataclass
@defaults(seed=Default(0, "Seed of the splits, the sampler and every trial."))
class AutoConfig(Stored, Seeded, Batching, Runtime, Reading, Columns, TextInput):
    """The automatic search: which source model, strategy and recipe, within a time budget."""

    data: str = opt("", "Labelled target data (as for fit).")
    budget: str = opt(
        "15m",
        "Wall-time budget of the whole search, e.g. 90s, 15m, 1h30m: the total over every "
        "call, so a search resumed with --resume gets what its earlier calls left (the time "
        "between calls does not count), and one with nothing left chooses among what they "
        "finished.",
    )
    models: str = opt(
        "",
        "Candidate source models (comma-separated, shell patterns allowed); "
        "default: every zoo model usable offline for the data's modality.",
    )
    strategies: list[str] = opt(
        [],
        "Strategies to consider (default: linear, finetune, scratch "
        "for images; linear, zeroshot, prototypes, finetune, lora "
        "for text).",
        registry="strategy",
    )
    metric: str = opt(
        "accuracy",
        "Validation metric the search maximises.",
        choices=("accuracy", "balanced_accuracy", "macro_f1"),
    )
    labels_per_class: int | None = opt(
        None, "Labelled examples per class (train + validation), as for fit.", min=1
    )
    val_fraction: float = opt(
        0.2, "Share of the labelled examples held out for validation.", gt=0, lt=1
    )
    test_fraction: float = opt(
        0.2, "Share held out for testing when the data has no test split.", gt=0, lt=1
    )
    max_test: int | None = opt(None, "Stratified cap on the number of test examples.", min=1)
    image_sizes: list[int] = opt(
        [],
        "Input sizes the search may choose (default: 64, 96, 128 "
        "px below the model's native size).",
        min=8,
    )
    max_epochs: int = opt(9, "Most epochs of a trial (the top rung of successive halving).", min=1)
    min_epochs: int = opt(1, "Epochs of the first rung of successive halving.", min=1)
    reduction: int = opt(3, "Successive halving: one trial in this many goes up a rung.", min=2)
    keep: int = opt(
        2,
        "Candidate models kept by the ranking stage (plus one of another family as a hedge).",
        min=1,
    )
    rank_examples: int = opt(
        500, "Labelled examples the ranking stage scores (stratified).", min=10
    )
    sampler: str = opt("tpe", "Optuna sampler: tpe or random.", choices=("tpe", "random"))
    pruner: str = opt(
        "halving",
        "Optuna pruner: halving (successive halving), hyperband or none.",
        choices=("halving", "hyperband", "none"),
    )
    trials: int | None = opt(
        None, "Most fine-tuning trials (default: as many as the budget allows).", min=0
    )
    final_share: float = opt(0.1, "Share of the budget kept for the final evaluation.", min=0, lt=1)
    folds: int = opt(
        5,
        "Stratified folds of the cross-validated selection on small data (the cheap "
        "strategies and the best trials are scored out-of-fold on every label).",
    )
    kfold_below: int = opt(
        50,
        "Labelled examples per class (mean) under which the search chooses by k-fold "
        "cross-validation on every label instead of the validation split; 0: never.",
        min=0,
    )
    ensemble: bool = opt(
        True,
        "End with an ensemble of the best configurations (greedy ensemble selection on "
        "out-of-fold or validation probabilities); --no-ensemble keeps one model.",
    )
    ensemble_size: int | None = opt(
        None, "Most configurations in the ensemble (default 5): its inference cost."
    )
    labels: str | None = opt(
        None, "Class descriptions for zeroshot / prototypes (name=description pairs)."
    )
    storage: str | None = opt(
        None,
        "Optuna storage URL shared by several machines, e.g. "
        "postgresql://user@host/db (default: a SQLite file beside "
        "the run store).",
    )
    study: str | None = opt(
        None, "Name of the Optuna study (default: auto-RUNID); workers join it by name."
    )
    worker: bool = opt(
        False,
        "Join the study named by --study in --storage and run trials "
        "until its budget is spent (run one per machine).",
    )
    options: dict[str, Any] = opt(
        {}, "Options of the strategies searched (e.g. lora_rank).", cli=False
    )
