"""LoRA adapters for transformers backbones through the ``peft`` library.

LoRA (Hu et al., 2021, arXiv:2106.09685) adds a trainable low-rank update to chosen linear
layers of a frozen model. Which layers: peft's table by model type (query and value for BERT,
as in the paper), else Linear layers named like query / value projections, else the user names
them. The settings are stored in the backbone's spec, so :func:`apply_lora` rebuilds the same
architecture (adapters included) when a saved model is loaded.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from transferkit.errors import UserError


def lora_targets(model: nn.Module) -> list[str]:
    """The attention projections LoRA adapts (Hu et al., 2021: query and value).

    peft's table by model type first (bert: query/value, distilbert: q_lin/v_lin, ...); for
    other models, the names of Linear layers that look like query and value projections.
    """
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as known

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in known:
        return list(known[model_type])
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for pair in (("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"), ("q", "v")):
        if set(pair) <= names:
            return list(pair)
    raise UserError(f"Cannot tell which layers of this {model_type or 'model'} take LoRA "
                    f"adapters; name them with --lora-targets (Linear layers here: "
                    f"{', '.join(sorted(names)[:12])}).")


def apply_lora(model: nn.Module, settings: dict[str, Any]) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=settings["rank"], lora_alpha=settings["alpha"],
                        lora_dropout=settings["dropout"], target_modules=settings["targets"],
                        bias="none")
    try:
        with warnings.catch_warnings():  # transformers deprecations raised inside peft
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(model, config)
    except ValueError as e:  # e.g. a target module that does not exist
        raise UserError(f"Could not add LoRA adapters ({e}). Check --lora-targets.") from None
