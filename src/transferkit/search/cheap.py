"""The second stage: the strategies that need no fine-tuning, on cached features of every kept
model - the linear probe, and for text (or CLIP) zero-shot class descriptions and few-shot
prototypes. Each is an ordinary transfer run (its test split left out: the search reads the
test split once, at the end).

When the validation split is tiny (fewer than :data:`TINY_VAL` examples per class), one
validation score is too noisy to choose by, so the linear probe is also scored by stratified
k-fold cross-validation on the whole labelled pool (train + validation) from the same cached
features, and the search chooses among these strategies by that estimate; every row keeps its
validation score and the interval of that estimate, so the report can say how noisy the choice
was.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from transferkit.data.base import Dataset
from transferkit.data.splits import Splits
from transferkit.errors import RunInterrupted, UserError
from transferkit.search.space import ModelInfo
from transferkit.threads import native_threads

TINY_VAL = 10
CV_FOLDS = 5


def val_interval(score: float, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of an accuracy ``score`` measured on ``n`` examples."""
    if n <= 0:
        return 0.0, 1.0
    z = 1.96
    centre = (score + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def tiny_validation(splits: Splits, num_classes: int) -> bool:
    return len(splits.val) < TINY_VAL * num_classes


def run_cheap(info: ModelInfo, strategy: str, size: int | None, fit_once, metric: str) -> dict:
    """One cheap strategy on one model as a transfer run; its leaderboard row (a failure is a
    row with the reason, and the search goes on)."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {
        "kind": "cheap",
        "model": info.name,
        "strategy": strategy,
        "image_size": size,
    }
    try:
        r = fit_once(model=info.name, strategy=strategy, image_size=size)
    except (KeyboardInterrupt, RunInterrupted):
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a model that cannot embed descriptions
        row.update(
            state="failed",
            reason=str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}",
            seconds=time.perf_counter() - t0,
        )
        return row
    row.update(
        state="complete",
        run=r.run_id,
        val=r.metrics.get(f"val_{metric}"),
        val_accuracy=r.metrics.get("val_accuracy"),
        n_val=r.metrics.get("val_n"),
        val_nll=r.metrics.get("val_nll"),
        seconds=time.perf_counter() - t0,
    )
    return row


def probe_cv(
    backbone: Any, dataset: Dataset, pool: np.ndarray, cache, device, seed: int
) -> dict[str, float]:
    """Stratified k-fold accuracy of a linear probe on the labelled pool (cached features),
    with the spread over folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit.features.extract import extract_features
    from transferkit.transferability.probe import probe_folds

    f = extract_features(
        backbone, dataset, pool, device=device, cache=cache, description="features (cv)"
    )
    y = dataset.labels[pool]
    accs = []
    for train, test in probe_folds(y, CV_FOLDS, seed):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        with native_threads(f[train].size):
            clf.fit(f[train], y[train])
        accs.append(float(np.mean(clf.predict(f[test]) == y[test])))
    return {"cv": float(np.mean(accs)), "cv_std": float(np.std(accs)), "cv_folds": len(accs)}
