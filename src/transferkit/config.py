"""Settings as dataclasses with defaults and help text.

The CLI and YAML files only fill these dataclasses (``cli.py`` builds its options from the
fields' metadata), and every run stores the fully resolved config so ``transferkit runs show``
tells exactly how to reproduce it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with CLI help text (``metadata['help']``) and optional bounds that
    :func:`check_ranges` enforces: ``min`` / ``max`` (inclusive), ``gt`` / ``lt`` (exclusive)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


_BOUNDS = {"min": (lambda v, b: v >= b, "at least"), "max": (lambda v, b: v <= b, "at most"),
           "gt": (lambda v, b: v > b, "above"), "lt": (lambda v, b: v < b, "below")}


def range_problems(settings: Any) -> list[str]:
    """One phrase per field of ``settings`` (and its nested settings) outside its declared
    bounds, e.g. ``"--image-size must be at least 1 (got 0)"``; None values are not checked."""
    problems = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            problems += range_problems(value)
            continue
        values = value if isinstance(value, list) else [value]
        for key, (ok, words) in _BOUNDS.items():
            bound = f.metadata.get(key)
            if bound is None:
                continue
            bad = [v for v in values if isinstance(v, (int, float)) and not ok(v, bound)]
            if bad:
                flag = "--" + f.name.replace("_", "-")
                problems.append(f"{flag} must be {words} {bound} (got {bad[0]})")
    return problems


def check_ranges(settings: Any) -> None:
    """A UserError listing every out-of-range setting (see :func:`range_problems`)."""
    from transferkit.errors import UserError

    problems = range_problems(settings)
    if problems:
        raise UserError("Invalid settings: " + "; ".join(problems) + ".")


@dataclass
class DataOptions:
    """Which data, and how it is split."""

    data: str = opt("", "Target data: builtin:NAME, an image folder, a CSV manifest, .npz or idx "
                    "files, or a text table (.csv/.tsv/.jsonl/.parquet with a text column).")
    labels_per_class: int | None = opt(
        None, "Labelled examples per class drawn from the training pool (train + validation)."
    )
    val_fraction: float = opt(0.2, "Share of the labelled examples held out for validation.")
    test_fraction: float = opt(0.2, "Share held out for testing when the data has no test split.")
    max_test: int | None = opt(None, "Stratified cap on the number of test examples.")
    image_size: int | None = opt(None, "Square input size; default: the backbone's native size.",
                                 min=1)
    strict: bool = opt(False, "Treat skippable problems (corrupt images) as errors.")
    path_column: str | None = opt(None, "CSV column with file paths (default: path/image/file).")
    label_column: str | None = opt(None, "CSV column with labels (default: label/class/target).")
    text_column: str | None = opt(
        None, "Text tables: the column with the texts (default: text/sentence/content/...)."
    )
    max_length: int | None = opt(
        None, "Text: the most tokens per text; longer texts are truncated and counted "
        "(default: the model's own limit)."
    )
    allow_outside_root: bool = opt(False, "Let manifest paths point outside the manifest's folder.")


@dataclass
class TrainOptions:
    """The training recipe shared by finetune and scratch (so their comparison is fair)."""

    epochs: int = opt(15, "Maximum training epochs.")
    batch_size: int = opt(32, "Global batch size (split across processes under torchrun).")
    lr: float | None = opt(
        None, "Peak learning rate of the new head; blocks below get lr * decay^depth "
        "(default: the strategy's for the modality, e.g. finetune 1e-3 images, 1e-4 text)."
    )
    lr_decay: float = opt(0.75, "Per-block learning-rate decay from the top block downwards.")
    weight_decay: float = opt(0.05, "AdamW weight decay.")
    warmup_epochs: float = opt(1.0, "Linear warm-up before cosine decay, in epochs.")
    label_smoothing: float = opt(0.1, "Label smoothing of the cross-entropy loss.")
    patience: int = opt(5, "Early stopping: epochs without validation improvement.")
    accumulate: int = opt(1, "Gradient accumulation steps.")
    unfreeze: int | None = opt(None, "Train only the top K blocks (default: all).")
    gradual_unfreeze: int = opt(
        0, "Unfreeze one more block every N epochs, from the top (0: off)."
    )
    head_init: str = opt(
        "linear", "linear: start the new head from a linear probe on the source features "
        "(LP-FT; scratch has no source features and always starts from a fresh head); "
        "random: a freshly initialised head."
    )
    augment: bool = opt(True, "Augmentation suited to the modality (random resized crop, flip).")
    balance: str = opt("none", "Imbalanced data: none, weights (class-weighted loss) or sampler.")
    device: str = opt("auto", "auto, cpu or cuda.")
    amp: bool = opt(True, "Mixed precision on CUDA.")
    num_workers: int = opt(0, "DataLoader worker processes.")
    lora_rank: int = opt(8, "lora: rank r of the low-rank update matrices.")
    lora_alpha: float = opt(16.0, "lora: scaling alpha (the update is scaled by alpha / r).")
    lora_dropout: float = opt(0.1, "lora: dropout on the adapters' input.")
    lora_targets: str | None = opt(
        None, "lora: comma-separated names of the layers to adapt (default: detected, e.g. "
        "query,value for BERT-like models)."
    )


@dataclass
class FitConfig:
    """One transfer run: a source model, a strategy, target data and a recipe."""

    model: str = opt("effnet-lite0", "Source model (see `transferkit zoo`).")
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: models.")
    strategy: str = opt("auto", "linear, finetune, lora, contrastive, scratch or auto.")
    seed: int = opt(0, "Random seed for splits, sampling, initialisation and augmentation.")
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainOptions = field(default_factory=TrainOptions)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        return cls(
            **{k: v for k, v in d.items() if k not in ("data", "train")},
            data=DataOptions(**d.get("data", {})),
            train=TrainOptions(**d.get("train", {})),
        )


@dataclass
class PretrainConfig:
    """One pretraining run: source data, method, architecture and recipe."""

    data: str = opt("", "Source data (labelled or not): builtin:NAME, a folder, CSV, .npz, idx.")
    method: str = opt("supervised", "supervised, autoencoder, vae or contrastive.")
    arch: str = opt("cnn-small", "Architecture: cnn-small, tiny-cnn, timm:NAME, effnet-lite0 ...")
    from_pretrained: bool = opt(
        False, "Start from the architecture's pretrained weights (domain-adaptive pretraining)."
    )
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: architectures.")
    name: str | None = opt(None, "A name for the result in the zoo (default: run:ID).")
    image_size: int | None = opt(None, "Square input size; default: the architecture's.", min=1)
    max_examples: int | None = opt(None, "Use a seeded random subset of this many examples.")
    val_fraction: float = opt(0.1, "Share of the source data held out for validation.")
    epochs: int = opt(10, "Maximum epochs.")
    batch_size: int = opt(128, "Global batch size.")
    lr: float = opt(1e-3, "Peak learning rate (AdamW, warm-up then cosine).")
    weight_decay: float = opt(1e-4, "AdamW weight decay.")
    warmup_epochs: float = opt(1.0, "Linear warm-up, in epochs.")
    patience: int = opt(5, "Early stopping: epochs without validation improvement.")
    latent_dim: int = opt(64, "Latent size of the autoencoder / VAE bottleneck.")
    beta: float = opt(1.0, "VAE: weight of the KL term.")
    temperature: float = opt(0.5, "Contrastive: NT-Xent temperature.")
    projection_dim: int = opt(128, "Contrastive: output size of the projection head.")
    augment: bool = opt(True, "Augment the supervised / autoencoder views too (contrastive always does).")
    seed: int = opt(0, "Random seed.")
    device: str = opt("auto", "auto, cpu or cuda.")
    amp: bool = opt(True, "Mixed precision on CUDA.")
    num_workers: int = opt(0, "DataLoader worker processes.")
    strict: bool = opt(False, "Treat skippable problems (corrupt images) as errors.")


@dataclass
class AdaptConfig:
    """One domain adaptation run: labelled source, unlabelled target, methods, recipe."""

    source: str = opt("", "Labelled source data: builtin:NAME, a folder, CSV, .npz, idx files.")
    target: str = opt("", "Target data (its labels, if any, are not used for training or selection).")
    model: str = opt("effnet-lite0", "Backbone (see `transferkit zoo`), or run:ID / file:PATH.")
    methods: list[str] = opt(
        ["dann"], "Adaptation methods: source-only, adabn, dann, cdan, dan, coral, mcc (deep); "
        "shallow-coral, subspace-alignment, importance-weighting, shallow-source-only (on "
        "cached features of the pretrained backbone)."
    )
    trade_offs: list[float] = opt(
        [1.0], "Weights of the transfer loss to try (deep methods); the label-free rule picks."
    )
    seeds: int = opt(1, "Number of seeds (0..N-1); every candidate runs with each.")
    select: str = opt("dev", "Label-free model selection: dev, iwcv, source-val (held-out "
                      "source), snd or im (target predictions).")
    target_labels_for_eval: bool = opt(
        False, "Use the target's labels for the final report only (with the oracle choice)."
    )
    allow_partial: bool = opt(
        False, "Allow a target whose classes are a subset of the source's; report the missing ones."
    )
    scratch: bool = opt(False, "Start the backbone from fresh weights (e.g. cnn-small on digits).")
    weights: str | None = opt(None, "Local weights file for timm:/torchvision: models.")
    image_size: int | None = opt(None, "Square input size; default: the backbone's native size.",
                                 min=1)
    text_column: str | None = opt(None, "Text tables: the column with the texts (both domains).")
    label_column: str | None = opt(None, "The column with the labels (both domains).")
    max_source: int | None = opt(None, "Stratified cap on the source examples used.")
    max_target: int | None = opt(None, "Seeded cap on the target examples used.")
    val_fraction: float = opt(0.2, "Share of the source held out for validation and selection.")
    epochs: int = opt(10, "Maximum epochs (one epoch: one pass over the larger domain).")
    batch_size: int = opt(32, "Examples per domain per step.")
    lr: float = opt(1e-3, "Peak learning rate of the head and discriminator (AdamW).")
    backbone_lr: float | None = opt(
        None, "Backbone learning rate as a multiple of --lr (default: 0.1 pretrained, 1 scratch)."
    )
    weight_decay: float = opt(5e-4, "AdamW weight decay.")
    warmup_epochs: float = opt(0.5, "Linear warm-up before cosine decay, in epochs.")
    patience: int = opt(100, "Early stopping: epochs without a better selection score.")
    hidden: int = opt(1024, "Hidden units of the domain discriminator (dann, cdan).")
    augment: bool = opt(True, "Mild augmentation of the training images (both domains; text "
                        "has none).")
    selection_examples: int = opt(
        1000, "Examples per domain for the importance weights of the selection rule."
    )
    embed_points: int = opt(300, "Points per domain in the report's t-SNE plots (0: none).")
    device: str = opt("auto", "auto, cpu or cuda.")
    amp: bool = opt(True, "Mixed precision on CUDA.")
    num_workers: int = opt(0, "DataLoader worker processes.")
    strict: bool = opt(False, "Treat skippable problems (corrupt images) as errors.")


@dataclass
class ZeroShotConfig:
    """Zero-shot (or few-shot prototype) classification by embedding similarity."""

    data: str = opt("", "Data to classify: a text table (.csv/.tsv/.jsonl/.parquet/.txt), or "
                    "images for CLIP-family models; labels in it are used for evaluation.")
    labels: str | None = opt(
        None, "Comma-separated class names, or name=description pairs (e.g. "
        "'sci.space=outer space,rec.autos=cars'); default: the data's own class names."
    )
    model: str = opt("minilm-l6", "A text encoder (minilm-l6, hf:PATH) for text, a CLIP model "
                     "(hf:PATH) for images.")
    template: str | None = opt(
        None, "Template for the label descriptions, {} is the description; several separated "
        "by | are averaged (default: 'This text is about {}.' / 'a photo of a {}.')."
    )
    shots: int = opt(0, "Labelled examples per class to add to each class prototype "
                     "(few-shot; 0: zero-shot). Taken from fit's training pool for the seed.")
    seed: int = opt(0, "Seed of the split (the test examples are those fit holds out).")
    max_test: int | None = opt(None, "Stratified cap on the number of test examples.")
    text_column: str | None = opt(None, "Text tables: the column with the texts.")
    label_column: str | None = opt(None, "The column with labels (optional).")
    max_length: int | None = opt(None, "Text: the most tokens per text (default: the model's).")
    image_size: int | None = opt(None, "Square input size; default: the model's.", min=1)
    batch_size: int = opt(64, "Examples per forward pass.")
    device: str = opt("auto", "auto, cpu or cuda.")
