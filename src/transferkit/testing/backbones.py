"""``check_backbone``: the backbone contract (:class:`~transferkit.zoo.Backbone`).

Strategies, adaptation and explanation see a source model only through this contract, so a
backbone that honours it works with all of them: ``forward_features`` gives (N, num_features)
and gradients reach every parameter; ``blocks()`` cover every parameter once, from the input
layer up; ``identity`` is stable and follows the weights; ``build_from_spec`` rebuilds the
architecture with seeded fresh weights; a model saved by transferkit loads back through
``file:`` with the same weights, identity and outputs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from transferkit.testing._common import expect, run_checks

SIZE = 32  # image side the checks build backbones at: small, so the checks stay fast on CPU


def inputs(backbone, n: int = 2):
    """A seeded batch of ``n`` inputs the backbone takes: images of its input size, or a
    tokenised batch of texts of different lengths for a text model."""
    if backbone.data_config.modality == "text":
        from transferkit.data.batches import TextCollate

        texts = ["a short text", "and another one, a little longer than the first"] * n
        collate = TextCollate(backbone.data_config.tokenizer, backbone.data_config.max_length)
        return collate.encode(texts[:n])
    size = backbone.data_config.input_size
    return torch.randn(n, *size, generator=torch.Generator().manual_seed(7))


def forward_backward_and_blocks(backbone) -> None:
    """Forward gives (N, num_features); a loss on the features reaches every parameter;
    ``blocks()`` cover every parameter once, at least three of them, input layer first."""
    from transferkit.zoo import check_blocks_cover

    backbone.train()
    feats = backbone(inputs(backbone))
    expect(
        tuple(feats.shape) == (2, backbone.num_features),
        f"forward gave shape {tuple(feats.shape)} for 2 inputs, not (2, num_features="
        f"{backbone.num_features})",
    )
    feats.square().mean().backward()
    no_grad = [n for n, p in backbone.named_parameters() if p.requires_grad and p.grad is None]
    expect(not no_grad, f"no gradient reaches {len(no_grad)} parameters, e.g. {no_grad[:3]}")
    check_blocks_cover(backbone)
    blocks = backbone.blocks()
    expect(len(blocks) >= 3, f"blocks() gives {len(blocks)} groups; partial unfreezing needs 3+")
    first = {id(p) for p in blocks[0].parameters()}
    expect(
        id(next(backbone.parameters())) in first,
        "blocks()[0] does not hold the first parameter: blocks must run from input to output",
    )


def check_backbone(backbone: str | Any, *, image_size: int = SIZE, **create_options: Any) -> None:
    """Check a backbone, by the name :func:`~transferkit.zoo.create_backbone` takes (a
    registered name, ``timm:...``, ``hf:PATH``, ``file:PATH``) or by its registered
    :class:`~transferkit.zoo.ZooEntry`; raise an AssertionError naming it and the failed check.
    ``create_options`` go to ``create_backbone`` (``weights=FILE``, ``pretrained=False`` for
    an architecture without published weights).

    Checks: forward and backward on a tiny batch, ``blocks()`` cover every parameter, the
    identity is the same for two builds and changes with the weights, ``build_from_spec``
    rebuilds the same architecture with fresh weights reproducibly from a seed (and different
    from the pretrained ones), and a saved model round-trips through ``file:``.

    Example, for a model of one's own registered in the zoo::

        from transferkit.testing import check_backbone

        def test_my_backbone():
            check_backbone("my-net")                  # as registered with BACKBONES
            check_backbone("timm:resnet18", weights="resnet18.safetensors")
    """
    name = backbone if isinstance(backbone, str) else backbone.name

    def make():
        from transferkit.zoo import create_backbone

        torch.manual_seed(0)  # fresh weights (pretrained=False) are seeded
        return create_backbone(name, image_size=image_size, **create_options)

    pretrained = create_options.get("pretrained", True)
    with tempfile.TemporaryDirectory(prefix="transferkit-check-") as tmp:
        run_checks(
            "backbone",
            name,
            [
                ("forward, backward and blocks", lambda: forward_backward_and_blocks(make())),
                ("identity is stable and follows the weights", lambda: _identity(make)),
                ("build_from_spec rebuilds it, seeded", lambda: _rebuilt(make(), pretrained)),
                ("a saved model loads back through file:", lambda: _round_trip(make(), tmp)),
            ],
        )


def _identity(make: Callable) -> None:
    a, b = make(), make()
    expect(a.identity == b.identity, f"two builds have identities {a.identity}, {b.identity}")
    expect(
        a.identity.startswith(a.spec.name + "@"),
        f"the identity {a.identity!r} does not start with the spec's name {a.spec.name!r}@",
    )
    with torch.no_grad():
        next(b.parameters()).add_(1.0)
    b.invalidate_identity()
    expect(b.identity != a.identity, "the identity did not change when a weight changed")


def _rebuilt(backbone, pretrained: bool) -> None:
    from transferkit.zoo import build_from_spec

    torch.manual_seed(0)
    fresh = build_from_spec(backbone.spec, backbone.data_config)
    torch.manual_seed(0)
    again = build_from_spec(backbone.spec, backbone.data_config)
    ref, new = backbone.state_dict(), fresh.state_dict()
    expect(list(new) == list(ref), "the rebuilt model has other parameter names")
    wrong = [k for k in ref if new[k].shape != ref[k].shape]
    expect(not wrong, f"the rebuilt model has other shapes for {wrong[:3]}")
    expect(fresh.spec == backbone.spec, f"the rebuilt spec is {fresh.spec}, not {backbone.spec}")
    expect(fresh.data_config == backbone.data_config, "the rebuilt data config differs")
    expect(fresh.identity == again.identity, "fresh weights from the same seed differ")
    if pretrained:
        expect(fresh.identity != backbone.identity, "fresh weights equal the pretrained ones")
    fresh.train()
    torch.manual_seed(1)
    y1 = fresh(inputs(fresh))
    torch.manual_seed(1)
    expect(torch.equal(y1, fresh(inputs(fresh))), "the same seed and input gave other outputs")


def _round_trip(backbone, tmp: str) -> None:
    from transferkit.zoo import TransferModel, create_backbone, save_model

    backbone.eval()
    model = TransferModel(backbone, 4)
    folder = Path(tmp) / "saved"
    save_model(model, folder, ["w", "x", "y", "z"])
    back = create_backbone(f"file:{folder}").eval()
    expect(back.spec == backbone.spec, f"it loads back as {back.spec}, not {backbone.spec}")
    expect(back.identity == backbone.identity, "it loads back with another identity")
    with torch.no_grad():
        expect(
            torch.equal(back(inputs(back)), backbone(inputs(backbone))),
            "it loads back with other outputs for the same input",
        )
    expect(back.source_classes == ["w", "x", "y", "z"], "the saved classes did not come back")
    expect(torch.equal(back.source_head.weight, model.head.weight), "the saved head differs")
