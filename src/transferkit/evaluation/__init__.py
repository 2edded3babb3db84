"""Metrics and batched prediction (comparisons, cross-validation and curves build on these)."""

from transferkit.evaluation.metrics import classification_metrics, expected_calibration_error
from transferkit.evaluation.predict import predict_logits, softmax

__all__ = ["classification_metrics", "expected_calibration_error", "predict_logits", "softmax"]
