"""Ways of transferring, one file (or folder) each: ``linear``, ``finetune`` and ``scratch``,
``lora``, ``contrastive``, ``auto``; zero-shot prototypes in ``zeroshot``. Each registers itself
in :data:`STRATEGIES`, which imports every module of this package on first use, so a new
strategy is one new file."""

from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult

__all__ = ["STRATEGIES", "FitContext", "Strategy", "StrategyResult"]
