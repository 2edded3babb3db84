"""Classification metrics computed from labels and predicted probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al., 2017, arXiv:1706.04599)."""
    conf = proba.max(1)
    correct = (proba.argmax(1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def calibration_bins(y: np.ndarray, proba: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Per confidence bin: mean confidence, accuracy and count (for reliability diagrams)."""
    conf = proba.max(1)
    correct = (proba.argmax(1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out: dict[str, Any] = {"bins": bins, "confidence": [], "accuracy": [], "count": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        out["count"].append(int(m.sum()))
        out["confidence"].append(float(conf[m].mean()) if m.any() else None)
        out["accuracy"].append(float(correct[m].mean()) if m.any() else None)
    return out


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, classes: list[str], prefix: str = ""
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, NLL, ECE, top-5 (over 5 classes), per-class
    precision / recall, and the confusion matrix (rows: true, columns: predicted)."""
    k = len(classes)
    pred = proba.argmax(1)
    # from the confusion matrix, as scikit-learn's precision_recall_fscore_support with
    # zero_division=0 (property-tested against it); importing sklearn.metrics costs ~1 s of a
    # command that does not otherwise need it
    confusion = np.bincount(np.asarray(y, dtype=np.int64) * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(1), confusion.sum(0)
    p = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    r = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros(k), where=(p + r) > 0)
    present = support > 0
    out: dict[str, Any] = {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(r[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "nll": float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)))),
        "ece": expected_calibration_error(y, proba),
        "n": int(len(y)),
    }
    if k > 5:
        top5 = np.argsort(-proba, axis=1)[:, :5]
        out["top5_accuracy"] = float(np.mean((top5 == y[:, None]).any(1)))
    out["per_class"] = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "support": int(support[i])}
        for i, c in enumerate(classes)
    }
    out["confusion"] = confusion.tolist()
    return {f"{prefix}{key}": v for key, v in out.items()}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` (N, K), computed stably in the input's float type."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
