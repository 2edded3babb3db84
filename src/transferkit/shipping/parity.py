"""The parity check: the exported folder against the run's PyTorch model on the same inputs.

The inputs are raw (decoded images, texts: a seeded sample of the run's test split), fed to
the exported folder through :class:`transferkit.runtime.Predictor`, so the runtime's own
preprocessing (resize, crop, normalisation; tokenisation) is checked with the graph; the
PyTorch side is the run's model through transferkit's evaluation path. Written to
``parity.json``; an export that fails it is refused and leaves no folder.

Tolerances, on class probabilities:

- float32: :data:`FP32_TOLERANCE`. onnxruntime and PyTorch compute the same float32 graph
  with different kernels (other summation orders, fused ops), which moves probabilities by
  about 1e-6 on small networks and up to 1e-5 on deep ones; the runtime resizes images with
  Pillow where evaluation resizes small images as tensors, which PIL matches to at most two
  grey levels on about one pixel in 10^4 (bicubic; bilinear is exact). 1e-3 is two orders of
  magnitude above the kernels' noise, and an order below what a real preprocessing mistake
  (a wrong mean, a crop, swapped channels) does: 0.05 and more on most examples.
- int8: :data:`INT8_TOLERANCE` on the *mean* |p_int8 - p_torch|. Quantisation rounds
  every weight to one of 255 levels per channel and the activations batch by batch; on an
  example near a decision boundary a probability can move by 0.2-0.4 while the model is
  fine (MiniLM on 20 Newsgroups: max 0.17-0.37, mean 0.004-0.008, accuracy unchanged or
  -0.4 points), so the maximum cannot judge it. A graph that quantisation broke moves the
  mean by 0.02-0.15 (EfficientNet-Lite0 with dynamic int8 convolutions: accuracy 80% -> 13%;
  static int8 with its pooled features rounded too: 0.07, 72% -> 54%). 0.01
  lies between the two; the argmax agreement, the maximum and the accuracy change on the
  labelled sample are recorded beside it for the user to judge.
- agreement: the argmax must agree on at least :data:`MIN_AGREEMENT` of the inputs (float32):
  on 256 inputs, every one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import UserError
from transferkit.store.artifacts import atomic_write_json

FILE = "parity.json"
FP32_TOLERANCE = 1e-3
INT8_TOLERANCE = 0.01
MIN_AGREEMENT = 0.999
CHUNK = 64
WHY = {
    "fp32": "float32 kernels of onnxruntime and PyTorch differ by ~1e-6..1e-5; Pillow and the "
    "tensor resize of small images differ by at most 2 grey levels on ~1e-4 of pixels; a real "
    "preprocessing mistake moves probabilities by 0.05 and more",
    "int8": "on the mean |dp|: int8 quantisation that works moves probabilities by ~0.005 on "
    "average (more near decision boundaries, so not on the max); a graph it broke moves them "
    "by 0.02-0.15. The accuracy change on the labelled sample is recorded for the user",
}


def sample(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A seeded sample of ``n`` positions among ``n_total`` (all of them when ``n`` is not
    smaller), in increasing order."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def exported_probabilities(folder: Path, inputs: list[Any]) -> np.ndarray:
    """The probabilities the exported ``folder`` gives for raw ``inputs`` through the
    torch-free runtime, in chunks."""
    from transferkit.runtime import Predictor

    predictor = Predictor(folder)
    parts = [
        np.asarray(predictor.predict_proba(inputs[i : i + CHUNK]), np.float64)
        for i in range(0, len(inputs), CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(predictor.classes)))


def compare(
    reference: np.ndarray,
    exported: np.ndarray,
    labels: np.ndarray | None,
    *,
    precision: str = "fp32",
    tolerance: float | None = None,
) -> dict[str, Any]:
    """The numbers of one comparison: max and mean |p_export - p_torch|, argmax agreement,
    the tolerance and why, whether it passed, and (with ``labels``) both accuracies."""
    ref, exp = np.asarray(reference, np.float64), np.asarray(exported, np.float64)
    if ref.shape != exp.shape:
        raise UserError(
            f"The exported model gives probabilities of shape {exp.shape}, the run's model "
            f"{ref.shape}; the export is broken. Export the run again."
        )
    diff = np.abs(ref - exp)
    tol = tolerance if tolerance is not None else _default_tolerance(precision)
    agree = float((ref.argmax(1) == exp.argmax(1)).mean()) if len(ref) else 1.0
    out: dict[str, Any] = {
        "precision": precision,
        "n": int(len(ref)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "argmax_agreement": agree,
        "tolerance": float(tol),
        "tolerance_why": WHY.get(precision, ""),
        "min_agreement": MIN_AGREEMENT if precision == "fp32" else None,
    }
    out["tolerance_on"] = "mean_abs_diff" if precision == "int8" else "max_abs_diff"
    out["passed"] = bool(
        np.isfinite(exp).all()
        and out[out["tolerance_on"]] <= tol
        and (precision != "fp32" or agree >= MIN_AGREEMENT)
    )
    if labels is not None and len(labels):
        y = np.asarray(labels)
        out["accuracy_torch"] = float((ref.argmax(1) == y).mean())
        out["accuracy_export"] = float((exp.argmax(1) == y).mean())
    return out


def _default_tolerance(precision: str) -> float:
    return INT8_TOLERANCE if precision == "int8" else FP32_TOLERANCE


def accuracy_change(fp32: dict[str, Any], int8: dict[str, Any]) -> dict[str, Any]:
    """The int8 graph's accuracy against the float32 graph's on the same labelled inputs, in
    points (empty without labels)."""
    if "accuracy_export" not in fp32 or "accuracy_export" not in int8:
        return {}
    a, b = fp32["accuracy_export"], int8["accuracy_export"]
    return {"accuracy_fp32": a, "accuracy_int8": b, "accuracy_change_points": 100 * (b - a)}


def check(result: dict[str, Any], run_id: str) -> None:
    """Refuse (UserError) a comparison that did not pass, naming the numbers."""
    if result["passed"]:
        return
    what, on = result["precision"], result.get("tolerance_on", "max_abs_diff")
    agree = f", argmax agreement {100 * result['argmax_agreement']:.2f}%" + (
        f" (needs {100 * MIN_AGREEMENT:.1f}%)" if what == "fp32" else ""
    )
    raise UserError(
        f"The exported {what} model does not match run {run_id} on {result['n']} test inputs: "
        f"{on.split('_')[0]} |p_export - p_torch| = {result[on]:.3g} (tolerance "
        f"{result['tolerance']:.3g}){agree}. Nothing was written. "
        + (
            "int8 quantisation changes this model's predictions too much (tried: "
            + "; ".join(t["operators"] for t in result.get("tries", []))
            + "). Export it without --quantize: the float32 graph."
            if what == "int8"
            else "This is a bug in the exporter or the runtime for this model: please report "
            "it with the run's `transferkit runs show`; meanwhile use `--format torchscript` "
            "or `transferkit predict --run`."
        )
    )


def write(folder: Path, inputs: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """``folder/parity.json``: where the inputs came from, and each comparison."""
    body = {"inputs": inputs, **results}
    atomic_write_json(Path(folder) / FILE, body)
    return body
