"""transferkit: turn knowledge learned on a source task into performance on a target task.

    import transferkit
    result = transferkit.fit("builtin:fashion-mnist", model="effnet-lite0",
                             strategy="finetune", labels_per_class=100)
    result.metrics["test_accuracy"], result.run_id

Heavy modules (torch, timm) load on first use, so ``import transferkit`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from transferkit.version import __version__

_LAZY = {
    **{
        name: ("transferkit.api", name)
        for name in (
            "fit",
            "predict",
            "FitResult",
            "compare",
            "cross_validate",
            "rank",
            "similarity",
            "RankResult",
            "SimilarityResult",
            "adapt",
            "AdaptResult",
            "zeroshot",
            "ZeroShotResult",
            "PretrainResult",
            "CompareResult",
            "CVResult",
            "compare_runs",
            "AutoResult",
            "ExplainResult",
        )
    },
    "auto": ("transferkit.api", "auto"),
    "explain": ("transferkit.api", "explain"),
    "export": ("transferkit.api", "export"),
    "ExportResult": ("transferkit.api", "ExportResult"),
    "pretrain": ("transferkit.api", "pretrain"),
    "FitConfig": ("transferkit.config", "FitConfig"),
    "TransferClassifier": ("transferkit.sklearn", "TransferClassifier"),
    "create_backbone": ("transferkit.zoo", "create_backbone"),
    "load_dataset": ("transferkit.data", "load_dataset"),
    "RunStore": ("transferkit.store", "RunStore"),
    "UserError": ("transferkit.errors", "UserError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
