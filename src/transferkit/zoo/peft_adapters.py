"""Models wrapped by a ``peft`` adapter method (LoRA, IA3, ...), rebuilt from their config.

The zoo knows no strategy: a strategy (``strategies/lora``) decides to add adapters and which;
the zoo only wraps a transformers model with a peft config and records that config, as plain
JSON, in the backbone's spec, so the same architecture (adapters included) rebuilds when a
saved model is loaded - by ``predict``, or as the source of another run (``run:ID``).
"""

from __future__ import annotations

import enum
import warnings
from typing import Any

from torch import nn

from transferkit.errors import UserError


def jsonable(config: Any) -> dict[str, Any]:
    """A peft config as plain JSON values (sets sorted, enums as their values)."""

    def clean(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        if isinstance(o, (list, tuple)):
            return [clean(x) for x in o]
        return o.value if isinstance(o, enum.Enum) else o

    return clean(config.to_dict())


def wrap(model: nn.Module, config: dict[str, Any]) -> nn.Module:
    """``model`` inside peft's wrapper for ``config`` (a :func:`jsonable` dict)."""
    from peft import get_peft_config, get_peft_model

    try:
        with warnings.catch_warnings():  # transformers deprecations raised inside peft
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(model, get_peft_config(dict(config)))
    except ValueError as e:  # e.g. a target module that does not exist
        raise UserError(
            f"Could not add the adapters ({e}). Check the layers named (--lora-targets)."
        ) from None


def legacy_lora(settings: dict[str, Any]) -> dict[str, Any]:
    """The peft config of a model saved before adapters were stored as peft configs."""
    return {
        "peft_type": "LORA",
        "r": settings["rank"],
        "lora_alpha": settings["alpha"],
        "lora_dropout": settings["dropout"],
        "target_modules": settings["targets"],
        "bias": "none",
    }
