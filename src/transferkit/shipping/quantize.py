"""Dynamic int8 quantisation of an exported graph, with onnxruntime's own tool.

Dynamic quantisation (``onnxruntime.quantization.quantize_dynamic``) stores the weights of
MatMul / Gemm / Conv as int8 and quantises activations on the fly, batch by batch: it needs no
calibration data, keeps the graph's inputs and outputs as they are (float pixels or int64
token ids in, float32 probabilities out), and is what onnxruntime recommends for transformer
and CPU inference. Weights are signed int8 (``QInt8``), per tensor.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from transferkit.errors import UserError


def quantize_int8(path: Path) -> None:
    """Replace the float32 graph at ``path`` with its dynamic int8 quantisation."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    out = path.with_name(path.stem + ".int8.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run shape pre-processing first, at WARNING
    try:
        quantize_dynamic(path, out, weight_type=QuantType.QInt8)
    except Exception as e:  # noqa: BLE001 - the quantiser raises many types for unusual graphs
        out.unlink(missing_ok=True)
        raise UserError(
            f"onnxruntime could not quantise this model to int8 ({type(e).__name__}: "
            f"{str(e)[:300]}). Export it without --quantize."
        ) from None
    finally:
        root.setLevel(level)
    os.replace(out, path)
