"""explain on a tiny-cnn fine-tuned on images with a planted discriminative patch: Grad-CAM
looks at the patch; the artifacts, the records and the report (rendered in headless
Chromium) hold the overlays, the gallery and what transferred."""

from __future__ import annotations

import base64
import csv
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from explainkit import in_patch, write_planted
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from chromium_cdp import Chromium, find_chromium  # noqa: E402  (the reports' Chromium driver)

import transferkit
from transferkit.errors import UserError
from transferkit.report import build_report, load_records
from transferkit.store import RunStore


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A store with a finetune run of tiny-cnn on the planted-patch images, and the run of
    Grad-CAM on the probe images (patch places known)."""
    root = tmp_path_factory.mktemp("planted")
    store = RunStore(root / "tk_home")
    train, probe, places = write_planted(root / "data")
    fit = transferkit.fit(
        str(train),
        model="tiny-cnn",
        strategy="finetune",
        epochs=6,
        image_size=32,
        augment=False,
        seed=0,
        store=store,
    )
    res = transferkit.explain(fit.run_id, str(probe), method="gradcam", store=store)
    return {
        "store": store,
        "fit": fit,
        "res": res,
        "places": places,
        "train": train,
        "probe": probe,
    }


def test_gradcam_peaks_on_the_planted_patch(planted):
    fit, res, places = planted["fit"], planted["res"], planted["places"]
    assert fit.accuracy >= 0.9
    assert [r["predicted"] for r in res.rows] == ["patch"] * len(places)
    hits = [in_patch(heat, places[Path(r["file"]).name]) for r, heat in zip(res.rows, res.maps)]
    assert sum(hits) >= 0.85 * len(hits), hits


def test_explain_writes_overlays_csv_arrays_and_records(planted):
    store, fit, res = planted["store"], planted["fit"], planted["res"]
    folder = res.artifact_dir
    with open(folder / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and set(rows[0]) >= {"file", "predicted", "confidence", "overlay"}
    assert all(Image.open(folder / r["overlay"]).size == (160, 160) for r in rows)
    with np.load(folder / "attributions.npz", allow_pickle=False) as z:
        assert z["maps"].shape == (16, 32, 32) and np.allclose(z["maps"], np.stack(res.maps))
    rec = store.get(res.run_id)
    assert (rec.kind, rec.status, rec.parent) == ("explain", "done", fit.run_id)
    assert rec.metrics["explained"] == 16
    noted = store.get(fit.run_id).extra["what_transferred"]
    assert noted["explain_run"] == res.run_id and noted["source"] == "tiny-cnn"
    assert [b["block"] for b in noted["blocks"]] == [1, 2, 3]
    assert all(0 <= b["cka"] <= 1 + 1e-9 and b["weight_change"] > 0 for b in noted["blocks"])
    assert noted["reading"] == res.transfer["reading"] and (folder / "transfer.json").is_file()


@pytest.mark.slow
def test_more_inputs_than_max_are_refused_without_max_and_sampled_with_it(planted):
    store, fit, train = planted["store"], planted["fit"], planted["train"]
    with pytest.raises(UserError, match="holds 120 images.*--max 120"):
        transferkit.explain(fit.run_id, str(train), store=store, transfer=False)
    kw = dict(store=store, transfer=False, max_inputs=12, method="occlusion")
    one = transferkit.explain(fit.run_id, str(train), **kw)
    two = transferkit.explain(fit.run_id, str(train), **kw)
    assert len(one.rows) == 12 and [r["file"] for r in one.rows] == [r["file"] for r in two.rows]
    assert {r["true"] for r in one.rows} == {"patch", "plain"}  # the folder's labels by name


@pytest.fixture(scope="module")
def report(planted, tmp_path_factory):
    store, fit = planted["store"], planted["fit"]
    labelled = transferkit.explain(
        fit.run_id,
        str(planted["train"]),
        max_inputs=20,
        method="gradcam",
        store=store,
        classes=["patch"],
    )
    html, md = build_report(
        load_records([fit.run_id, labelled.run_id], store), tmp_path_factory.mktemp("report")
    )
    return html, md, labelled


def test_report_has_what_transferred_and_the_gallery(planted, report):
    html_path, md_path, labelled = report
    html = html_path.read_text()
    assert html.count("What transferred from tiny-cnn") == 2  # the fit's section and the explain's
    assert "--unfreeze" in html or "from block 1 on" in html or "--strategy linear" in html
    assert "Most confident right" in html and "Per class" in html
    pngs = [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
    # the fit's 3 plots + its profile; the explain run's gallery (right, per class) + profile
    assert len(pngs) >= 7 and all(Image.open(io.BytesIO(p)).size[0] > 100 for p in pngs)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_path.read_text())
    assert len(links) == len(pngs) and all((md_path.parent / x).is_file() for x in links)
    assert not re.search(r"<\s*script|https?://|<link", html, re.I)


@pytest.mark.skipif(
    find_chromium() is None,
    reason="chromium is not installed (bash scripts/setup.sh --dev installs it)",
)
def test_report_renders_in_headless_chromium(report):
    html_path, _, _ = report
    n_images = len(re.findall(r"<img ", html_path.read_text()))
    with Chromium(find_chromium()) as browser:
        page = browser.check_page(html_path, width=1200, height=2400)
    assert page.errors == [], page.errors
    info = page.info
    assert len(info["images"]) == n_images >= 7
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in info["images"])
    assert info["decodeErrors"] == [] and info["scripts"] == 0 and info["bodyText"] > 500
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot)).convert("RGB"))
    assert shot.shape[:2] == (2400, 1200) and shot.std() > 10


@pytest.mark.slow
def test_source_classes_of_each_target_class_from_a_source_with_its_own_head(planted, tmp_path):
    """A model saved by the first fit is the source of a second (file:PATH keeps its head as
    the source head): patch images are predicted as the source's 'patch' class."""
    store, fit = planted["store"], planted["fit"]
    source = f"file:{store.artifact_dir(fit.run_id) / 'model'}"
    second = transferkit.fit(
        str(planted["train"]),
        model=source,
        strategy="finetune",
        epochs=1,
        image_size=32,
        augment=False,
        store=store,
    )
    t = transferkit.explain(second.run_id, store=store, transfer_examples=60).transfer
    table = {row["class"]: row for row in t["source_classes"]}
    assert set(table) == {"patch", "plain"} and sum(r["examples"] for r in table.values()) == 60
    name, share = table["patch"]["sources"][0]
    assert name == "patch" and share > 0.8
    assert sum(s for _, s in table["plain"]["sources"]) == pytest.approx(1.0)
    html, _ = build_report(load_records([second.run_id], store), tmp_path)
    assert "Which source knowledge each target class uses" in html.read_text()
