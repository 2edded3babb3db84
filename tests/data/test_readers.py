"""Image folders and CSV/JSONL manifests: FileDataset, lazy decoding, skipping, strict mode."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from transferkit.data import FileDataset, load_dataset
from transferkit.data.readers import to_array
from transferkit.errors import UserError


def png(path, value=128, size=(6, 5), mode="L"):
    """Write a small uniform image (any PIL mode) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode in ("L", "1", "P") else (value,) * len(mode)
    Image.new(mode, size, color).save(path)
    return path


def truncated_jpeg(path):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def one_paragraph(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and len(msg) > 40
    return msg


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    for c in ("cat", "ant"):
        for k in range(3):
            png(root / c / f"{k}.png", value=40 * k)
    png(root / "ant" / "deep" / "nested.png", mode="RGB")
    (root / "cat" / "bad.png").write_bytes(b"not really a png")
    truncated_jpeg(root / "ant" / "cut.jpg")
    (root / "cat" / "notes.txt").write_text("hello")
    (root / "cat" / ".DS_Store").write_bytes(b"\0")
    png(root / "loose.png")
    return root


def test_image_folder_scan_skips_and_counts(folder):
    ds = load_dataset(str(folder))
    assert isinstance(ds, FileDataset)
    assert ds.classes == ["ant", "cat"]
    assert len(ds) == 7 and ds.class_counts() == {"ant": 4, "cat": 3}
    reasons = sorted(s.reason.split(" (")[0] for s in ds.skipped)
    assert reasons == [
        "not an image",
        "not in a class folder",
        "unreadable image",
        "unreadable image",
    ]
    assert {os.path.basename(s.item) for s in ds.skipped} == {
        "notes.txt",
        "loose.png",
        "bad.png",
        "cut.jpg",
    }
    i = next(i for i in range(len(ds)) if ds.item_name(i).endswith("nested.png"))
    assert ds.load(i).shape == (5, 6, 3) and ds.labels[i] == 0
    grey = ds.load(0)
    assert grey.dtype == np.uint8 and grey.shape == (5, 6)
    assert ds.fingerprint and ds.hflip_safe and ds.predefined is None


def test_image_folder_strict_names_bad_file(folder):
    with pytest.raises(UserError) as e:
        load_dataset(str(folder), strict=True)
    assert "cut.jpg" in one_paragraph(e) or "bad.png" in str(e.value)


def test_unlabelled_folder(tmp_path):
    for k in range(3):
        png(tmp_path / f"{k}.jpg", mode="RGB")
    (tmp_path / "readme.md").write_text("x")
    ds = load_dataset(str(tmp_path))
    assert ds.labels is None and ds.classes == [] and len(ds) == 3
    assert [s.reason for s in ds.skipped] == ["not an image"]


@pytest.mark.parametrize(
    "setup, words",
    [
        (lambda r: None, "empty"),
        (lambda r: (r / "a.txt").write_text("x"), "No images found"),
        (
            lambda r: [
                png(r / "a" / "1.png"),
                png(r / "a" / "2.png"),
                (r / "b").mkdir(),
                (r / "b" / "x.png").write_bytes(b"x"),
            ],
            "'b'",
        ),
        (lambda r: [png(r / "a" / "1.png"), png(r / "a" / "2.png")], "single class"),
        (lambda r: [png(r / "a" / "1.png"), png(r / "a" / "2.png"), png(r / "b" / "1.png")], "'b'"),
    ],
    ids=["empty", "no-images", "empty-class", "one-class", "single-example"],
)
def test_bad_folders(tmp_path, setup, words):
    root = tmp_path / "d"
    root.mkdir()
    setup(root)
    with pytest.raises(UserError) as e:
        load_dataset(str(root))
    assert words in one_paragraph(e)


def test_single_example_message_says_why(tmp_path):
    for name in ("a/1.png", "a/2.png", "b/1.png"):
        png(tmp_path / name)
    with pytest.raises(UserError, match="train and validation"):
        load_dataset(str(tmp_path))
    assert len(load_dataset(str(tmp_path), validate=False)) == 3


def test_to_array_modes():
    rgba = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert to_array(rgba).shape == (2, 2, 3) and to_array(rgba).min() == 255  # on white
    assert to_array(Image.new("LA", (2, 2), (10, 255))).tolist() == [[10, 10], [10, 10]]
    assert to_array(Image.new("P", (3, 2))).shape == (2, 3, 3)
    assert to_array(Image.new("1", (2, 2), 1)).max() == 255
    assert to_array(Image.new("I;16", (2, 2), 65535)).max() == 255
    assert to_array(Image.new("CMYK", (2, 2))).shape == (2, 2, 3)


def test_load_after_file_removed_is_user_error(tmp_path):
    for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png"):
        png(tmp_path / name)
    ds = load_dataset(str(tmp_path))
    os.remove(ds.item_name(0))
    with pytest.raises(UserError, match="changed or removed"):
        ds.load(0)


# ---------------------------------------------------------------------------- manifests
@pytest.fixture
def images(tmp_path):
    for k in range(4):
        png(tmp_path / "img" / f"{k}.png", value=50 * k)
    return tmp_path


def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return str(path)


def test_csv_default_columns_and_numeric_class_order(images):
    rows = "\n".join(f"img/{k}.png,{lab}" for k, lab in enumerate([10, 2, 10, 2]))
    ds = load_dataset(write(images / "m.csv", "image,class\n" + rows + "\n"))
    assert ds.classes == ["2", "10"] and ds.labels.tolist() == [1, 0, 1, 0]
    assert ds.item_name(1) == str(images / "img" / "1.png") and ds.name == "m"


def test_csv_custom_columns_semicolons_bom(images):
    text = "\ufefffile_name;Kind;x\n" + "".join(f"img/{k}.png;{'ab'[k % 2]};0\n" for k in range(4))
    ds = load_dataset(write(images / "m.csv", text), path_column="FILE_NAME", label_column="kind")
    assert ds.classes == ["a", "b"] and len(ds) == 4


def test_jsonl_manifest(images):
    lines = "".join(f'{{"path": "img/{k}.png", "label": {k % 2}}}\n' for k in range(4))
    ds = load_dataset(write(images / "m.jsonl", lines))
    assert ds.classes == ["0", "1"] and ds.labels.tolist() == [0, 1, 0, 1]


def test_csv_missing_files_skipped_or_strict(images):
    text = (
        "path,label\n"
        + "".join(f"img/{k}.png,{k % 2}\n" for k in range(4))
        + "img/gone.png,0\n,1\n"
    )
    csv = write(images / "m.csv", text)
    ds = load_dataset(csv)
    assert len(ds) == 4 and sorted(s.reason for s in ds.skipped) == [
        "empty path",
        "missing file",
    ]
    with pytest.raises(UserError, match="empty path|do not exist"):
        load_dataset(csv, strict=True)
    with pytest.raises(UserError, match="do not exist"):
        load_dataset(write(images / "n.csv", "path,label\nimg/x.png,0\nimg/y.png,1\n"))


def test_csv_paths_cannot_escape_root(images):
    sub = images / "sub"
    sub.mkdir()
    outside = "path,label\n" + "".join(f"../img/{k}.png,{k % 2}\n" for k in range(4))
    with pytest.raises(UserError) as e:
        load_dataset(write(sub / "m.csv", outside))
    assert "allow" in one_paragraph(e) and "outside" in str(e.value)
    absolute = "path,label\n" + "".join(f"{images}/img/{k}.png,{k % 2}\n" for k in range(4))
    with pytest.raises(UserError, match="outside"):
        load_dataset(write(sub / "a.csv", absolute))
    assert len(load_dataset(str(sub / "m.csv"), allow_outside_root=True)) == 4
    inside = "path,label\n" + "".join(f"{images}/img/{k}.png,{k % 2}\n" for k in range(4))
    assert len(load_dataset(write(images / "abs.csv", inside))) == 4  # absolute but inside


@pytest.mark.parametrize(
    "text, encoding, words",
    [
        ("path,kind\nimg/0.png,a\n", "utf-8", "'path', 'kind'"),
        ("where,label\nimg/0.png,a\n", "utf-8", "path column"),
        ("", "utf-8", "no rows"),
        ("path,label\nimg/0.png,caf\u00e9\n", "latin-1", "UTF-8"),
    ],
    ids=["no-label-column", "no-path-column", "empty", "latin1"],
)
def test_bad_manifests(images, text, encoding, words):
    with pytest.raises(UserError) as e:
        load_dataset(write(images / "m.csv", text, encoding))
    assert words in one_paragraph(e)


def test_named_column_missing(images):
    with pytest.raises(UserError, match="'target2'.*'path', 'label'"):
        load_dataset(write(images / "m.csv", "path,label\nimg/0.png,a\n"), label_column="target2")


@pytest.mark.parametrize("quiet", ["1", "0"])
def test_progress_bar_path(tmp_path, monkeypatch, quiet, capsys):
    from transferkit.data import readers

    monkeypatch.setattr(readers, "PROGRESS_MIN", 2)
    monkeypatch.setenv("TRANSFERKIT_QUIET", quiet)
    for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png"):
        png(tmp_path / name)
    assert len(load_dataset(str(tmp_path))) == 4
    assert capsys.readouterr().out == ""  # progress never goes to stdout


def test_csv_rows_with_an_empty_label_are_counted_listed_or_strict(images, capsys, monkeypatch):
    """Rows with a path and no label are not dropped silently: each is listed with its line,
    a status line says how many were skipped, and --strict refuses the first one."""
    monkeypatch.setenv("TRANSFERKIT_QUIET", "0")
    text = "path,label\n" + "".join(f"img/{k}.png,{k % 2}\n" for k in range(4))
    text += "img/0.png,\nimg/1.png,   \n"
    csv = write(images / "m.csv", text)
    ds = load_dataset(csv)
    assert len(ds) == 4
    assert [(s.item, s.reason) for s in ds.skipped] == [
        ("m.csv:6", "empty label"),
        ("m.csv:7", "empty label"),
    ]
    assert "skipped 2 inputs: 2 empty label (e.g. m.csv:6)" in capsys.readouterr().err
    with pytest.raises(UserError, match="Line 6 of .*empty label"):
        load_dataset(csv, strict=True)
