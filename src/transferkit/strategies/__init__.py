"""Ways of transferring, one file (or folder) each: ``linear``, ``finetune`` and ``scratch``,
``lora``, ``contrastive``; zero-shot prototypes in ``zeroshot``; ``linear-or-finetune``, fit's
default rule by labels per class; ``auto``, the automatic search's entry (with ``--budget``).
Each registers itself in :data:`STRATEGIES`, which imports every module of this package on
first use, and declares on its class what the search, ``explain`` and the reports need to know
about it (:class:`Strategy`), so a new strategy is one new file."""

from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult

__all__ = ["STRATEGIES", "FitContext", "Strategy", "StrategyResult"]
