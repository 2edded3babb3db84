"""The space of fine-tuning recipes the search samples, and trial 0 (the library's defaults).

A trial is one transfer run: a kept source model, a trained strategy (LP-FT ``finetune``,
``lora`` for transformers, ``scratch`` as the control, ``contrastive`` on text), its
learning rate on a log scale, the strategy's own choices (finetune: how many top blocks train;
lora: the rank), and the input size where the model takes several. The parameters are sampled
define-by-run on an Optuna trial; each strategy has its own learning-rate range (so the sampler
learns one per strategy). The cheap strategies (linear, zeroshot, prototypes) are not trials:
they run on cached features before the search (:mod:`transferkit.search.cheap`).

Text is dear on a CPU (a fine-tuning trial of MiniLM on 160 newsgroup posts took 220-240 s of
a 10-minute budget), so a text space does two more things. Its trials train on texts cut to
:data:`SHORT_LENGTH` tokens in the epochs before the first rung of successive halving
(``short_epochs``) and at the model's full length after: most trials stop at that rung, and
they stop cheaply; the ones that go on are trained and compared at full length. And its early
trials (:meth:`SearchSpace.early`) are trial 0 and then the SetFit-style ``contrastive``
strategy at its default learning rate, which few-shot text often favours.

Which strategies are cheap or trained, which the search tries by default for a modality and
in which order, their ranges and choices are facts each strategy declares
(:class:`~transferkit.strategies.Strategy`); this module reads them from the registry, so a
new strategy file is searched with no edit here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transferkit.strategies import STRATEGIES

SIZES = {"cpu": (64, 96, 128), "cuda": (128, 160, 224)}
#: Tokens per text in the epochs of a text trial before the first pruning rung.
SHORT_LENGTH = 64


def _in_search_order(role: str | None = None, modality: str | None = None) -> tuple[str, ...]:
    """The searched strategies (of ``role``, for ``modality``), by their ``search_order``."""
    entries = {n: STRATEGIES.get(n) for n in STRATEGIES.list()}
    chosen = [
        n
        for n, cls in entries.items()
        if cls.search_role is not None
        and role in (None, cls.search_role)
        and (modality is None or modality in cls.searched_for)
    ]
    return tuple(sorted(chosen, key=lambda n: (entries[n].search_order, n)))


def trained_strategies() -> tuple[str, ...]:
    """The strategies a trial trains (``search_role == "trained"``), in search order."""
    return _in_search_order("trained")


def cheap_strategies() -> tuple[str, ...]:
    """The strategies run on cached features before the trials, in search order."""
    return _in_search_order("cheap")


def default_strategies(modality: str) -> tuple[str, ...]:
    """The strategies a search of ``modality`` data tries when ``--strategies`` is not given:
    those that declare the modality in ``searched_for``, in search order."""
    return _in_search_order(modality=modality)


def usable(strategy: str, model: ModelInfo) -> bool:
    """Whether ``model`` offers what ``strategy`` needs (its ``model_needs`` flag)."""
    needs = STRATEGIES.get(strategy).model_needs
    return needs is None or bool(getattr(model, needs))


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
    strategies: list[str]  # the trained ones, in search order
    image_sizes: list[int] = field(default_factory=list)
    max_epochs: int = 9
    short_length: int | None = None  # text: tokens per text in the first ``short_epochs``
    short_epochs: int = 0  # the epochs before the first rung of successive halving

    def max_length(self, epoch: int) -> int | None:
        """The most tokens per text a trial trains on in ``epoch`` (0-based): the short length
        before the first rung, None (the model's own) after it and for images."""
        return self.short_length if epoch < self.short_epochs else None

    @property
    def modality(self) -> str:
        return self.models[0].modality

    def _strategies(self) -> list[str]:
        """The trained strategies every kept model can take (LoRA needs adapters)."""
        return [s for s in self.strategies if all(usable(s, m) for m in self.models)]

    def default(self, default_model: str) -> dict[str, Any]:
        """Trial 0: the library's default recipe (LP-FT finetune of every block at the
        strategy's default learning rate) on ``default_model``, at the smallest input size."""
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

    def early(self, default_model: str) -> list[dict[str, Any]]:
        """The recipes the study runs first, in order: trial 0 (:meth:`default`), then on text
        the ``contrastive`` strategy (SetFit-style) on the same model at its default learning
        rate, when the search offers it."""
        first = [self.default(default_model)]
        if self.modality == "text" and "contrastive" in self._strategies():
            lr = STRATEGIES.get("contrastive").default_lr["text"]
            first.append({"model": default_model, "strategy": "contrastive", "lr_contrastive": lr})
        return first

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample one recipe on an Optuna trial (define-by-run); returns its parameters."""
        names = [m.name for m in self.models]
        model = trial.suggest_categorical("model", names)
        strategy = trial.suggest_categorical("strategy", self._strategies())
        params = {
            "model": model,
            "strategy": strategy,
            **STRATEGIES.get(strategy).search_options(trial, self.modality),
        }
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
            **STRATEGIES.get(strategy).search_overrides(params),
        }
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
