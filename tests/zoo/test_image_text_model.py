"""The image-text model of one's own as a zoo backbone: the image tower is the backbone, the
text tower travels beside it in the state dict, and it saves, reloads and embeds texts."""

from __future__ import annotations

import pytest
import torch

from transferkit.data.base import ArrayDataset
from transferkit.strategies.zeroshot import check_zeroshot_model, logit_scale, prototypes
from transferkit.zoo import TransferModel, build_from_spec, create_backbone, load_model, save_model
from transferkit.zoo.base import check_blocks_cover
from transferkit.zoo.image_text import ImageTextBackbone


@pytest.fixture
def model(tiny_bert) -> ImageTextBackbone:
    torch.manual_seed(0)
    m = ImageTextBackbone(create_backbone("tiny-cnn"), create_backbone(f"hf:{tiny_bert}"), 16)
    return m.eval()


def test_the_backbone_is_the_image_tower_and_the_state_dict_carries_the_text_tower(model):
    check_blocks_cover(model)
    text_params = {id(p) for p in model.text_tower.parameters()}
    assert text_params and not text_params & {id(p) for p in model.parameters()}
    keys = list(model.state_dict())
    assert any(k.startswith("text_tower.encoder.") for k in keys)
    assert "text_tower.logit_scale" in keys
    model.text_in_state = False  # a training module that holds the tower saves it once
    assert not any(k.startswith("text_tower.") for k in model.state_dict())
    x = torch.rand(3, *model.data_config.input_size)
    f = model.forward_features(x)
    assert f.shape == (3, 16) and torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)


def test_saved_model_reloads_with_the_same_image_and_text_embeddings(model, tmp_path):
    with torch.no_grad():
        model.text_tower.logit_scale.fill_(42.0)
        model.text_tower.projection.weight.mul_(3.0)  # not the fresh weights a rebuild gets
    texts = ["cat photo", "dog photo", "this is text"]
    before = model.encode_text(texts, device=torch.device("cpu"))
    x = torch.rand(2, *model.data_config.input_size)
    ref = model(x)
    head = TransferModel(model, 3)  # a fine-tuned copy with its new head saves the same way
    folder = save_model(head, tmp_path / "m", ["a", "b", "c"])
    assert (folder / "tokenizer").is_dir()  # the tokenizer travels with the model
    loaded, classes = load_model(folder)
    back = loaded.backbone.eval()
    assert classes == ["a", "b", "c"] and isinstance(back, ImageTextBackbone)
    assert back.logit_scale == pytest.approx(42.0)
    assert torch.allclose(back.encode_text(texts), before, atol=1e-6)
    assert torch.allclose(back(x), ref, atol=1e-6)
    assert back.identity == model.identity
    fresh = build_from_spec(back.spec, back.data_config)
    assert isinstance(fresh, ImageTextBackbone) and fresh.spec.kwargs == back.spec.kwargs


def test_long_texts_are_truncated_and_counted_not_refused(model):
    limit = model.text_limit
    long = " ".join(["cat"] * (limit + 20))
    emb = model.encode_text(["cat", long, "dog"], device=torch.device("cpu"))
    assert emb.shape == (3, 16) and model.last_truncated == 1
    model.encode_text(["cat", "dog"], device=torch.device("cpu"))
    assert model.last_truncated == 0


def test_zero_shot_helpers_take_it_like_a_clip_model(model):
    images = ArrayDataset(
        torch.randint(0, 255, (4, 8, 8), dtype=torch.uint8).numpy(),
        torch.tensor([0, 1, 0, 1]).numpy(),
        ["cat", "dog"],
        name="toy",
    )
    check_zeroshot_model(model, images, "mine")  # no error: it embeds descriptions
    p = prototypes(model, [("cat", "cat"), ("dog", "dog")], ["{} photo"], torch.device("cpu"))
    assert p.shape == (2, 16)
    assert logit_scale(model) == pytest.approx(model.logit_scale)
