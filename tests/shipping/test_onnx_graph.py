"""The probability graph, LoRA merging on a copy, which ensembles are one graph, and the opset
range."""

from __future__ import annotations

import pytest
import torch

from transferkit.errors import UserError
from transferkit.shipping import onnx_graph
from transferkit.strategies.lora import add_lora
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel
from transferkit.zoo.ensemble import EnsembleModel


def _model(size=16, seed=0):
    torch.manual_seed(seed)
    return TransferModel(create_backbone("tiny-cnn", image_size=size), 3).eval()


def test_the_graph_averages_member_softmaxes_with_their_weights():
    a, b = _model(seed=0), _model(seed=1)
    x = torch.randn(4, 3, 16, 16)
    g = onnx_graph.ProbabilityGraph([a, b], [0.25, 0.75], ["pixel_values"])
    with torch.no_grad():
        want = 0.25 * torch.softmax(a(x), 1) + 0.75 * torch.softmax(b(x), 1)
        torch.testing.assert_close(g(x), want)
        torch.testing.assert_close(g(x).sum(1), torch.ones(4))


def test_one_graph_only_for_members_that_read_the_same_inputs():
    same = EnsembleModel([_model(), _model(seed=1)], [0.5, 0.5], ["a", "b", "c"])
    other = EnsembleModel([_model(), _model(24)], [0.5, 0.5], ["a", "b", "c"])
    assert onnx_graph.one_graph(_model()) and onnx_graph.one_graph(same)
    assert not onnx_graph.one_graph(other)


def test_lora_is_merged_on_a_copy(tiny_bert):
    model = TransferModel(create_backbone(f"hf:{tiny_bert}"), 3).eval()
    add_lora(model.backbone, rank=4, alpha=8, dropout=0.0, targets=None)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)  # adapters that change the output
    flat = onnx_graph.merged(model)
    assert model.backbone.has_adapters  # the original keeps its adapters
    assert not hasattr(flat.backbone.model, "peft_config")
    assert not any("lora" in n for n, _ in flat.named_parameters())
    enc = onnx_graph.example_inputs(model.data_config, onnx_graph.input_names(model.data_config))
    x = dict(zip(onnx_graph.input_names(model.data_config), enc))
    with torch.no_grad():
        torch.testing.assert_close(flat(x), model(x), atol=1e-5, rtol=1e-5)


def test_the_opset_range_is_named():
    assert onnx_graph.check_opset(None) == onnx_graph.DEFAULT_OPSET
    assert onnx_graph.check_opset(13) == 13
    assert onnx_graph.runtime_max_opset() >= onnx_graph.MAX_OPSET
    for bad in (6, 99):
        with pytest.raises(UserError, match=f"opset {bad} is not supported.*between 7 and 20"):
            onnx_graph.check_opset(bad)
