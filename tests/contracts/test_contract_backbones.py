"""One contract test run over every registered backbone and a few prefixed ones (text
encoders and CLIP through ``hf:`` included, on tiny random models saved to local folders).

Checks: forward shape, backward, blocks cover every parameter, identity, build_from_spec keys,
save/load round trip through ``file:``, seeded determinism. Tiny inputs keep it fast on CPU.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from transferkit.zoo import (  # noqa: E402
    BACKBONES,
    TransferModel,
    build_from_spec,
    check_blocks_cover,
    create_backbone,
    save_model,
)

SIZE = 32
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
    """Local weight files for the prefixed cases (no hub), and one saved transferkit model."""
    import timm
    import torchvision

    d = tmp_path_factory.mktemp("sources")
    torch.manual_seed(123)
    timm_file = d / "test_resnet.safetensors"
    full = timm.create_model("test_resnet", pretrained=False)  # with classifier, like hub files
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(timm_file))
    tv_file = d / "mobilenet_v3_small.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tv_file)
    saved = d / "saved"
    model = TransferModel(create_backbone("tiny-cnn"), 3)
    save_model(model, saved, ["a", "b", "c"])
    from textkit import make_tiny_bert, make_tiny_clip

    return {
        "hf:tiny-bert": {"name": f"hf:{make_tiny_bert(d / 'tiny-bert')}"},
        "hf:tiny-clip": {"name": f"hf:{make_tiny_clip(d / 'tiny-clip')}"},
        "timm:test_resnet": {"name": "timm:test_resnet", "weights": str(timm_file)},
        "torchvision:mobilenet_v3_small": {
            "name": "torchvision:mobilenet_v3_small",
            "weights": str(tv_file),
        },
        "file:saved": {"name": f"file:{saved}"},
        # an architecture without published weights: built fresh (seeded in make())
        "cnn-small": {"name": "cnn-small", "pretrained": False},
    }


@pytest.fixture
def make(sources):
    def _make(case: str):
        kw = dict(sources.get(case, {"name": case}))
        if kw.get("pretrained") is False:
            torch.manual_seed(0)
        return create_backbone(kw.pop("name"), image_size=SIZE, **kw)

    return _make


def _x(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7))


def _inp(b, n: int = 2):
    """``_x`` with as many channels as the backbone takes (cnn-small: 1); for a text model,
    a tokenised batch of ``n`` texts of different lengths."""
    if b.data_config.modality == "text":
        from transferkit.data.batches import TextCollate

        texts = ["a short text", "and another one, a little longer than the first"]
        return TextCollate(b.data_config.tokenizer, b.data_config.max_length).encode(texts[:n])
    return _x(n)[:, : b.data_config.input_size[0]]


@pytest.mark.parametrize("case", CASES)
def test_forward_backward_and_blocks(make, case):
    b = make(case)
    if b.data_config.modality == "image":
        assert b.data_config.input_size[1:] == (SIZE, SIZE)
    b.train()
    feats = b(_inp(b))
    assert feats.shape == (2, b.num_features)
    feats.square().mean().backward()
    no_grad = [n for n, p in b.named_parameters() if p.grad is None]
    assert not no_grad, no_grad[:5]
    check_blocks_cover(b)
    blocks = b.blocks()
    assert len(blocks) >= 3
    first = {id(p) for p in blocks[0].parameters()}
    assert id(next(b.parameters())) in first  # the input layer comes first


@pytest.mark.parametrize("case", CASES)
def test_identity_is_stable_and_follows_weights(make, case):
    a, b = make(case), make(case)
    assert a.identity == b.identity
    assert a.identity.startswith(a.spec.name + "@")
    with torch.no_grad():
        next(b.parameters()).add_(1.0)
    b.invalidate_identity()
    assert b.identity != a.identity


@pytest.mark.parametrize("case", CASES)
def test_build_from_spec_matches_and_is_seeded(make, case):
    b = make(case)
    torch.manual_seed(0)
    fresh = build_from_spec(b.spec, b.data_config)
    torch.manual_seed(0)
    again = build_from_spec(b.spec, b.data_config)
    ref, new = b.state_dict(), fresh.state_dict()
    assert list(new) == list(ref)
    assert all(new[k].shape == ref[k].shape for k in ref)
    assert fresh.data_config == b.data_config and fresh.spec == b.spec
    assert fresh.identity == again.identity  # seeded fresh weights are reproducible
    if case not in ("file:saved", "cnn-small"):
        # file: keeps fine-tuned weights; cnn-small has no pretrained weights (both fresh,
        # same seed); everything else: fresh weights differ from pretrained
        assert fresh.identity != b.identity
    fresh.train()
    torch.manual_seed(1)
    y1 = fresh(_inp(fresh))
    torch.manual_seed(1)
    y2 = fresh(_inp(fresh))
    assert torch.equal(y1, y2)


@pytest.mark.parametrize("case", CASES)
def test_save_load_round_trip_through_file_prefix(make, case, tmp_path):
    b = make(case).eval()
    model = TransferModel(b, 4)
    save_model(model, tmp_path / "m", ["w", "x", "y", "z"])
    back = create_backbone(f"file:{tmp_path / 'm'}").eval()
    assert back.spec == b.spec  # the inner architecture, not "file:..."
    assert back.identity == b.identity
    with torch.no_grad():
        assert torch.equal(back(_inp(back)), b(_inp(b)))
    assert back.source_classes == ["w", "x", "y", "z"]
    assert torch.equal(back.source_head.weight, model.head.weight)
