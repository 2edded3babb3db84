"""Text backbones beyond the registry-wide contract test (tests/zoo/test_backbones.py):
sentence-transformers folders, offline errors, LoRA in the spec, CLIP's text tower."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from transferkit.data.batches import TextCollate
from transferkit.errors import UserError
from transferkit.zoo import TransferModel, create_backbone, list_zoo, save_model


def _batch(b, texts=("the game", "a vote in the senate today")):
    return TextCollate(b.data_config.tokenizer, b.data_config.max_length).encode(list(texts))


def test_sentence_transformers_folder_sets_pooling_normalisation_and_length(tiny_bert, tmp_path):
    st = shutil.copytree(tiny_bert, tmp_path / "st")
    (st / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    (st / "1_Pooling").mkdir()
    (st / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    (st / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16}))
    b = create_backbone(f"hf:{st}").eval()
    assert b.pooling == "cls" and b.normalize and b.data_config.max_length == 16
    x = _batch(b)
    with torch.no_grad():
        f = b(x)
        hidden = b.model(**x).last_hidden_state[:, 0]
    torch.testing.assert_close(f, torch.nn.functional.normalize(hidden, dim=-1))
    plain = create_backbone(f"hf:{tiny_bert}")
    assert plain.pooling == "mean" and not plain.normalize and plain.data_config.max_length == 64


def test_mean_pooling_ignores_padding(tiny_bert):
    b = create_backbone(f"hf:{tiny_bert}").eval()
    with torch.no_grad():
        alone = b(_batch(b, ["the game"]))
        padded = b(_batch(b, ["the game", "a much longer text about the vote in the senate"]))
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-5)


def test_hf_errors_are_user_errors(tmp_path, tiny_bert):
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set"):
        create_backbone("hf:sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(UserError, match="is a file"):
        create_backbone(f"hf:{tiny_bert / 'config.json'}")
    with pytest.raises(UserError, match="drop --weights"):
        create_backbone(f"hf:{tiny_bert}", weights="w.safetensors")
    with pytest.raises(UserError, match="names no model"):
        create_backbone("hf:")
    with pytest.raises(UserError, match="no such folder"):
        create_backbone(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(UserError, match="not a transformers model folder"):
        create_backbone(f"hf:{tmp_path}")


def test_minilm_is_listed_as_an_offline_text_model():
    rows = {r["name"]: r for r in list_zoo("minilm*")}
    row = rows["minilm-l6"]
    assert row["modality"] == "text" and row["offline"] and row["features"] == 384
    assert row["params"] == create_backbone("minilm-l6").num_parameters()


def test_lora_lives_in_the_spec_and_survives_save_and_load(tiny_bert, tmp_path):
    """The adapters' peft config travels in the spec, so a saved LoRA model reloads."""
    from transferkit.strategies.lora import add_lora

    b = create_backbone(f"hf:{tiny_bert}")
    settings = add_lora(b, rank=2, alpha=4)
    assert settings["targets"] == ["query", "value"]
    peft = b.spec.kwargs["peft"]  # plain JSON in the spec: the zoo rebuilds it, knowing no strategy
    assert (peft["peft_type"], peft["r"], peft["lora_alpha"]) == ("LORA", 2, 4)
    assert sorted(peft["target_modules"]) == ["query", "value"]
    assert not any(p.requires_grad for n, p in b.named_parameters() if "lora_" not in n)
    with torch.no_grad():
        for n, p in b.named_parameters():
            if "lora_B" in n:
                p.normal_()  # make the adapters matter
    b.invalidate_identity()
    save_model(TransferModel(b, 3), tmp_path / "m", ["a", "b", "c"])
    back = create_backbone(f"file:{tmp_path / 'm'}").eval()
    assert back.spec == b.spec and back.identity == b.identity
    with torch.no_grad():
        torch.testing.assert_close(back(_batch(back)), b.eval()(_batch(b)))
    with pytest.raises(UserError, match="already has"):
        add_lora(back, 2, 4)


def test_clip_text_tower_embeds_descriptions_in_the_image_space(tiny_clip):
    b = create_backbone(f"hf:{tiny_clip}").eval()
    assert b.data_config.modality == "image" and b.data_config.input_size == (3, 32, 32)
    t = b.encode_text(["a photo of a cat", "a photo of a dog", "x"])
    assert t.shape == (3, b.num_features)
    torch.testing.assert_close(t.norm(dim=1), torch.ones(3))
    with torch.no_grad():
        f = b(torch.randn(2, 3, 32, 32))
    assert f.shape == (2, b.num_features)
    own = {id(p) for p in b.parameters()}
    tower = list(b.text_tower.parameters())
    assert tower and not any(id(p) in own for p in tower)  # beside the backbone, not in it
    assert not any(k.startswith("text_tower") for k in b.state_dict())  # image tower only


def test_a_model_saved_with_the_old_lora_spec_still_loads(tiny_bert, tmp_path):
    """Models saved before adapters were stored as peft configs kept ``{"lora": settings}``."""
    from transferkit.strategies.lora import add_lora
    from transferkit.zoo import build_from_spec
    from transferkit.zoo.base import BackboneSpec

    b = create_backbone(f"hf:{tiny_bert}")
    settings = add_lora(b, rank=2, alpha=4)
    kwargs = {k: v for k, v in b.spec.kwargs.items() if k != "peft"}
    old = build_from_spec(BackboneSpec(b.spec.name, {**kwargs, "lora": settings}), b.data_config)
    assert old.has_adapters
    assert sorted(n for n, _ in old.named_parameters() if "lora_" in n) == sorted(
        n for n, _ in b.named_parameters() if "lora_" in n
    )
