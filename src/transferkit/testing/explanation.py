"""``check_explanation``: the contract of an explanation method
(:mod:`transferkit.explanation.methods`).

A method explains a model's prediction of one class per input; the report draws its maps over
the inputs, so the checks ask for one finite map per input in the input's own layout ((H, W)
for an image, one score per token for a text), the same maps for the same inputs, and the
package it comes from installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from transferkit.testing._common import expect, resolve_entry, run_checks

SIZE = 24  # image side of the checks' model and inputs


def check_explanation(method: str | type, *, text_model: str | None = None) -> None:
    """Check a registered explanation method (by name or by its class); raise an
    AssertionError naming the method and the failed check.

    Image methods explain ``tiny-cnn`` with a 3-class head (BatchNorm shifts drawn so the
    model is not linear along the integration path) on four 24 px random images. A method
    that explains text is checked on ``text_model`` too (``hf:PATH`` of a text encoder) when
    it is given.

    Example::

        from transferkit.testing import check_explanation

        def test_my_method():
            check_explanation("my-cam")
            check_explanation("ig", text_model="minilm-l6")
    """
    from transferkit.explanation.methods import METHODS

    name, cls = resolve_entry(METHODS, method, "explanation method")
    checks = [("its package is installed", lambda: _installed(cls))]
    if "image" in cls.modalities:
        checks.append(("one finite map per image, the same each time", lambda: _images(cls)))
    if "text" in cls.modalities and text_model is not None:
        checks.append(
            ("one finite score per token, the same each time", lambda: _texts(cls, text_model))
        )
    run_checks("explanation method", name, checks)


def _installed(cls: type) -> None:
    expect(
        importlib.util.find_spec(cls.requires) is not None,
        f"it needs the {cls.requires!r} package (its `requires`), which is not installed",
    )


def _image_model():
    from transferkit.zoo import TransferModel, create_backbone

    torch.manual_seed(0)
    model = TransferModel(create_backbone("tiny-cnn", image_size=SIZE), 3).eval()
    with torch.no_grad():  # as if trained: BatchNorm shifts make the model non-linear
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.normal_(0, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
    return model


def _same_twice(method, model, x, targets, settings) -> list[np.ndarray]:
    """The maps of two calls, checked to be equal; the first call's maps."""
    first = method.attribute(model, x, targets, settings).maps
    again = method.attribute(model, x, targets, settings).maps
    expect(
        len(first) == len(again)
        and all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(first, again)),
        "two calls on the same model and inputs gave different maps",
    )
    return first


def _finite(maps: list[np.ndarray]) -> None:
    bad = [i for i, m in enumerate(maps) if not np.isfinite(np.asarray(m, dtype=float)).all()]
    expect(not bad, f"the maps of inputs {bad} hold NaN or infinite values")


def _images(cls: type) -> None:
    from transferkit.explanation.methods import Settings

    model = _image_model()
    x = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 1, 2, 0])
    maps = _same_twice(cls(), model, x, targets, Settings(ig_steps=8, window=6))
    expect(len(maps) == 4, f"{len(maps)} maps for 4 images")
    shapes = {tuple(np.shape(m)) for m in maps}
    expect(shapes == {(SIZE, SIZE)}, f"maps of shapes {shapes} for {SIZE} x {SIZE} images")
    _finite(maps)


def _texts(cls: type, text_model: str) -> None:
    from transferkit.data.batches import TextCollate
    from transferkit.explanation.methods import Settings
    from transferkit.zoo import TransferModel, create_backbone
    from transferkit.zoo.transformers_common import load_tokenizer

    torch.manual_seed(0)
    model = TransferModel(create_backbone(text_model), 2).eval()
    config = model.data_config
    texts = ["a short text", "and another one, a little longer than the first"]
    enc = TextCollate(config.tokenizer, config.max_length).encode(texts)
    tok = load_tokenizer(config.tokenizer)
    settings = Settings(ig_steps=8, pad_id=int(tok.pad_token_id or 0))
    settings.keep_ids = tuple(int(i) for i in tok.all_special_ids if i != tok.pad_token_id)
    maps = _same_twice(cls(), model, enc, torch.tensor([0, 1]), settings)
    tokens = enc.get("attention_mask", torch.ones_like(enc["input_ids"])).sum(1).tolist()
    lengths = [len(m) for m in maps]
    expect(lengths == tokens, f"{lengths} scores for texts of {tokens} tokens")
    _finite(maps)
