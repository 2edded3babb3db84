"""Image-text pretraining's pieces: the symmetric InfoNCE loss against CLIP's formula, its
group targets, retrieval recall, planted aligned pairs learned to 100% retrieval, and the
pairs readers (descriptions, manifests) with their bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from transferkit.data.base import ArrayDataset
from transferkit.errors import UserError
from transferkit.pretraining.image_text_eval import (
    class_prototypes,
    group_targets,
    recall_at,
    retrieval_metrics,
    symmetric_infonce,
    zeroshot_confusion,
)
from transferkit.pretraining.pairs import pairs_from_classes, read_descriptions, read_pairs_manifest


def test_loss_is_clips_symmetric_cross_entropy_when_every_pair_is_its_own_group():
    torch.manual_seed(0)
    img = F.normalize(torch.randn(6, 4), dim=1)
    txt = F.normalize(torch.randn(6, 4), dim=1)
    g = torch.arange(6)
    logits = 10.0 * img @ txt.t()
    clip = (F.cross_entropy(logits, g) + F.cross_entropy(logits.t(), g)) / 2
    assert symmetric_infonce(img, txt, g, g, 10.0).item() == pytest.approx(clip.item(), abs=1e-6)


def test_pairs_of_one_group_are_positives_of_each_other():
    t = group_targets(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]))
    assert torch.allclose(t, torch.tensor([[0.5, 0, 0.5], [0.5, 0, 0.5], [0, 1.0, 0]]))
    # two images of class 0 and one text of it: the loss is lowest when both match that text
    img = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0]])
    txt = torch.tensor([[1.0, 0], [0, 1.0]])
    low = symmetric_infonce(img, txt, torch.tensor([0, 0, 1]), torch.tensor([0, 1]), 10.0)
    high = symmetric_infonce(img, txt, torch.tensor([0, 1, 1]), torch.tensor([0, 1]), 10.0)
    assert low < high


def test_recall_counts_a_hit_in_the_top_k_of_the_rows_group():
    sim = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    rows, cols = torch.tensor([0, 1]), torch.tensor([0, 1, 2])
    assert recall_at(sim, rows, cols, 1) == 0.5  # row 1's best column is of group 2
    assert recall_at(sim, rows, cols, 2) == 1.0
    assert recall_at(sim, rows, cols, 5) == 1.0  # k beyond the columns: all of them


def test_infonce_on_planted_aligned_pairs_drives_retrieval_to_100_percent():
    torch.manual_seed(0)
    n = 16
    x_img, x_txt = torch.randn(n, 10), torch.randn(n, 7)  # pair i: row i of each
    f_img, f_txt = torch.nn.Linear(10, 8), torch.nn.Linear(7, 8)
    log_scale = torch.nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
    opt = torch.optim.Adam([*f_img.parameters(), *f_txt.parameters(), log_scale], lr=0.05)
    g = torch.arange(n)

    def embed():
        return F.normalize(f_img(x_img), dim=1), F.normalize(f_txt(x_txt), dim=1)

    before = retrieval_metrics(*embed(), g, g)
    for _ in range(200):
        i, t = embed()
        loss = symmetric_infonce(i, t, g, g, log_scale.clamp(max=np.log(100)).exp())
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = retrieval_metrics(*embed(), g, g)
    assert before["val_i2t_r1"] < 0.5
    assert after["val_i2t_r1"] == 1.0 and after["val_t2i_r1"] == 1.0
    assert loss.item() < 0.1


def test_zero_shot_confusion_by_nearest_class_prototype():
    texts = F.normalize(torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.0, 1.0]]), dim=1)
    protos = class_prototypes(texts, torch.tensor([0, 0, 1]), 2)
    images = torch.tensor([[1.0, 0.0], [0.1, 1.0], [0.9, 0.2]])
    acc, conf = zeroshot_confusion(images, torch.tensor([0, 1, 1]), protos)
    assert acc == pytest.approx(2 / 3) and conf.tolist() == [[1, 0], [1, 1]]


# ---------------------------------------------------------------------------------- readers
def _images(classes=("boot", "shirt", "bag")):
    rng = np.random.default_rng(0)
    y = np.arange(12) % len(classes)
    return ArrayDataset(rng.integers(0, 255, (12, 8, 8), dtype=np.uint8), y, list(classes))


def test_descriptions_json_and_yaml_pair_images_with_their_class_sentences(tmp_path):
    (tmp_path / "d.json").write_text(
        json.dumps({"boot": ["a boot.", "a high shoe."], "bag": "a bag."})
    )
    (tmp_path / "d.yaml").write_text("boot: [a boot., a high shoe.]\nbag: a bag.\n")
    a, b = (read_descriptions(tmp_path / f) for f in ("d.json", "d.yaml"))
    assert a == b == {"boot": ["a boot.", "a high shoe."], "bag": ["a bag."]}
    pairs = pairs_from_classes(_images(), a, "d.json")
    assert pairs.classes == ["boot", "bag"] and len(pairs) == 8  # shirt is held out
    assert pairs.texts[0] == ["a boot.", "a high shoe."] and pairs.labels.tolist()[:2] == [0, 1]


def test_descriptions_naming_a_class_the_data_lacks_are_refused(tmp_path):
    with pytest.raises(UserError, match=r"'sandal'.*Fix the class names"):
        pairs_from_classes(_images(), {"boot": ["a boot"], "sandal": ["a sandal"]}, "d.yaml")
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="map class names"):
        read_descriptions(tmp_path / "bad.yaml")
    (tmp_path / "empty.json").write_text(json.dumps({"boot": ["  "]}))
    with pytest.raises(UserError, match="no \\(non-empty\\) sentence"):
        read_descriptions(tmp_path / "empty.json")


def _manifest(tmp_path, rows: list[str]):
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / name)
    path = tmp_path / "pairs.csv"
    path.write_text("path,text\n" + "\n".join(rows) + "\n")
    return path


def test_manifest_skips_missing_images_and_empty_texts_and_strict_refuses(tmp_path):
    path = _manifest(tmp_path, ["a.png,a red square", "b.png,", "gone.png,a ghost", "c.png,blue"])
    pairs = read_pairs_manifest(path)
    assert len(pairs) == 2 and [t[0] for t in pairs.texts] == ["a red square", "blue"]
    assert sorted(s.reason for s in pairs.skipped) == ["empty text", "missing image"]
    assert pairs.labels is None and pairs.groups.tolist() == [0, 1]
    with pytest.raises(UserError, match=r"2 of the 4 rows.*empty text.*missing image"):
        read_pairs_manifest(path, strict=True)


def test_manifest_paths_cannot_leave_its_folder(tmp_path):
    path = _manifest(tmp_path, ["a.png,fine", "../outside.png,escape", "c.png,ok"])
    with pytest.raises(UserError, match="outside the manifest's folder"):
        read_pairs_manifest(path)


def test_a_labelled_image_manifest_without_descriptions_is_told_to_add_them(tmp_path):
    path = _manifest(tmp_path, [])
    path.write_text("path,label\na.png,red\nc.png,blue\n")
    with pytest.raises(UserError, match="no text column.*--descriptions FILE"):
        read_pairs_manifest(path)
