"""A saved model as TorchScript (``model.pt``): the same probability graph as the ONNX export
(:class:`~transferkit.shipping.onnx_graph.ProbabilityGraph`, LoRA merged), traced with
``torch.jit.trace``. torch 2.14 marks TorchScript deprecated (it warns and points to
``torch.export``) but still loads and runs it; it is offered for PyTorch users who want one
file without transferkit. It needs PyTorch to run (``torch.jit.load``), not transferkit, timm or
transformers; the runtime refuses it and names the onnx format."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from transferkit.shipping.onnx_graph import (
    ProbabilityGraph,
    example_inputs,
    input_names,
    members_of,
    merged,
)

MODEL_FILE = "model.pt"


def export_torchscript(model: nn.Module, path: Path) -> list[str]:
    """Trace ``model`` (a single model, or an ensemble whose members share inputs) into
    ``path``; returns its input names (positional, in this order)."""
    members, weights = members_of(merged(model))
    data_config = members[0].data_config
    names = input_names(data_config)
    graph = ProbabilityGraph(members, weights, names).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python values in the graph
        traced = torch.jit.trace(graph, example_inputs(data_config, names), check_trace=False)
    traced.save(str(path))
    return names


@torch.no_grad()
def torchscript_probabilities(path: Path, batches: list[tuple[torch.Tensor, ...]]) -> np.ndarray:
    """The probabilities ``model.pt`` gives for ``batches`` of prepared inputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14: "torch.jit is deprecated"
        module = torch.jit.load(str(path), map_location="cpu").eval()
    return np.concatenate([module(*b).float().numpy() for b in batches])
