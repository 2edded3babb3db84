"""Ways of transferring, one file each; importing this package registers them all."""

from transferkit.strategies import (  # noqa: F401  (registration)
    auto,
    contrastive,
    finetune,
    linear,
    lora,
)
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult

__all__ = ["STRATEGIES", "FitContext", "Strategy", "StrategyResult"]
