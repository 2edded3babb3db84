"""Settings of the other workflows: pretrain, adapt, zeroshot, rank, similarity, compare, the
demo, predict and explain. Each inherits the shared blocks it needs
(:mod:`transferkit.config.blocks`); method-specific options live with the methods and arrive in
the ``options`` dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transferkit.config.blocks import (
    Batching,
    Columns,
    Descriptions,
    ImageInput,
    Optimiser,
    Reading,
    Runtime,
    Seeded,
    Sourced,
    TextInput,
)
from transferkit.config.fields import Default, defaults, opt, split_known


class _Stored:
    """``from_dict``: settings back from a stored config; keys that are no longer fields (the
    method options older runs kept at the top level) go to ``options``."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known, rest = split_known(cls, dict(d))
        if "options" in known or rest:
            known["options"] = {**rest, **known.get("options", {})}
        return cls(**known)


@dataclass
@defaults(
    epochs=10,
    batch_size=128,
    lr=1e-3,
    weight_decay=1e-4,
    seed=0,
    image_size=Default(None, "Square input size; default: the architecture's."),
)
class PretrainConfig(_Stored, Optimiser, Runtime, Reading, ImageInput, Seeded):
    """One pretraining run: source data, method, architecture and recipe."""

    data: str = opt("", "Source data (labelled or not): builtin:NAME, a folder, CSV, .npz, idx.")
    method: str = opt("supervised", "How to pretrain.", registry="pretrain")
    arch: str = opt("cnn-small", "Architecture: cnn-small, tiny-cnn, timm:NAME, effnet-lite0 ...")
    from_pretrained: bool = opt(
        False, "Start from the architecture's pretrained weights (domain-adaptive pretraining)."
    )
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: architectures.")
    name: str | None = opt(None, "A name for the result in the zoo (default: run:ID).")
    max_examples: int | None = opt(None, "Use a seeded random subset of this many examples.", min=1)
    val_fraction: float = opt(0.1, "Share of the source data held out for validation.", min=0, lt=1)
    augment: bool = opt(
        True, "Augment the supervised / autoencoder views too (contrastive always does)."
    )
    options: dict[str, Any] = opt({}, "The method's own options (e.g. latent_dim).", cli=False)


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
class AdaptConfig(_Stored, Optimiser, Runtime, Reading, Columns, ImageInput):
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
    _Stored,
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


@dataclass
@defaults(
    batch_size=64,
    image_size=Default(None, "Input size for every candidate."),
    seed=Default(0, "Seed of fit's split whose labelled part is scored."),
)
class RankConfig(_Stored, Seeded, Batching, Runtime, Columns, ImageInput):
    """Rank candidate source models for labelled target data without training them."""

    data: str = opt(
        "", "Labelled target data (folder, manifest, builtin:NAME, text table).", required=True
    )
    models: str = opt(
        "",
        "Comma-separated candidates; shell patterns such as 'effnet*' or "
        "'timm:resnet*' are expanded.",
        required=True,
    )
    scores: list[str] = opt(
        [],
        "Comma-separated scores (default: logme,leep,nce,hscore,knn); the first orders the table.",
        registry="score",
    )
    score: str | None = opt(None, "Rank by this score only (with --scores: rank by it first).")
    max_examples: int | None = opt(None, "Score a stratified sample of this size.", min=1)
    labels_per_class: int | None = opt(
        None, "Use fit's labelled examples for this label budget.", min=1
    )
    options: dict[str, Any] = opt({}, "The scores' own options (e.g. knn_k), by name.", cli=False)


@dataclass
@defaults(batch_size=64)
class SimilarityConfig(_Stored, Seeded, Batching, Runtime, Columns, ImageInput):
    """How far a source dataset is from a target one in a backbone's feature space."""

    source: str = opt("", "One dataset.", required=True)
    target: str = opt("", "The other dataset.", required=True)
    model: str = opt("", "The backbone whose features are compared.", required=True)
    max_examples: int = opt(2000, "Examples per side.", min=2)
    permutations: int = opt(200, "Permutations for the MMD p-value.", min=1)


@dataclass
class CompareConfig:
    """Strategies x label budgets x seeds on the same splits (the rest is fit's settings)."""

    strategies: list[str] = opt(
        ["linear", "finetune", "scratch"],
        "Comma-separated strategies; the first is the baseline of the differences.",
        registry="strategy",
    )
    labels_per_class: list[str] = opt(
        ["10", "100"], "Comma-separated label budgets per class, or 'all'."
    )
    seeds: int = opt(3, "Number of seeds (0..N-1).", min=1)
    reuse: bool = opt(True, "Reuse cells already in the store (--no-reuse retrains them).")


@dataclass
class DemoConfig:
    """The offline demo: ImageNet EfficientNet-Lite0 to a built-in dataset."""

    data: str = opt("builtin:fashion-mnist", "Target data.")
    model: str = opt("effnet-lite0", "Source model.")
    labels_per_class: int = opt(20, "Labelled examples per class.", min=1)
    image_size: int = opt(64, "Square input size.", min=1)
    epochs: int = opt(8, "Fine-tuning epochs.", min=1)
    max_test: int = opt(1000, "Test examples.", min=1)
    seed: int = opt(0, "Random seed.")
    budget: str = opt(
        "2m", "Budget of the automatic search shown beside the fixed recipes (0 to leave it out)."
    )


@dataclass
@defaults(batch_size=64)
class PredictConfig(Batching):
    """Predictions of a finished run."""

    run: str = opt("", "Run id (or unique prefix).", required=True)
    inputs: str = opt("", "An image, a folder of images, or a dataset spec.", positional=True)
    device: str = opt("auto", "auto, cpu or cuda.")


@dataclass
class ReportConfig:
    """A self-contained HTML report and its Markdown twin."""

    runs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Run ids or unique prefixes: fit runs, compare or cv records.",
            "positional": True,
            "nargs": "*",
            "metavar": "RUN",
        },
    )
    last: int | None = opt(None, "Also report the N newest fit runs.", min=1, metavar="N")
    out: str | None = opt(
        None,
        "Output folder (default: the run's artifact folder; for "
        "several runs $TRANSFERKIT_HOME/reports/<time>).",
        metavar="DIR",
    )
    title: str | None = opt(None, "Report title (default: from the runs).")


@dataclass
@defaults(seed=Default(0, "Seed of the splits, the sampler and every trial."))
class AutoConfig(_Stored, Seeded, Batching, Runtime, Reading, Columns, TextInput):
    """The automatic search: which source model, strategy and recipe, within a time budget."""

    data: str = opt("", "Labelled target data (as for fit).")
    budget: str = opt("15m", "Wall-time budget of the whole search, e.g. 90s, 15m, 1h30m.")
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


@dataclass
@defaults(
    batch_size=Default(
        16,
        "Inputs explained at once (integrated gradients runs "
        "--ig-steps forward and backward passes per input).",
    ),
    seed=Default(
        0,
        "Seed of the samples: the inputs kept by --max, the target examples "
        "of the transfer analysis.",
    ),
)
class ExplainConfig(_Stored, Seeded, Batching, Reading, Columns):
    """Attributions for a finished run's predictions, and what its transfer changed."""

    run: str = opt(
        "",
        "The run whose model is explained (id or unique prefix): fit, adapt, "
        "zeroshot ... any finished run that saved a model.",
        required=True,
    )
    inputs: str | None = opt(
        None,
        "Images (a file, a folder, a dataset spec) or texts (a "
        "table) to explain; without them only what transferred is "
        "analysed.",
        positional=True,
        nargs="?",
    )
    method: str = opt(
        "auto",
        "Attribution method (auto: gradcam for convolutional image backbones, ig otherwise).",
        registry="explain",
    )
    classes: list[str] = opt(
        [],
        "Explain these classes (comma-separated names), one map per "
        "input and class (default: each input's predicted class).",
    )
    max_inputs: int | None = opt(
        None,
        "Explain at most N inputs, a seeded sample when there "
        "are more; without --max, more than 64 are refused.",
        flag="--max",
        min=1,
        metavar="N",
    )
    ig_steps: int = opt(32, "Integrated gradients: steps of the path integral.", min=2)
    window: int = opt(
        8,
        "Occlusion: side of the square patch hidden at a time, in pixels (stride: half of it).",
        min=1,
    )
    transfer: bool = opt(
        True,
        "Also analyse what fine-tuning changed (per-block CKA and "
        "weight change) and which source classes the target classes "
        "map to.",
    )
    transfer_data: str | None = opt(
        None, "Labelled target examples for that analysis (default: the run's own data)."
    )
    transfer_examples: int = opt(
        500, "Most target examples for that analysis (a seeded sample).", min=10
    )
    device: str = opt("auto", "auto, cpu or cuda.")
