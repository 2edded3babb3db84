"""``zeroshot``: zero-shot / few-shot prototype classification; metrics when labelled."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, summary
from transferkit.config import ZeroShotConfig

KEYS = ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_ece", "test_n")


def cmd_zeroshot(args: argparse.Namespace) -> int:
    from transferkit.runs.zeroshot import zeroshot

    res = zeroshot(config=settings_from_args(ZeroShotConfig, args))
    values = {
        "run": res.run_id,
        "classes": len(res.classes),
        "shots": res.shots,
        **{k: res.metrics[k] for k in KEYS if k in res.metrics},
        "predictions": str(res.predictions_file),
    }
    if summary(values, f"zeroshot run {res.run_id}", args.json):
        return 0
    if "test_accuracy" not in res.metrics:
        out.print(
            "The data has no labels, so nothing was evaluated; the predictions are in "
            f"{res.predictions_file}."
        )
    return 0
