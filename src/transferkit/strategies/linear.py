"""Feature extraction: a frozen backbone and a new regularised linear head.

Features come from the feature cache. The head is a multinomial logistic regression on
standardised features; its inverse regularisation strength C is chosen on the validation
split from a log-spaced grid, then the head is refitted on train + validation (the whole
label budget) with that C and folded into an ``nn.Linear`` (standardisation absorbed), so the
saved model is an ordinary backbone + head. The validation metrics reported for the run are
those of the train-only fit that chose C, never of the refitted head (which has seen them).
``Linear(refit=False)`` keeps the train-only head: the LP-FT start of ``finetune``, whose
early stopping then reads the validation split.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from transferkit.features.extract import extract_features
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult
from transferkit.zoo.checkpoint import TransferModel

C_GRID = tuple(float(c) for c in np.logspace(-3, 2, 11))
# With no validation split (one label per class) nothing can choose C; scikit-learn's default
# is used, and the run records that it was not chosen.
NO_VALIDATION_C = 1.0


def _logreg(c: float, x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
    clf = LogisticRegression(C=c, max_iter=2000, tol=1e-4, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y)


def _log_loss(clf: LogisticRegression, x: np.ndarray, y: np.ndarray, k: int) -> float:
    p = np.full((len(x), k), 1e-12)
    p[:, clf.classes_] = np.clip(clf.predict_proba(x), 1e-12, 1.0)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def select_c(
    xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray, k: int, seed: int
) -> tuple[float, list[dict[str, float]]]:
    """The C with the best validation accuracy (ties: lower validation log-loss).

    Without validation examples: ``NO_VALIDATION_C`` and an empty sweep.
    """
    if len(yva) == 0:
        return NO_VALIDATION_C, []
    rows = []
    for c in C_GRID:
        clf = _logreg(c, xtr, ytr, seed)
        acc = float(np.mean(clf.predict(xva) == yva)) if len(yva) else 0.0
        loss = _log_loss(clf, xva, yva, k) if len(yva) else 0.0
        rows.append({"C": c, "val_accuracy": acc, "val_loss": loss})
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    return best["C"], rows


def fold_head(
    clf: LogisticRegression, mean: np.ndarray, scale: np.ndarray, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of a Linear layer equal to ``clf`` applied to standardised input."""
    coef = np.zeros((k, mean.shape[0]))
    bias = np.full(k, -1e4)  # a class absent from training never wins
    coef_, icpt = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2 and coef_.shape[0] == 1:  # binary: one row, logit for class 1
        coef_ = np.vstack([-coef_ / 2, coef_ / 2])
        icpt = np.array([-icpt[0] / 2, icpt[0] / 2])
    coef[clf.classes_] = coef_ / scale
    bias[clf.classes_] = icpt - (coef_ / scale) @ mean
    return torch.tensor(coef, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32)


@STRATEGIES.register("linear")
class Linear(Strategy):
    """Linear probe on frozen features (logistic regression, C chosen on validation)."""

    name = "linear"

    def __init__(self, refit: bool = True) -> None:
        self.refit = refit

    def fit(self, ctx: FitContext) -> StrategyResult:
        seed = ctx.config.seed
        tr, va = ctx.splits.train, ctx.splits.val
        both = np.concatenate([tr, va])
        feats = extract_features(
            ctx.backbone, ctx.dataset, both, device=ctx.device, cache=ctx.cache,
            batch_size=ctx.config.train.batch_size * 2, num_workers=ctx.config.train.num_workers,
            description="features (train+val)",
        )
        ytr, yva = ctx.labels(tr), ctx.labels(va)
        xtr, xva = feats[: len(tr)], feats[len(tr) :]
        mean = xtr.mean(0)
        scale = xtr.std(0)
        scale[scale < 1e-8] = 1.0
        k = ctx.num_classes
        c, sweep = select_c((xtr - mean) / scale, ytr, (xva - mean) / scale, yva, k, seed)
        clf = _logreg(c, (xtr - mean) / scale, ytr, seed)
        val_proba = np.zeros((len(va), k))
        if len(va):
            val_proba[:, clf.classes_] = clf.predict_proba((xva - mean) / scale)
        if self.refit and len(va):
            mean, scale = feats.mean(0), feats.std(0)
            scale[scale < 1e-8] = 1.0
            clf = _logreg(c, (feats - mean) / scale, np.concatenate([ytr, yva]), seed)
        model = TransferModel(ctx.backbone, k)
        w, b = fold_head(clf, mean, scale, k)
        with torch.no_grad():
            model.head.weight.copy_(w)
            model.head.bias.copy_(b)
        history = [{"epoch": 1}]
        if sweep:
            best = max(sweep, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
            history = [{"epoch": 1, "val_accuracy": best["val_accuracy"],
                        "val_loss": best["val_loss"]}]
        info = {"C": c, "c_sweep": sweep, "c_rule": "validation" if sweep else "default (no validation)",
                "refit_on": "train+val" if self.refit and len(va) else "train"}
        return StrategyResult(model, history, info, backbone_frozen=True, val_proba=val_proba)
