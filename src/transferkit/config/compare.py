"""Settings of ``compare`` and ``demo``, the workflows made of several fits (the rest of
``compare``'s settings are fit's, :mod:`transferkit.config.fit`)."""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config.fields import opt


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
