"""Every registered backbone and a few prefixed ones (text encoders and CLIP through ``hf:``
included, on tiny random models saved to local folders) through the public
:func:`transferkit.testing.check_backbone`: forward, backward, blocks, identity,
build_from_spec, save/load round trip through ``file:``. Tiny inputs keep it fast on CPU."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from transferkit.testing import check_backbone  # noqa: E402
from transferkit.zoo import BACKBONES, TransferModel, create_backbone, save_model  # noqa: E402

CASES = [
    *BACKBONES,
    "timm:test_resnet",
    "torchvision:mobilenet_v3_small",
    "file:saved",
    "hf:tiny-bert",
    "hf:tiny-clip",
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, dict]:
    """How to create each case that needs more than its name: local weight files for the
    prefixed cases (no hub), and one saved transferkit model."""
    import timm
    import torchvision
    from textkit import make_tiny_bert, make_tiny_clip

    d = tmp_path_factory.mktemp("sources")
    torch.manual_seed(123)
    timm_file = d / "test_resnet.safetensors"
    full = timm.create_model("test_resnet", pretrained=False)  # with classifier, like hub files
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(timm_file))
    tv_file = d / "mobilenet_v3_small.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tv_file)
    saved = d / "saved"
    save_model(TransferModel(create_backbone("tiny-cnn"), 3), saved, ["a", "b", "c"])
    return {
        "hf:tiny-bert": {"name": f"hf:{make_tiny_bert(d / 'tiny-bert')}"},
        "hf:tiny-clip": {"name": f"hf:{make_tiny_clip(d / 'tiny-clip')}"},
        "timm:test_resnet": {"name": "timm:test_resnet", "weights": str(timm_file)},
        "torchvision:mobilenet_v3_small": {
            "name": "torchvision:mobilenet_v3_small",
            "weights": str(tv_file),
        },
        "file:saved": {"name": f"file:{saved}"},
        # an architecture without published weights: built fresh (seeded by the check)
        "cnn-small": {"name": "cnn-small", "pretrained": False},
    }


@pytest.mark.parametrize("case", CASES)
def test_backbone_honours_the_contract(sources, case):
    options = dict(sources.get(case, {"name": case}))
    check_backbone(options.pop("name"), **options)
