"""The public Python front: every workflow of :mod:`transferkit.runs`, by name.

    import transferkit
    result = transferkit.fit("builtin:fashion-mnist", model="effnet-lite0", strategy="finetune")

The CLI calls the same functions with the same settings objects. Nothing here holds logic.
"""

from transferkit.runs._fitting import make_config
from transferkit.runs.adapt import AdaptResult, adapt
from transferkit.runs.auto import AutoResult, auto
from transferkit.runs.compare import CompareResult, compare
from transferkit.runs.cv import CVResult, cross_validate
from transferkit.runs.explain import ExplainResult, explain
from transferkit.runs.export import ExportResult, export
from transferkit.runs.fit import FitResult, fit
from transferkit.runs.paired import compare_runs
from transferkit.runs.predict import load_run_model, predict
from transferkit.runs.pretrain import PretrainResult, pretrain
from transferkit.runs.rank import RankResult, rank
from transferkit.runs.similarity import SimilarityResult, similarity
from transferkit.runs.zeroshot import ZeroShotResult, zeroshot
from transferkit.store import RunStore

__all__ = [
    "AdaptResult",
    "AutoResult",
    "CVResult",
    "CompareResult",
    "ExplainResult",
    "ExportResult",
    "FitResult",
    "PretrainResult",
    "RankResult",
    "RunStore",
    "SimilarityResult",
    "ZeroShotResult",
    "adapt",
    "auto",
    "compare",
    "compare_runs",
    "cross_validate",
    "explain",
    "export",
    "fit",
    "load_run_model",
    "make_config",
    "predict",
    "pretrain",
    "rank",
    "similarity",
    "zeroshot",
]
