"""The export folder is written whole or not at all, and --to is checked first."""

from __future__ import annotations

import pytest

from transferkit.errors import UserError
from transferkit.shipping import folder
from transferkit.zoo.base import DataConfig


def test_a_failure_inside_leaves_nothing_and_success_replaces(tmp_path):
    to = tmp_path / "out"
    with pytest.raises(RuntimeError), folder.building(to) as tmp:
        (tmp / "model.onnx").write_bytes(b"half")
        raise RuntimeError("parity failed")
    assert list(tmp_path.iterdir()) == []
    to.mkdir()
    (to / "old.txt").write_text("old")
    with folder.building(to) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (to / "new.txt").exists()  # nothing visible until it is done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in to.iterdir()] == ["new.txt"]


def test_the_target_is_checked(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        folder.check_target(tmp_path / "file", force=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("x")
    with pytest.raises(UserError, match="not empty.*--force"):
        folder.check_target(tmp_path / "full", force=False)
    assert folder.check_target(tmp_path / "full", force=True) == tmp_path / "full"
    (tmp_path / "empty").mkdir()
    assert folder.check_target(tmp_path / "empty", force=False).is_dir()


def test_image_preprocessing_is_the_eval_transform_per_channel(tmp_path):
    grey = DataConfig(input_size=(1, 28, 28), mean=(0.2, 0.4, 0.6), std=(0.5,), crop_pct=0.9)
    p = folder.preprocessing(grey, tmp_path)
    assert p["input_size"] == [1, 28, 28] and p["mean"] == [pytest.approx(0.4)]
    assert p["std"] == [0.5] and p["crop_pct"] == 0.9 and p["small_image"] == 64
    colour = folder.preprocessing(DataConfig(mean=(0.5,), std=(0.25,)), tmp_path)
    assert colour["mean"] == [0.5] * 3 and colour["std"] == [0.25] * 3
    assert colour["interpolation"] == "bicubic"
