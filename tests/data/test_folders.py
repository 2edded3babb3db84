"""Image folders laid out in split folders (root/train/<class>, root/test/<class>): the
dataset's own splits, not classes named 'train' and 'test'."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from transferkit.data import load_dataset, make_splits
from transferkit.errors import UserError


def split_tree(root, counts=None, classes=("cat", "dog", "fox")):
    """``root/<split>/<class>/<i>.png`` with ``counts[split]`` images per class."""
    counts = counts or {"train": 6, "val": 2, "TEST": 3}
    rng = np.random.default_rng(0)
    for split, n in counts.items():
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (6, 6), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def test_split_folders_are_splits_not_classes(tmp_path):
    ds = load_dataset(str(split_tree(tmp_path / "ds")))
    assert ds.classes == ["cat", "dog", "fox"] and len(ds) == 3 * (6 + 2 + 3)
    assert sorted(set(ds.predefined)) == ["test", "train", "val"]
    s = make_splits(ds, seed=0)
    assert set(ds.predefined[s.test]) == {"test"} and len(s.test) == 9
    assert set(ds.predefined[s.val]) == {"val"} and len(s.val) == 6
    assert set(ds.predefined[s.train]) == {"train"} and len(s.train) == 18
    # a label budget is drawn from train + val together; the official test set is unchanged
    few = make_splits(ds, seed=0, labels_per_class=4)
    assert np.array_equal(few.test, s.test) and len(few.train) + len(few.val) == 12
    assert set(ds.predefined[np.concatenate([few.train, few.val])]) <= {"train", "val"}


@pytest.mark.parametrize(
    "names", [("train", "test"), ("Train", "Validation"), ("train", "valid", "test")]
)
def test_split_folder_names_any_case(tmp_path, names):
    ds = load_dataset(str(split_tree(tmp_path / "ds", dict.fromkeys(names, 3))))
    assert ds.classes == ["cat", "dog", "fox"]
    assert len(set(ds.predefined)) == len(names)


def test_a_class_in_one_split_only_is_named(tmp_path):
    root = split_tree(tmp_path / "ds", {"train": 4, "test": 2})
    d = root / "train" / "owl"
    d.mkdir()
    for i in range(3):
        Image.new("L", (6, 6), 9).save(d / f"{i}.png")
    with pytest.raises(UserError, match="'owl'.*train only") as e:
        load_dataset(str(root))
    assert "\n" not in str(e.value)


def test_split_folders_without_class_folders_are_refused(tmp_path):
    for split in ("train", "test"):
        (tmp_path / "ds" / split).mkdir(parents=True)
        Image.new("L", (6, 6), 9).save(tmp_path / "ds" / split / "0.png")
    with pytest.raises(UserError, match="holds no class folders"):
        load_dataset(str(tmp_path / "ds"))


def test_a_class_named_train_beside_other_classes_is_a_class(tmp_path):
    """Vehicle datasets have a class 'train': split folders only when every folder is one."""
    root = tmp_path / "vehicles"
    for c in ("bus", "train"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (6, 6), 9 + i).save(root / c / f"{i}.png")
    ds = load_dataset(str(root))
    assert ds.classes == ["bus", "train"] and ds.predefined is None


def test_text_split_column_val(tmp_path):
    rows = ["text,label,split"] + [
        f"t{i},{'ab'[i % 2]},{['train', 'valid', 'test'][i % 3]}" for i in range(30)
    ]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(str(tmp_path / "t.csv"))
    s = make_splits(ds, seed=0)
    assert set(ds.predefined[s.val]) == {"val"} and set(ds.predefined[s.test]) == {"test"}
