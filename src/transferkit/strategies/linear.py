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
from typing import Any

import numpy as np
import torch

from transferkit.features.extract import extract_features
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult
from transferkit.threads import native_threads
from transferkit.timing import stage
from transferkit.zoo.checkpoint import TransferModel
from transferkit.zoo.heads import fold_head

C_GRID = tuple(float(c) for c in np.logspace(-3, 2, 11))
# With no validation split (one label per class) nothing can choose C; scikit-learn's default
# is used, and the run records that it was not chosen.
NO_VALIDATION_C = 1.0


def _logreg(c: float, x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=2000, tol=1e-4, random_state=seed)
    with warnings.catch_warnings(), native_threads(x.size):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y)


def _log_loss(clf, x: np.ndarray, y: np.ndarray, k: int) -> float:
    p = np.full((len(x), k), 1e-12)
    p[:, clf.classes_] = np.clip(clf.predict_proba(x), 1e-12, 1.0)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def select_c(
    xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray, k: int, seed: int
) -> tuple[float, list[dict[str, float]], Any]:
    """The C with the best validation accuracy (ties: lower validation log-loss), the sweep,
    and the classifier fitted on the training examples at that C (None without a sweep).

    Without validation examples: ``NO_VALIDATION_C`` and an empty sweep.
    """
    if len(yva) == 0:
        return NO_VALIDATION_C, [], None
    rows, fitted = [], {}
    for c in C_GRID:
        clf = fitted[c] = _logreg(c, xtr, ytr, seed)
        acc = float(np.mean(clf.predict(xva) == yva)) if len(yva) else 0.0
        loss = _log_loss(clf, xva, yva, k) if len(yva) else 0.0
        rows.append({"C": c, "val_accuracy": acc, "val_loss": loss})
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    return best["C"], rows, fitted[best["C"]]


def head_temperature(logits: np.ndarray, y: np.ndarray, smoothing: float) -> float:
    """The factor t in (0, 1] that minimises the label-smoothed cross-entropy of ``t * logits``.

    A probe chosen for validation accuracy on a handful of examples can be very confident
    (large C, weights divided by small feature scales): logits in the hundreds. As the start
    of fine-tuning such a head turns the first optimizer steps' small feature changes into huge
    logit changes, and training can collapse. With label smoothing the loss fine-tuning
    minimises has a finite optimal margin, so the head is scaled down to that margin (never
    up); the predictions, and so the probe's accuracy, do not change. Without smoothing: 1.
    """
    if smoothing <= 0 or len(y) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar

    k = logits.shape[1]
    q = np.full(logits.shape, smoothing / k)
    q[np.arange(len(y)), y] += 1.0 - smoothing

    def loss(log_t: float) -> float:
        z = np.exp(log_t) * logits
        z = z - z.max(1, keepdims=True)
        return float(-np.mean(np.sum(q * (z - np.log(np.exp(z).sum(1, keepdims=True))), 1)))

    best = minimize_scalar(
        loss, bounds=(np.log(1e-4), 0.0), method="bounded", options={"xatol": 1e-3}
    )
    return float(min(1.0, np.exp(best.x))) if loss(best.x) < loss(0.0) else 1.0


@STRATEGIES.register("linear")
class Linear(Strategy):
    """Linear probe on frozen features (logistic regression, C chosen on validation).

    ``temper``: the label smoothing of a fine-tuning that starts from this probe (LP-FT); the
    features are then scaled by one common factor rather than per feature, and the head is
    scaled down to that loss's optimal margin (:func:`head_temperature`).

    In the search: the first cheap strategy for every modality (on cached features, it always
    runs, so a search out of time still has a result)."""

    search_role = "cheap"
    searched_for = ("image", "text")
    search_order = 10

    def __init__(self, refit: bool = True, temper: float | None = None) -> None:
        self.refit, self.temper = refit, temper

    def fit(self, ctx: FitContext) -> StrategyResult:
        """Features of train + validation, C chosen on validation, the head refitted on both
        (``refit``), folded into the model and, for LP-FT, tempered."""
        seed, k = ctx.config.seed, ctx.num_classes
        tr, va = ctx.splits.train, ctx.splits.val
        feats = _features(ctx, np.concatenate([tr, va]))
        ytr, yva = ctx.labels(tr), ctx.labels(va)
        xtr, xva = feats[: len(tr)], feats[len(tr) :]
        mean, scale = self._standardisation(xtr)
        c, sweep, clf = select_c((xtr - mean) / scale, ytr, (xva - mean) / scale, yva, k, seed)
        if clf is None:  # no sweep: fitted once at the default C
            clf = _logreg(c, (xtr - mean) / scale, ytr, seed)
        val_proba = np.zeros((len(va), k))
        if len(va):
            val_proba[:, clf.classes_] = clf.predict_proba((xva - mean) / scale)
        if self.refit and len(va):
            mean, scale = _standardisation(feats)
            clf = _logreg(c, (feats - mean) / scale, np.concatenate([ytr, yva]), seed)
        model, temperature = self._model(ctx, clf, mean, scale, xtr, ytr)
        info = {
            "C": c,
            "c_sweep": sweep,
            "c_rule": "validation" if sweep else "default (no validation)",
            "refit_on": "train+val" if self.refit and len(va) else "train",
        }
        if temperature is not None:
            info["head_temperature"] = temperature
        return StrategyResult(
            model, _history(sweep), info, backbone_frozen=True, val_proba=val_proba
        )

    def _standardisation(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and scale; for a head to fine-tune from (``temper``) one scale
        for every feature. Per-feature scaling divides the weights by each feature's spread,
        so directions that barely vary on the training data get huge weights, and
        fine-tuning, which moves them freely, then swings the logits wildly in its first
        steps."""
        mean, scale = _standardisation(x)
        if self.temper is not None:
            scale = np.full_like(scale, float(np.sqrt(np.mean(scale**2))))
        return mean, scale

    def _model(
        self, ctx: FitContext, clf, mean: np.ndarray, scale: np.ndarray, xtr, ytr
    ) -> tuple[TransferModel, float | None]:
        """The backbone with the classifier folded into its head (standardisation
        absorbed), scaled down by :func:`head_temperature` when tempered; and that factor."""
        k = ctx.num_classes
        model = TransferModel(ctx.backbone, k)
        w, b = fold_head(clf, mean, scale, k)
        temperature = None
        if self.temper is not None:
            present = np.zeros(k, bool)
            present[clf.classes_] = True
            logits = xtr @ w.numpy().T.astype(np.float64) + b.numpy()
            remap = -np.ones(k, np.int64)
            remap[present] = np.arange(present.sum())
            temperature = head_temperature(logits[:, present], remap[ytr], self.temper)
            w[present] *= temperature
            b[present] *= temperature
        with torch.no_grad():
            model.head.weight.copy_(w)
            model.head.bias.copy_(b)
        return model, temperature


def _features(ctx: FitContext, indices: np.ndarray) -> np.ndarray:
    """The frozen backbone's features of ``indices`` (through the feature cache)."""
    return extract_features(
        ctx.backbone,
        ctx.dataset,
        indices,
        device=ctx.device,
        cache=ctx.cache,
        batch_size=ctx.config.train.batch_size * 2,
        num_workers=ctx.config.train.num_workers,
        description="features (train+val)",
    )


def _standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (1 where a feature is constant)."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-8] = 1.0
    return mean, scale


def _history(sweep: list[dict[str, float]]) -> list[dict[str, float]]:
    """One epoch; with a sweep, the validation metrics of the chosen C."""
    if not sweep:
        return [{"epoch": 1}]
    best = max(sweep, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    return [{"epoch": 1, "val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"]}]


def probe_start(ctx: FitContext) -> tuple[TransferModel, dict[str, float | None]]:
    """LP-FT's start (Kumar et al., 2022, arXiv:2202.10054): the source backbone with a head
    from a linear probe fitted on the training split only (validation stays unseen), made
    safe to fine-tune from (see ``Linear``'s ``temper``). Returns the model and what the run
    records of the probe."""
    with stage("probe"):
        probe = Linear(refit=False, temper=ctx.config.train.label_smoothing).fit(ctx)
    return probe.model, {
        "probe_C": probe.info["C"],
        "head_temperature": probe.info.get("head_temperature"),
    }
