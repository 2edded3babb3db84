"""transferkit: turn knowledge learned on a source task into performance on a target task.

    import transferkit
    result = transferkit.fit("builtin:fashion-mnist", model="effnet-lite0",
                             strategy="finetune", labels_per_class=100)
    result.metrics["test_accuracy"], result.run_id

Heavy modules (torch, timm) load on first use, so ``import transferkit`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "fit": ("transferkit.api", "fit"),
    "predict": ("transferkit.api", "predict"),
    "FitResult": ("transferkit.api", "FitResult"),
    "FitConfig": ("transferkit.config", "FitConfig"),
    "TransferClassifier": ("transferkit.sklearn", "TransferClassifier"),
    "pretrain": ("transferkit.pretrain", "pretrain"),
    "compare": ("transferkit.evaluation.compare", "compare"),
    "cross_validate": ("transferkit.evaluation.cv", "cross_validate"),
    "rank": ("transferkit.ranking", "rank"),
    "similarity": ("transferkit.domain_similarity", "similarity"),
    "RankResult": ("transferkit.ranking", "RankResult"),
    "SimilarityResult": ("transferkit.domain_similarity", "SimilarityResult"),
    "create_backbone": ("transferkit.zoo", "create_backbone"),
    "load_dataset": ("transferkit.data", "load_dataset"),
    "RunStore": ("transferkit.store", "RunStore"),
    "adapt": ("transferkit.adaptation.run", "adapt"),
    "AdaptResult": ("transferkit.adaptation.run", "AdaptResult"),
    "UserError": ("transferkit.errors", "UserError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
