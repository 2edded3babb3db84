"""The space of fine-tuning recipes the search samples, and trial 0 (the library's defaults).

A trial is one transfer run: a kept source model, a training strategy (LP-FT ``finetune``,
``lora`` for transformers, ``scratch`` as the control, ``contrastive`` when asked for), its
learning rate on a log scale, how many top blocks it trains (``unfreeze``: all, 1, 2 or 4),
LoRA's rank, and the input size where the model takes several. The parameters are sampled
define-by-run on an Optuna trial; each strategy has its own learning-rate range (so the
sampler learns one per strategy). The cheap strategies (linear, zeroshot, prototypes) are not
trials: they run on cached features before the search (:mod:`transferkit.search.cheap`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TRAINED = ("finetune", "lora", "scratch", "contrastive")
CHEAP = ("linear", "zeroshot", "prototypes")
DEFAULTS = {
    "image": ("linear", "finetune", "scratch"),
    "text": ("linear", "zeroshot", "prototypes", "finetune", "lora"),
}
#: Learning-rate ranges (log-uniform) per modality and strategy; the library defaults inside.
LR = {
    "image": {
        "finetune": (1e-4, 1e-2),
        "scratch": (3e-4, 1e-2),
        "lora": (1e-4, 3e-3),
        "contrastive": (1e-5, 1e-3),
    },
    "text": {
        "finetune": (1e-5, 5e-4),
        "scratch": (1e-5, 5e-4),
        "lora": (1e-4, 3e-3),
        "contrastive": (5e-6, 2e-4),
    },
}
UNFREEZE = (0, 1, 2, 4)  # 0: every block
LORA_RANKS = (4, 8, 16)
SIZES = {"cpu": (64, 96, 128), "cuda": (128, 160, 224)}


@dataclass
class ModelInfo:
    """What the space needs to know about one kept candidate."""

    name: str
    modality: str
    native_size: int | None = None
    blocks: int = 1
    adapters: bool = False  # a transformers encoder that takes LoRA adapters
    describes: bool = False  # embeds label descriptions (text encoders, CLIP): zero-shot


@dataclass
class SearchSpace:
    models: list[ModelInfo]
    strategies: list[str]  # the trained ones, in TRAINED
    image_sizes: list[int] = field(default_factory=list)
    max_epochs: int = 9

    @property
    def modality(self) -> str:
        return self.models[0].modality

    def _strategies(self) -> list[str]:
        adapters = all(m.adapters for m in self.models)
        return [s for s in self.strategies if s != "lora" or adapters]

    def default(self, default_model: str) -> dict[str, Any]:
        """Trial 0: the library's default recipe (LP-FT finetune of every block at the
        strategy's default learning rate) on ``default_model``, at the smallest input size."""
        from transferkit.strategies import STRATEGIES

        lr = STRATEGIES.get("finetune").default_lr[self.modality]
        params: dict[str, Any] = {
            "model": default_model,
            "strategy": "finetune",
            "lr_finetune": lr,
            "unfreeze": 0,
        }
        if len(self.image_sizes) > 1:
            params["image_size"] = self.image_sizes[0]
        return params

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample one recipe on an Optuna trial (define-by-run); returns its parameters."""
        names = [m.name for m in self.models]
        model = trial.suggest_categorical("model", names)
        strategy = trial.suggest_categorical("strategy", self._strategies())
        lo, hi = LR[self.modality][strategy]
        params = {
            "model": model,
            "strategy": strategy,
            f"lr_{strategy}": trial.suggest_float(f"lr_{strategy}", lo, hi, log=True),
        }
        if strategy == "finetune":
            params["unfreeze"] = trial.suggest_categorical("unfreeze", list(UNFREEZE))
        if strategy == "lora":
            params["lora_rank"] = trial.suggest_categorical("lora_rank", list(LORA_RANKS))
        if len(self.image_sizes) > 1:
            params["image_size"] = trial.suggest_categorical("image_size", self.image_sizes)
        return params

    def overrides(self, params: dict[str, Any]) -> dict[str, Any]:
        """The transfer run's settings for a trial's parameters."""
        strategy = params["strategy"]
        out: dict[str, Any] = {
            "model": params["model"],
            "strategy": strategy,
            "lr": params[f"lr_{strategy}"],
            "epochs": self.max_epochs,
        }
        if params.get("unfreeze"):
            out["unfreeze"] = int(params["unfreeze"])
        if "lora_rank" in params:
            out["lora_rank"] = int(params["lora_rank"])
        size = params.get("image_size", self.image_sizes[0] if self.image_sizes else None)
        if size:
            out["image_size"] = int(size)
        return out


def image_sizes(given: list[int], device: str, native: int | None) -> list[int]:
    """The input sizes offered: ``given``, else the device's usual sizes, none above the
    model's native size (at least one)."""
    sizes = list(given) or list(SIZES["cuda" if device.startswith("cuda") else "cpu"])
    if native:
        sizes = [s for s in sizes if s <= native] or [min(native, min(sizes))]
    return sorted(dict.fromkeys(int(s) for s in sizes))
