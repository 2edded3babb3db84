"""EnsembleModel on real tiny members: its forward is the log of the weighted average of the
members' probabilities, each member fed the input as its own preprocessing would give it; its
saved form refuses a missing member, a path out of the store, and reuse as a source model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from textkit import vocab

from transferkit.errors import UserError
from transferkit.zoo import create_backbone
from transferkit.zoo.base import DataConfig
from transferkit.zoo.checkpoint import TransferModel, load_model, read_meta, save_model
from transferkit.zoo.ensemble import EnsembleModel, adapt_image, save_ensemble


def _image_member(size: int, seed: int) -> TransferModel:
    torch.manual_seed(seed)
    return TransferModel(create_backbone("tiny-cnn", image_size=size), 3).eval()


def test_forward_is_the_log_of_the_weighted_average_of_the_members():
    a, b = _image_member(32, 0), _image_member(24, 1)
    ens = EnsembleModel([a, b], [0.25, 0.75], ["x", "y", "z"], ["ra", "rb"]).eval()
    assert ens.heaviest == 1 and ens.data_config.input_size == (3, 24, 24)
    x = torch.randn(4, 3, 24, 24)
    with torch.no_grad():
        got = torch.softmax(ens(x), dim=1)
        big = adapt_image(x, b.data_config, a.data_config)
        want = 0.25 * torch.softmax(a(big), 1) + 0.75 * torch.softmax(b(x), 1)
    assert big.shape == (4, 3, 32, 32)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(got, torch.softmax(b(x), 1), atol=1e-3)  # a counts


def test_adapt_image_renormalises_and_converts_channels():
    src = DataConfig(input_size=(3, 8, 8), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    grey = DataConfig(input_size=(1, 8, 8), mean=(0.1,), std=(0.5,))
    raw = torch.rand(2, 3, 8, 8)
    x = (raw - torch.tensor(src.mean).view(1, 3, 1, 1)) / torch.tensor(src.std).view(1, 3, 1, 1)
    assert adapt_image(x, src, src) is x
    out = adapt_image(x, src, grey)
    torch.testing.assert_close(out, (raw.mean(1, keepdim=True) - 0.1) / 0.5, atol=1e-5, rtol=0)
    zero = dataclasses.replace(src, mean=(0.0,) * 3)
    back = adapt_image(adapt_image(x, src, zero), zero, src)
    assert not torch.allclose(adapt_image(x, src, zero), x)
    torch.testing.assert_close(back, x, atol=1e-5, rtol=0)  # no resize: exact up to rounding


def test_text_members_must_share_a_tokenizer(tiny_bert, tmp_path):
    def member(seed: int) -> TransferModel:
        torch.manual_seed(seed)
        return TransferModel(create_backbone(f"hf:{tiny_bert}"), 2).eval()

    a, b = member(0), member(1)
    ens = EnsembleModel([a, b], [0.5, 0.5], ["p", "q"]).eval()
    from transferkit.data.batches import TextCollate

    enc = TextCollate(a.data_config.tokenizer, 16).encode(["cat photo", "dog text is"])
    with torch.no_grad():
        got = torch.softmax(ens(enc), 1)
        want = 0.5 * torch.softmax(a(enc), 1) + 0.5 * torch.softmax(b(enc), 1)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    from transformers import BertTokenizer

    other = tmp_path / "other-tokenizer"
    other.mkdir()
    (other / "vocab.txt").write_text("\n".join([*vocab(), "zebra"]) + "\n")  # one word more
    BertTokenizer(str(other / "vocab.txt")).save_pretrained(str(other))
    b.backbone.data_config = dataclasses.replace(b.data_config, tokenizer=str(other))
    with pytest.raises(UserError, match="different tokenizers"):
        ens(enc)


def test_saved_ensemble_loads_its_members_and_refuses_a_missing_one(tmp_path):
    runs = tmp_path / "runs"
    members = []
    for k, size in enumerate((32, 24)):
        folder = save_model(_image_member(size, k), runs / f"r{k}" / "model", ["x", "y", "z"])
        members.append({"run": f"r{k}", "weight": 0.5, "folder": folder, "label": f"m{k}"})
    folder = save_ensemble(runs / "e" / "model", members, ["x", "y", "z"])
    model, classes = load_model(folder)
    assert isinstance(model, EnsembleModel) and classes == ["x", "y", "z"]
    assert model.runs == ["r0", "r1"] and model.labels == ["m0", "m1"]
    with pytest.raises(UserError, match="holds an ensemble .* member runs"):
        read_meta(folder)  # not a source model (run:ID of an ensemble)
    (runs / "r1" / "model" / "model.json").unlink()
    with pytest.raises(UserError, match="member run r1 .* is gone"):
        load_model(folder)
    members[1]["folder"] = tmp_path.parent  # outside the store's runs folder
    save_ensemble(runs / "e" / "model", members, ["x", "y", "z"])
    with pytest.raises(UserError, match="outside the run store"):
        load_model(folder)


def test_members_on_one_frozen_backbone_compute_its_features_once():

    from transferkit.data import load_dataset
    from transferkit.evaluation.predict import member_probabilities, predict_logits

    a, other = _image_member(24, 0), _image_member(24, 1)
    with torch.no_grad():  # another backbone: fine-tuned weights
        next(other.backbone.parameters()).add_(0.1)
    b = _image_member(24, 0)  # the same backbone weights as a (a probe's fold models)
    torch.nn.init.normal_(b.head.weight)  # its own head
    ens = EnsembleModel([a, other, b], [0.5, 0.2, 0.3], ["0", "1", "2"]).eval()
    assert ens.shared_backbones() == [[0, 2], [1]]
    data = load_dataset("builtin:digits")
    idx = np.arange(12)
    cpu = torch.device("cpu")
    probas, seconds = member_probabilities(ens, data, idx, device=cpu, shard=False)
    for member, (p, alone) in zip([a, other, b], probas):
        own = torch.softmax(torch.from_numpy(predict_logits(member, data, idx, device=cpu)), 1)
        np.testing.assert_allclose(p, own.numpy(), atol=1e-5)
        assert 0 < alone <= seconds
    assert not np.allclose(probas[0][0], probas[2][0], atol=1e-3)  # the heads differ


def test_integrated_gradients_attribute_a_text_ensemble_through_every_member(tiny_bert):
    from transferkit.data.batches import TextCollate
    from transferkit.explanation.attributions import token_attributions
    from transferkit.explanation.methods import Settings

    def member(seed: int) -> TransferModel:
        torch.manual_seed(seed)
        model = TransferModel(create_backbone(f"hf:{tiny_bert}"), 2).eval()
        torch.nn.init.normal_(model.head.weight, std=2.0)  # heads that disagree
        return model

    a, b = member(0), member(1)
    ens = EnsembleModel([a, b], [0.6, 0.4], ["p", "q"]).eval()
    enc = TextCollate(a.data_config.tokenizer, 16).encode(["cat photo here", "dog text"])
    targets = torch.tensor([0, 1])
    got = token_attributions(ens, enc, targets, Settings(ig_steps=64, pad_id=0))
    lengths = enc["attention_mask"].sum(1).tolist()
    assert [len(s) for s in got.maps] == lengths  # one score per token, padding dropped
    # completeness: the scores add up to the change of the averaged prediction's score
    for s, gap in zip(got.maps, got.gap):
        assert abs(float(np.sum(s)) - float(gap)) < 0.05 * max(1.0, abs(float(gap)))
    alone = token_attributions(a, enc, targets, Settings(ig_steps=64, pad_id=0))
    assert not np.allclose(got.maps[0], alone.maps[0], atol=1e-3)  # b counts too


def test_saved_text_members_on_one_frozen_encoder_share_its_pass(tiny_bert, tmp_path):
    torch.manual_seed(0)
    encoder = create_backbone(f"hf:{tiny_bert}")
    folders = []
    for i in range(2):  # two heads on the same encoder, saved apart (each with its tokenizer)
        model = TransferModel(encoder, 2).eval()
        torch.nn.init.normal_(model.head.weight)
        folders.append(save_model(model, tmp_path / f"m{i}", ["p", "q"]))
    members = [load_model(f)[0] for f in folders]
    assert members[0].data_config.tokenizer != members[1].data_config.tokenizer
    ens = EnsembleModel(members, [0.5, 0.5], ["p", "q"]).eval()
    assert ens.shared_backbones() == [[0, 1]]
