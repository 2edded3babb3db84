"""The methods on tiny models: integrated gradients' completeness (Captum's convergence delta),
occlusion and Grad-CAM maps of the right shape, the refusal of the Grad-CAM family for a
transformer (naming the methods that do apply), and HTML-escaped token highlighting."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.explanation import render
from transferkit.explanation.methods import METHODS, Settings, applicable, choose, conv_layer
from transferkit.zoo import create_backbone
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.checkpoint import TransferModel


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = TransferModel(create_backbone("tiny-cnn", image_size=24), 3).eval()
    with torch.no_grad():  # as if trained: BatchNorm shifts make F non-linear along the path
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.normal_(0, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
    x = torch.randn(4, 3, 24, 24)
    return model, x


def test_integrated_gradients_are_complete(tiny):
    """sum of attributions = F(x) - F(baseline), up to Captum's reported delta, which falls
    with more steps and is small against the output difference."""
    model, x = tiny
    targets = model(x).argmax(1)
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x))).gather(1, targets[:, None]).squeeze(1)
    coarse = METHODS.get("ig")().attribute(model, x, targets, Settings(ig_steps=4))
    fine = METHODS.get("ig")().attribute(model, x, targets, Settings(ig_steps=128))
    assert fine.delta.shape == (4,)
    assert np.all(np.abs(fine.delta) < 1e-3 + 0.01 * np.abs(gap.numpy()))
    assert np.abs(fine.delta).mean() < np.abs(coarse.delta).mean() / 10
    # the delta's scale: F(x) - F(baseline), as computed here, and the share it makes
    np.testing.assert_allclose(fine.gap, gap.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        fine.relative_delta(), np.abs(fine.delta) / np.abs(gap.numpy()), rtol=1e-5
    )
    assert np.median(coarse.relative_delta()) > np.median(fine.relative_delta())
    assert all(m.shape == (24, 24) and 0 <= m.min() and m.max() <= 1 for m in fine.maps)


@pytest.mark.parametrize("name", ["occlusion", "gradcam", "gradcam++", "eigencam"])
def test_image_methods_give_one_map_per_input(tiny, name):
    model, x = tiny
    att = METHODS.get(name)().attribute(model, x, torch.tensor([0, 1, 2, 0]), Settings(window=6))
    assert len(att.maps) == 4 and att.delta is None
    assert all(m.shape == (24, 24) and np.isfinite(m).all() for m in att.maps)


def test_conv_backbones_get_gradcam_by_default(tiny):
    model, _ = tiny
    assert conv_layer(model.backbone) is model.backbone.layers[-1]
    assert choose("auto", model.backbone).name == "gradcam"
    assert {"gradcam", "ig", "occlusion"} <= set(applicable(model.backbone))


class TokenBackbone(Backbone):
    """A transformer-shaped image backbone: patches -> tokens -> a block of attention."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.num_features = 8
        self.data_config = DataConfig(input_size=(3, 16, 16))
        self.spec = BackboneSpec("toy-vit")

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch(x).flatten(2).transpose(1, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.tokenize(x)).mean(1)

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        return self._tokens(x)

    def blocks(self) -> list[nn.Module]:
        return [self.layer]


def test_gradcam_refuses_a_transformer_and_names_the_methods_that_apply():
    vit = TokenBackbone()
    assert conv_layer(vit) is None
    with pytest.raises(UserError) as e:
        choose("gradcam", vit, "the model of run r1")
    msg = str(e.value)
    assert "transformer" in msg and "Methods that apply: ig, occlusion" in msg
    assert "\n" not in msg
    assert choose("auto", vit).name == "ig"
    with pytest.raises(UserError, match="Did you mean"):
        choose("gradcamm", vit)
    model = TransferModel(vit, 2).eval()
    att = choose("occlusion", vit).attribute(
        model, torch.randn(2, 3, 16, 16), torch.tensor([0, 1]), Settings(window=4)
    )
    assert [m.shape for m in att.maps] == [(16, 16), (16, 16)]


def test_token_highlighting_escapes_html():
    evil = '<script>alert("x")</script>'
    page = render.tokens_html(
        [
            {
                "file": "<b>file</b>&",
                "predicted": "<i>cls</i>",
                "confidence": 0.9,
                "true": "t'q",
                "explained": "<i>cls</i>",
                "text": evil,
                "tokens": ["<img src=x>", "&amp;", "ok"],
                "scores": np.array([0.5, -0.2, 0.0]),
            }
        ],
        title="<title>",
    )
    assert "<script" not in page and "<img" not in page and "<b>file" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x&gt;" in page and "&amp;amp;" in page
    assert "&lt;i&gt;cls&lt;/i&gt;" in page
    tags = set(re.findall(r"<\s*([a-zA-Z0-9]+)", page))
    assert tags <= {"html", "head", "meta", "title", "style", "body", "h1", "p", "div", "span", "b"}
    assert "rgba(220, 50, 47, 1.00)" in page and "rgba(38, 139, 210, 0.40)" in page


def test_overlay_is_enlarged_and_blended():
    img = np.zeros((32, 32, 3), np.uint8)
    heat = np.zeros((32, 32), np.float32)
    heat[:8, :8] = 1
    out = render.overlay(img, heat)
    assert out.shape == (160, 160, 3)
    assert out[5, 5, 0] > out[150, 150, 0]  # hot corner is red, the rest dark blue
    assert render.png_bytes(out)[:8] == b"\x89PNG\r\n\x1a\n"


def test_transferkit_explain_is_the_workflow_after_the_methods_are_imported():
    import transferkit
    import transferkit.explanation.methods  # noqa: F401

    assert callable(transferkit.explain) and not hasattr(transferkit.explain, "methods")
    with pytest.raises(UserError, match="No run 'nope'"):
        transferkit.explain("nope")
