"""Which layers take LoRA adapters, and the peft config that adds them.

LoRA (Hu et al., 2021, arXiv:2106.09685) adds a trainable low-rank update to chosen linear
layers of a frozen model. Which layers: peft's table by model type (query and value for BERT,
as in the paper), else Linear layers named like query / value projections, else the user names
them (``--lora-targets``). The backbone records the config in its spec (``zoo/peft_adapters``),
so a saved model rebuilds with its adapters.
"""

from __future__ import annotations

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
    raise UserError(
        f"Cannot tell which layers of this {model_type or 'model'} take LoRA "
        f"adapters; name them with --lora-targets (Linear layers here: "
        f"{', '.join(sorted(names)[:12])})."
    )


def add_lora(
    backbone: Any, rank: int, alpha: float, dropout: float = 0.1, targets: list[str] | None = None
) -> dict[str, Any]:
    """Wrap a transformers backbone with LoRA adapters; returns the settings
    (rank, alpha, dropout, targets) and leaves only the adapters trainable."""
    from peft import LoraConfig

    if not hasattr(backbone, "add_adapters"):
        raise UserError(
            f"LoRA needs a transformers text encoder (minilm-l6, hf:PATH); "
            f"{backbone.name} is not one."
        )
    if backbone.has_adapters:
        raise UserError("This model already has LoRA adapters; add them once.")
    chosen = list(targets) if targets else lora_targets(backbone.model)
    backbone.add_adapters(
        LoraConfig(
            r=int(rank),
            lora_alpha=float(alpha),
            lora_dropout=float(dropout),
            target_modules=chosen,
            bias="none",
        )
    )
    return {"rank": int(rank), "alpha": float(alpha), "dropout": float(dropout), "targets": chosen}
