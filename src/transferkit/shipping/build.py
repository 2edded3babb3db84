"""Writing the export folder's model files and configs: one ONNX graph, an ensemble's members
as graphs of their own, the int8 quantisation of every graph, or TorchScript. The parity
check and the model card come after (:mod:`transferkit.runs.export`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.shipping import folder, onnx_graph
from transferkit.shipping.quantize import Int8Try, quantize_int8
from transferkit.shipping.torchscript import MODEL_FILE as TS_FILE
from transferkit.shipping.torchscript import export_torchscript
from transferkit.store import RunRecord
from transferkit.store.artifacts import atomic_write_json

ONNX_FILE = "model.onnx"
BATCH = 64


def source_of(record: RunRecord) -> dict[str, Any]:
    """Where the model came from, as config.json's ``source`` says it."""
    c = record.config
    strategy = (record.extra.get("strategy_info") or {}).get("chosen") or c.get("strategy")
    return {
        "run": record.id,
        "kind": record.kind,
        "strategy": strategy or c.get("method") or record.kind,
        "model": c.get("model"),
    }


def _graph(tmp: Path, model: nn.Module, classes: list[str], opset: int, source: dict) -> dict:
    """One graph (a single model, or an ensemble whose members read the same inputs) with its
    config.json (and tokenizer) in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    names = onnx_graph.export_onnx(model, tmp / ONNX_FILE, opset)
    return _single_config(tmp, model, names, classes, source, ONNX_FILE, opset)


def _single_config(
    tmp: Path,
    model: nn.Module,
    names: list[str],
    classes: list[str],
    source: dict[str, Any],
    model_file: str,
    opset: int | None = None,
) -> dict[str, Any]:
    """config.json of one exported graph or module (``model_file``, its input ``names``)."""
    dc = model.data_config
    return folder.write_config(
        tmp,
        modality=dc.modality,
        classes=classes,
        source=source,
        model_file=model_file,
        opset=opset,
        inputs=folder.input_specs(dc, names),
        preprocessing=folder.preprocessing(dc, tmp),
    )


def write_onnx(
    tmp: Path, model: nn.Module, classes: list[str], opset: int, source: dict[str, Any]
) -> dict[str, Any]:
    """The ONNX export in ``tmp``: one graph, or, when an ensemble's members read different
    inputs, each member in ``members/<i>/`` with its weight; returns the top config."""
    if onnx_graph.one_graph(model):
        return _graph(tmp, model, classes, opset, source)
    entries = []
    for i, (member, weight, run) in enumerate(zip(model.members, model.weights, model.runs)):
        sub = f"members/{i}"
        _graph(tmp / sub, member, classes, opset, {**source, "run": run, "kind": "fit"})
        entries.append({"folder": sub, "weight": float(weight), "run": run})
    return folder.write_config(
        tmp,
        modality=model.data_config.modality,
        classes=classes,
        source=source,
        opset=opset,
        members=entries,
    )


def quantize_folder(
    tmp: Path, config: dict[str, Any], how: Int8Try, calibration: list[Any] | None = None
) -> dict[str, Any]:
    """Every graph in ``tmp`` quantised to int8 ``how`` (static: calibrated on the raw images
    ``calibration``, prepared as each graph's own config says) and its config.json marked so;
    returns the top config."""
    for path in sorted(tmp.rglob(folder.CONFIG)):
        cfg = json.loads(path.read_text())
        if cfg.get("model_file"):
            feeds = calibration_feeds(cfg, calibration or []) if how.static else None
            quantize_int8(path.parent / cfg["model_file"], how, feeds)
        cfg["quantized"] = "int8"
        atomic_write_json(path, cfg)
    return {**config, "quantized": "int8"}


def calibration_feeds(cfg: dict[str, Any], images: list[Any]) -> list[dict[str, np.ndarray]]:
    """Raw images as the graph of ``cfg`` takes them (the runtime's preprocessing), in
    batches: the inputs static quantisation measures activation ranges on."""
    from transferkit.runtime.images import ImagePreprocessing, as_image

    prepare, name = ImagePreprocessing(cfg["preprocessing"]), cfg["inputs"][0]["name"]
    decoded = [as_image(x, i) for i, x in enumerate(images)]
    return [{name: prepare(decoded[i : i + BATCH])} for i in range(0, len(decoded), BATCH)]


def write_torchscript(
    tmp: Path, model: nn.Module, classes: list[str], source: dict[str, Any]
) -> dict[str, Any]:
    """``model.pt`` and its config in ``tmp`` (for PyTorch users; the runtime reads ONNX)."""
    if not onnx_graph.one_graph(model):
        raise UserError(
            f"Run {source['run']} is an ensemble whose members read different inputs, which "
            "one TorchScript module cannot hold. Use --format onnx (members as separate graphs)."
        )
    names = export_torchscript(model, tmp / TS_FILE)
    return _single_config(tmp, model, names, classes, source, TS_FILE)


def tensor_batches(model: nn.Module, data: Dataset, idx: np.ndarray) -> list[tuple]:
    """``data[idx]`` prepared as the run's evaluation prepares them, as the graph's positional
    inputs, in batches (what a TorchScript user feeds ``model.pt``)."""
    from transferkit.data.batches import examples

    dc = model.data_config
    names = onnx_graph.input_names(dc)
    ds, collate = examples(data, idx, dc)
    loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, collate_fn=collate)
    return [(x,) if torch.is_tensor(x) else tuple(x[n] for n in names) for x, _ in loader]
