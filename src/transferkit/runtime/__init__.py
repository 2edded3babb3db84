"""Predicting with an exported model folder without PyTorch: numpy, Pillow, onnxruntime, and
``tokenizers`` for text. Nothing here imports torch, timm, transformers or another transferkit
package than ``errors`` / ``version``, so the folder runs where only these are installed.

    from transferkit.runtime import Predictor
    Predictor("exported/").predict(["a.jpg"])

``folder`` holds the format's name and version (:data:`FORMAT`, :data:`FORMAT_VERSION`) and
:func:`read_config`, which the exporter and the server share; ``Predictor`` (which loads
onnxruntime) is imported on first use.
"""

from __future__ import annotations

from typing import Any

from transferkit.runtime.folder import FORMAT, FORMAT_VERSION, read_config

__all__ = ["FORMAT", "FORMAT_VERSION", "Predictor", "read_config"]


def __getattr__(name: str) -> Any:
    if name == "Predictor":
        from transferkit.runtime.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'transferkit.runtime' has no attribute {name!r}")
