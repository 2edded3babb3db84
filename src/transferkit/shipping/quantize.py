"""int8 quantisation of an exported graph, with onnxruntime's own tools.

Two ways, tried in the order of :data:`TRIES` until one passes the parity check:

- **static** (``quantize_static``, image graphs only): weights int8 per output channel, and
  every activation's scale fixed beforehand from the ranges it takes on calibration images
  (the run's own training inputs, never its test inputs), stored as QuantizeLinear /
  DequantizeLinear pairs (QDQ) that onnxruntime fuses into int8 kernels. This is what makes a
  convolutional network fast in int8 (EfficientNet-Lite was designed for it). The classifier's
  tail (global pooling, the head's matrix product, softmax: :data:`FLOAT_TAIL`) stays in
  float32: a linear probe's decision rests on small differences between pooled features, and
  rounding them to int8 moved 35% of a Fashion-MNIST probe's answers; with the tail in float,
  5%.
- **dynamic** (``quantize_dynamic``): weights int8 per channel, activations quantised on the
  fly batch by batch; no calibration data. What onnxruntime recommends for transformers on
  CPU. Convolutional networks fare badly: one activation scale per tensor per batch cannot
  hold a depthwise convolution's spread (EfficientNet-Lite0: accuracy 65-80% -> under 20%), so
  it is tried on every operator, then on the matrix products only (MatMul / Gemm: transformer
  layers, linear heads).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transferkit.errors import UserError

#: Operators left in float32 by static quantisation: the classifier's tail.
FLOAT_TAIL = frozenset({"GlobalAveragePool", "ReduceMean", "Flatten", "Gemm", "MatMul", "Softmax"})
FP32_COPY = ".fp32.onnx"


@dataclass(frozen=True)
class Int8Try:
    """One way to quantise: static (calibrated) or dynamic, on ``ops`` (None: every operator
    the quantiser supports; static: all but :data:`FLOAT_TAIL`)."""

    static: bool
    ops: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.static:
            return "static, calibrated on training images (the classifier's tail in float32)"
        return "dynamic, " + (
            "all supported operators" if self.ops is None else ", ".join(self.ops)
        )


TRIES = (Int8Try(static=True), Int8Try(static=False), Int8Try(static=False, ops=("MatMul", "Gemm")))


def quantize_int8(
    path: Path, how: Int8Try, calibration: list[dict[str, np.ndarray]] | None = None
) -> None:
    """Replace the float32 graph at ``path`` with its int8 quantisation ``how`` (static needs
    ``calibration``: the graph's input feeds, batch by batch); the float32 graph is kept
    beside it (:data:`FP32_COPY`) so another way can be tried, until :func:`drop_fp32_copies`.
    A quantiser that fails raises UserError."""
    path = Path(path)
    source = path.with_name(path.stem + FP32_COPY)
    if not source.exists():
        shutil.copyfile(path, source)
    out = path.with_name(path.stem + ".int8.onnx")
    try:
        with _quiet():
            if how.static:
                _static(source, out, calibration or [])
            else:
                _dynamic(source, out, how.ops)
    except Exception as e:  # noqa: BLE001 - the quantisers raise many types for unusual graphs
        out.unlink(missing_ok=True)
        raise UserError(
            f"onnxruntime could not quantise this model to int8 ({how.describe()}: "
            f"{type(e).__name__}: {str(e)[:300]}). Export it without --quantize."
        ) from None
    os.replace(out, path)


def _dynamic(source: Path, out: Path, ops: tuple[str, ...] | None) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        source,
        out,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=list(ops) if ops else None,
    )


def _static(source: Path, out: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ValueError("static quantisation needs calibration inputs")

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    prepared = out.with_name(out.stem + ".pre.onnx")
    try:
        quant_pre_process(source, prepared)  # shapes inferred, graph folded: better placement
        tail = [n.name for n in onnx.load(prepared).graph.node if n.op_type in FLOAT_TAIL]
        quantize_static(
            prepared,
            out,
            Feeds(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=tail,
        )
    finally:
        prepared.unlink(missing_ok=True)


@contextmanager
def _quiet() -> Iterator[None]:
    """The quantisers' advice and progress (logged at INFO / WARNING) kept off the terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def drop_fp32_copies(folder: Path) -> None:
    """Remove the float32 graphs :func:`quantize_int8` kept in ``folder``."""
    for p in Path(folder).rglob("*" + FP32_COPY):
        p.unlink()
