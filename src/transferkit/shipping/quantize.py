"""Dynamic int8 quantisation of an exported graph, with onnxruntime's own tool.

Dynamic quantisation (``onnxruntime.quantization.quantize_dynamic``) stores weights as int8,
one scale per output channel (``per_channel``), and quantises activations on the fly, batch by
batch: it needs no calibration data, and keeps the graph's inputs and outputs as they are
(float pixels or int64 token ids in, float32 probabilities out). It is what onnxruntime
recommends for transformers on CPU. Convolutional networks fare worse: one activation scale
per tensor cannot hold the spread of a depthwise convolution's outputs, and measured on
EfficientNet-Lite0 the accuracy fell from 65-80% to under 20%. So :data:`OP_SETS` are tried in
order - every supported operator, then only the matrix products (MatMul / Gemm: transformer
layers, linear heads) - and the exporter keeps the first that passes the parity check.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from transferkit.errors import UserError

#: The operator sets tried, in order (None: every operator the quantiser supports).
OP_SETS: tuple[tuple[str, ...] | None, ...] = (None, ("MatMul", "Gemm"))
FP32_COPY = ".fp32.onnx"


def describe(ops: tuple[str, ...] | None) -> str:
    return "all supported operators" if ops is None else ", ".join(ops)


def quantize_int8(path: Path, ops: tuple[str, ...] | None = None) -> None:
    """Replace the float32 graph at ``path`` with its dynamic int8 quantisation (of ``ops``
    only, when given); the float32 graph is kept beside it (:data:`FP32_COPY`) so another
    operator set can be tried, until :func:`drop_fp32_copies`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    source = path.with_name(path.stem + FP32_COPY)
    if not source.exists():
        shutil.copyfile(path, source)
    out = path.with_name(path.stem + ".int8.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run shape pre-processing first, at WARNING
    try:
        quantize_dynamic(
            source,
            out,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(ops) if ops else None,
        )
    except Exception as e:  # noqa: BLE001 - the quantiser raises many types for unusual graphs
        out.unlink(missing_ok=True)
        raise UserError(
            f"onnxruntime could not quantise this model to int8 ({type(e).__name__}: "
            f"{str(e)[:300]}). Export it without --quantize."
        ) from None
    finally:
        root.setLevel(level)
    os.replace(out, path)


def drop_fp32_copies(folder: Path) -> None:
    """Remove the float32 graphs :func:`quantize_int8` kept in ``folder``."""
    for p in Path(folder).rglob("*" + FP32_COPY):
        p.unlink()
