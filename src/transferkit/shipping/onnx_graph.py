"""A saved transferkit model as one ONNX graph from its raw model inputs to class probabilities.

The graph's input is what the runtime can make without PyTorch: normalised pixels
(``pixel_values``, (batch, C, H, W) float32) for images, or the tokenizer's ids
(``input_ids``, ``attention_mask`` and ``token_type_ids`` when the tokenizer gives them,
(batch, sequence) int64) for text. Its output ``probabilities`` is the softmax, so pooling and
normalisation of text encoders sit inside the graph. An ensemble whose members read the same
inputs (same image preprocessing, or the same tokenizer and length) becomes one graph that
averages its members' softmaxes with their weights; other ensembles are exported member by
member (:func:`one_graph` says which).

LoRA adapters are merged into the base weights (PEFT's ``merge_and_unload``) on a copy of the
model: the graph is a plain transformer, as fast as the base, and the run's model is untouched.

The exporter is ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based one: in torch
2.14 it is still there (``dynamo=True`` is only the default), it traces these models (timm
CNNs, transformers encoders) in under a second where the dynamo exporter takes several, and it
takes ``dynamic_axes`` for the batch (and sequence) axes, which the dynamo exporter refuses
for transformers models (it asks for ``dynamic_shapes`` per input).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.zoo.base import DataConfig
from transferkit.zoo.checkpoint import TransferModel
from transferkit.zoo.ensemble import EnsembleModel

OUTPUT = "probabilities"
PIXELS = "pixel_values"
#: The opsets the TorchScript-based exporter writes (torch.onnx's own bounds).
MIN_OPSET, MAX_OPSET = 7, 20
DEFAULT_OPSET = 18
TRACE_TEXTS = ("an example text", "a longer example text, traced with padding on the first")


class ProbabilityGraph(nn.Module):
    """``sum_i w_i softmax(member_i(x))`` over members that read the same inputs; one member
    of weight 1 is a single model. ``names`` are the input names, in the graph's order."""

    def __init__(self, members: list[nn.Module], weights: list[float], names: list[str]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.weights = [float(w) for w in weights]
        self.names = list(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = inputs[0] if self.names == [PIXELS] else dict(zip(self.names, inputs))
        parts = [w * torch.softmax(m(x).float(), dim=1) for w, m in zip(self.weights, self.members)]
        return parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)


def merged(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every LoRA (peft) adapter merged into its base
    weights; the model itself is left as it is."""
    out = copy.deepcopy(model).eval()
    for m in out.modules():
        wrapped = getattr(getattr(m, "backbone", None), "model", None)
        if wrapped is not None and hasattr(wrapped, "peft_config"):
            m.backbone.model = wrapped.merge_and_unload()
    return out


def members_of(model: nn.Module) -> tuple[list[TransferModel], list[float]]:
    """The single models and their weights (one of weight 1 for a plain model)."""
    if isinstance(model, EnsembleModel):
        return list(model.members), list(model.weights)
    return [model], [1.0]


def one_graph(model: nn.Module) -> bool:
    """Whether ``model`` exports as one graph: a single model, or an ensemble whose members all
    read the same inputs (the same data config; text: the same vocabulary and length)."""
    members, _ = members_of(model)
    first = members[0].data_config
    return all(_same_inputs(first, m.data_config) for m in members[1:])


def _same_inputs(a: DataConfig, b: DataConfig) -> bool:
    da, db = a.to_dict(), b.to_dict()
    ta, tb = da.pop("tokenizer"), db.pop("tokenizer")
    return da == db and (ta == tb or _vocabulary(ta) == _vocabulary(tb))


def _vocabulary(folder: str) -> tuple:
    """What makes two tokenizers give the same ids: their class and vocabulary."""
    from transferkit.zoo.transformers_common import load_tokenizer

    tok = load_tokenizer(folder)
    return type(tok).__name__, tuple(sorted(tok.get_vocab().items()))


def input_names(data_config: DataConfig) -> list[str]:
    """The graph's input names: the pixels, or what the model's tokenizer returns."""
    if data_config.modality != "text":
        return [PIXELS]
    from transferkit.zoo.transformers_common import load_tokenizer

    names = list(load_tokenizer(data_config.tokenizer).model_input_names)
    return [n for n in ("input_ids", "token_type_ids", "attention_mask") if n in names]


def example_inputs(data_config: DataConfig, names: list[str]) -> tuple[torch.Tensor, ...]:
    """Inputs to trace with: two images of the input size, or two tokenised texts of different
    lengths (so padding and the attention mask are in the traced path)."""
    if names == [PIXELS]:
        return (torch.zeros(2, *(int(v) for v in data_config.input_size)),)
    from transferkit.data.batches import TextCollate

    enc = TextCollate(data_config.tokenizer, data_config.max_length).encode(list(TRACE_TEXTS))
    return tuple(enc[n] for n in names)


def check_opset(opset: int | None) -> int:
    """The opset to write: ``opset``, or the default; refused (naming the range) when the
    exporter cannot write it or onnxruntime cannot run it."""
    top = min(MAX_OPSET, runtime_max_opset())
    if opset is None:
        return min(DEFAULT_OPSET, top)
    if not MIN_OPSET <= int(opset) <= top:
        raise UserError(
            f"ONNX opset {opset} is not supported here: the exporter writes opsets "
            f"{MIN_OPSET} to {MAX_OPSET} and this onnxruntime runs up to {runtime_max_opset()}. "
            f"Pass --opset between {MIN_OPSET} and {top}, or leave it out for {min(DEFAULT_OPSET, top)}."
        )
    return int(opset)


def runtime_max_opset() -> int:
    """The highest opset (up to the exporter's) that this onnxruntime loads, found by loading a
    one-node model at each opset from the top down."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [value("x", TensorProto.FLOAT, [1])],
        [value("y", TensorProto.FLOAT, [1])],
    )
    for v in range(MAX_OPSET, MIN_OPSET - 1, -1):
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", v)])
        proto.ir_version = min(proto.ir_version, onnx.IR_VERSION, 8)
        try:
            ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - onnxruntime raises its own types for an unknown opset
            continue
        return v
    return MIN_OPSET - 1


def export_onnx(model: nn.Module, path: Path, opset: int) -> list[str]:
    """Write ``model`` (a TransferModel, or an ensemble that :func:`one_graph` accepts) to
    ``path`` as one graph with a dynamic batch axis (and sequence axis for text); returns its
    input names."""
    members, weights = members_of(merged(model))
    data_config = members[0].data_config
    names = input_names(data_config)
    graph = ProbabilityGraph(members, weights, names).eval()
    axes = {n: {0: "batch", 1: "sequence"} if n != PIXELS else {0: "batch"} for n in names}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python values in the graph
            torch.onnx.export(
                graph,
                example_inputs(data_config, names),
                str(path),
                input_names=names,
                output_names=[OUTPUT],
                dynamic_axes={**axes, OUTPUT: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
                external_data=False,
            )
    except (torch.onnx.errors.OnnxExporterError, RuntimeError) as e:
        raise UserError(
            f"The model could not be exported to ONNX at opset {opset} ({type(e).__name__}: "
            f"{str(e)[:300]}). A layer may need a newer opset: try --opset {MAX_OPSET}, or "
            "--format torchscript."
        ) from None
    return names
