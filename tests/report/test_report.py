"""Reports on real tiny fits: the files, the command line, and rendering in headless Chromium."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from chromium_cdp import Chromium, find_chromium
from conftest import run_cli
from PIL import Image

import transferkit
from transferkit.report import build_report, load_records
from transferkit.store import RunStore

TINY = dict(model="tiny-cnn", image_size=32, epochs=2, labels_per_class=10, seed=0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A store with a linear and a finetune fit on digits, and a comparison record over them."""
    store = RunStore(tmp_path_factory.mktemp("report") / "tk_home")
    fits = [
        transferkit.fit("builtin:digits", strategy=s, store=store, **TINY)
        for s in ("linear", "finetune")
    ]
    cfg = {
        "data": "builtin:digits",
        "model": "tiny-cnn",
        "strategies": ["linear", "finetune"],
        "labels_per_class": [10],
        "seeds": [0],
    }
    cid = store.create(
        "compare", cfg, seed=0, data_fingerprint=store.get(fits[0].run_id).data_fingerprint
    )
    table = [
        {
            "strategy": f.strategy,
            "labels_per_class": 10,
            "n": 1,
            "mean": f.accuracy,
            "std": 0.0,
            "ci_low": None,
            "ci_high": None,
            "values": [f.accuracy],
        }
        for f in fits
    ]
    members = [
        {
            "run": f.run_id,
            "strategy": f.strategy,
            "labels_per_class": 10,
            "seed": 0,
            "test_accuracy": f.accuracy,
        }
        for f in fits
    ]
    store.update(
        cid,
        extra={
            "table": table,
            "members": members,
            "paired": [],
            "verdicts": ["finetune vs linear at 10 labels per class: a single seed."],
        },
    )
    store.finish(cid, metrics={})
    return store, [f.run_id for f in fits], cid


def _pngs_in(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_files_on_real_fits(runs, tmp_path):
    store, ids, cid = runs
    html_path, md_path = build_report(load_records([*ids, cid], store), tmp_path / "out")
    html = html_path.read_text()
    pngs = _pngs_in(html)
    # per fit: learning curves, where the time went, confusion matrix, reliability; plus the
    # summary bar chart and the comparison's data-efficiency curve
    assert len(pngs) == 2 * 4 + 2
    assert html.count("Where the time of run") == 2
    assert all(Image.open(io.BytesIO(p)).size[0] > 100 for p in pngs)
    assert html.count("<img ") == len(pngs)
    assert not re.search(r"<\s*script|https?://|<link", html, re.I)  # self-contained
    for rid in (*ids, cid):
        assert rid in html
    assert "Best on digits:" in html and "a single seed" in html
    assert re.search(r"transferkit fit --strategy linear( --seed \d+)? --model tiny-cnn", html)
    md = md_path.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(pngs)
    assert all((md_path.parent / link).is_file() for link in links)


@pytest.mark.slow
def test_cli_report_paths(runs, tmp_path, monkeypatch, capsys):
    from transferkit.cli import main

    store, ids, cid = runs
    env = {"TRANSFERKIT_HOME": str(store.root)}
    last = run_cli(
        "report", "--last", "2", cid, "--out", str(tmp_path / "r"), env_extra=env, check=0
    )
    path = Path(last.stdout.strip())  # stdout holds the path and nothing else
    assert path == tmp_path / "r" / "report.html"
    assert all(i in path.read_text() for i in (*ids, cid))
    monkeypatch.setenv("TRANSFERKIT_HOME", str(store.root))
    assert main(["report", ids[0]]) == 0  # one run: its artifact folder
    assert Path(capsys.readouterr().out.strip()) == store.runs_dir / ids[0] / "report.html"
    assert (store.runs_dir / ids[0] / "report.md").is_file()
    assert main(["report", *ids, "--title", "two runs"]) == 0  # several: reports/<time>
    path = Path(capsys.readouterr().out.strip())
    assert path.parent.parent == store.root / "reports" and path.is_file()
    assert "<title>two runs</title>" in path.read_text()


@pytest.mark.skipif(
    find_chromium() is None,
    reason="chromium is not installed (bash scripts/setup.sh --dev installs it)",
)
def test_report_renders_in_headless_chromium(runs, tmp_path):
    store, ids, cid = runs
    html_path, _ = build_report(load_records([*ids, cid], store), tmp_path / "out")
    n_images = len(_pngs_in(html_path.read_text()))
    with Chromium(find_chromium()) as browser:
        page = browser.check_page(html_path, width=1200, height=2000)
    assert page.errors == [], page.errors
    info = page.info
    assert len(info["images"]) == n_images > 0
    assert all(img["complete"] and img["width"] > 0 and img["height"] > 0 for img in info["images"])
    assert info["decodeErrors"] == [] and info["scripts"] == 0
    assert info["title"].startswith("transferkit report") and info["bodyText"] > 500
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot)).convert("RGB"))
    assert shot.shape[:2] == (2000, 1200)
    packed = shot[..., 0].astype(np.int32) << 16 | shot[..., 1].astype(np.int32) << 8 | shot[..., 2]
    assert len(np.unique(packed)) > 50 and shot.std() > 10  # text, tables and plots, not blank
