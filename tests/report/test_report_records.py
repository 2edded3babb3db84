"""Reports from records written straight into a temporary store: escaping, statuses, kinds."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from transferkit.cli import main
from transferkit.errors import UserError
from transferkit.report import build_report, load_records
from transferkit.store import RunStore

EVIL = "<script>alert(1)</script>"
QUOTES = "\"&'"
CLASSES = [EVIL, QUOTES, "$x$ ^_ [link](http://x)", "cat"]
ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "h1",
    "h2",
    "h3",
    "p",
    "nav",
    "a",
    "section",
    "div",
    "table",
    "caption",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "li",
    "figure",
    "img",
    "figcaption",
    "pre",
    "code",
    "details",
    "summary",
    "footer",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _fit(store: RunStore, status: str = "done", classes=None, dataset="digits", **extra) -> str:
    classes = classes or ["a", "b", "c"]
    k = len(classes)
    cfg = {
        "model": "tiny-cnn",
        "strategy": "finetune",
        "seed": 0,
        "data": {"data": "builtin:digits", "labels_per_class": 10, "image_size": 32},
        "train": {"epochs": 2},
    }
    rid = store.create("fit", cfg, seed=0, data_fingerprint="fp1")
    store.update(
        rid,
        extra={
            "dataset": {"name": dataset, "modality": "image", "size": 100, "classes": classes},
            "history": [{"epoch": 1, "train_loss": 1.2, "val_loss": 1.0, "val_accuracy": 0.6}],
            "splits": {"train": 60, "val": 10, "test": 30},
            **extra,
        },
    )
    metrics = {
        "test_accuracy": 0.7,
        "test_balanced_accuracy": 0.69,
        "test_macro_f1": 0.68,
        "test_ece": 0.05,
        "test_nll": 0.8,
        "test_n": 30,
        "val_accuracy": 0.6,
        "test_per_class": {c: {"precision": 0.7, "recall": 0.7, "support": 10} for c in classes},
        "test_confusion": [[7 if i == j else 1 for j in range(k)] for i in range(k)],
    }
    if status == "done":
        store.finish(rid, metrics=metrics)
    elif status == "failed":
        store.fail(rid, "RuntimeError: out of memory")
    elif status == "interrupted":
        store.interrupt(rid)
    return rid


def _compare(store: RunStore, table, paired=(), verdicts=()) -> str:
    cfg = {
        "data": "builtin:digits",
        "model": "tiny-cnn",
        "strategies": ["linear", "finetune"],
        "labels_per_class": [10, "all"],
        "seeds": [0, 1, 2],
        "base": {
            "model": "tiny-cnn",
            "strategy": "auto",
            "seed": 0,
            "data": {"data": "builtin:digits", "image_size": 32},
            "train": {"epochs": 2},
        },
    }
    rid = store.create("compare", cfg, seed=0, data_fingerprint="fp1")
    store.update(
        rid,
        extra={
            "table": list(table),
            "paired": list(paired),
            "verdicts": list(verdicts),
            "members": [],
            "dataset": {"name": "digits", "classes": list("0123456789")},
        },
    )
    store.finish(rid, metrics={})
    return rid


def test_user_strings_are_escaped(tmp_path):
    store = RunStore(tmp_path / "store")
    rid = _fit(
        store,
        classes=CLASSES,
        dataset=f"{EVIL} {QUOTES}",
        calibration={
            "bins": 3,
            "count": [0, 4, 26],
            "confidence": [None, 0.5, 0.9],
            "accuracy": [None, 0.5, 0.8],
        },
    )
    store.update(rid, config={"data": {"data": f"/data/{EVIL}", "labels_per_class": 10}})
    html_path, md_path = build_report(
        load_records([rid], store), tmp_path / "out", title=f"title {EVIL}"
    )
    html = html_path.read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&amp;&#x27;" in html
    assert QUOTES not in html
    assert not re.search(r"<\s*script", html, re.I)
    parser = _Tags()
    parser.feed(html)
    assert {t for t, _ in parser.tags} <= ALLOWED_TAGS
    assert all(
        a.get("src", "").startswith("data:image/png;base64,") for t, a in parser.tags if t == "img"
    )
    assert all(a.get("href", "#").startswith("#") for t, a in parser.tags if t == "a")
    text = "".join(parser.text)
    assert EVIL in text and QUOTES in text  # shown to the reader verbatim, as text
    md = md_path.read_text()
    prose = re.sub(r"(`{3,})\n.*?\n\1", "", md, flags=re.S)  # code blocks show text verbatim
    assert EVIL not in prose and "&lt;script&gt;" in prose
    assert "[link](" not in prose and r"\[link\]" in prose  # never a Markdown link


def test_running_and_missing_runs_are_refused(tmp_path, monkeypatch, capsys):
    store = RunStore(tmp_path / "store")
    running = store.create("fit", {"model": "tiny-cnn"}, seed=0)
    with pytest.raises(UserError, match=f"{running}.*still running.*--resume {running}"):
        load_records([running], store)
    monkeypatch.setenv("TRANSFERKIT_HOME", str(store.root))
    for args, word in (
        (["report", running], "still running"),
        (["report", "r19990101-000000-dead"], "r19990101-000000-dead"),
        (["report"], "--last"),
        (["report", "--last", "3"], "no finished fit runs"),
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert word in err and "Traceback" not in err, (args, err)


def test_failed_and_interrupted_runs_show_their_status(tmp_path):
    store = RunStore(tmp_path / "store")
    failed = _fit(store, status="failed")
    stopped = _fit(store, status="interrupted")
    done = _fit(store)
    html_path, md_path = build_report(load_records([failed, stopped, done], store), tmp_path / "o")
    html = html_path.read_text()
    assert f"Run {failed} is failed" in html and "out of memory" in html
    assert f"transferkit fit --resume {stopped}" in html
    assert "Not finished" in html
    assert f"finetune tiny-cnn, 10 labels/class, seed 0 (run {done}): 70.0% test accuracy" in html
    assert "Best on" not in html  # nothing to compare it with


def test_compare_report_with_single_point_and_verdicts(tmp_path):
    store = RunStore(tmp_path / "store")
    one = _compare(
        store,
        [
            {
                "strategy": "linear",
                "labels_per_class": "all",
                "n": 1,
                "mean": 0.9,
                "std": 0.0,
                "ci_low": None,
                "ci_high": None,
                "values": [0.9],
            }
        ],
    )
    verdict = "finetune beats linear by 3.1 points (95% CI 1.8 to 4.4) at 100 labels per class."
    full = _compare(
        store,
        [
            {
                "strategy": s,
                "labels_per_class": b,
                "n": 3,
                "mean": m,
                "std": 0.01,
                "ci_low": m - 0.02,
                "ci_high": m + 0.02,
                "values": [m] * 3,
            }
            for s, b, m in (
                ("linear", 10, 0.6),
                ("finetune", 10, 0.7),
                ("linear", "all", 0.9),
                ("finetune", "all", 0.93),
            )
        ],
        paired=[
            {
                "strategy": "finetune",
                "baseline": "linear",
                "labels_per_class": 10,
                "n": 3,
                "mean_diff": 0.1,
                "ci_low": 0.05,
                "ci_high": 0.15,
            }
        ],
        verdicts=[verdict],
    )
    html_path, md_path = build_report(load_records([one, full], store), tmp_path / "o")
    html = html_path.read_text()
    assert html.count("<img ") == 2
    assert verdict in html and verdict.replace("(", "(") in md_path.read_text()
    assert "n/a (one seed)" in html
    assert (  # 3 seeds is compare's default: left out
        "transferkit compare --strategies linear,finetune --labels-per-class 10,all "
        "--model tiny-cnn --data builtin:digits --image-size 32 --epochs 2"
    ) in html
    assert "--image-size 32 --epochs 2" in html


def test_cv_and_unknown_kinds_render(tmp_path):
    store = RunStore(tmp_path / "store")
    cv = store.create(
        "cv",
        {
            "k": 3,
            "fit": {
                "model": "tiny-cnn",
                "strategy": "linear",
                "seed": 0,
                "data": {"data": "builtin:digits"},
                "train": {},
            },
        },
    )
    folds = [
        {"fold": i, "run": f"r{i}", "test_accuracy": 0.8 + 0.01 * i, "n_test": 30} for i in range(3)
    ]
    store.update(
        cv,
        extra={
            "folds": folds,
            "summary": {
                "test_accuracy": {
                    "n": 3,
                    "mean": 0.81,
                    "std": 0.01,
                    "ci_low": 0.78,
                    "ci_high": 0.84,
                }
            },
        },
    )
    store.finish(cv, metrics={"cv_mean_accuracy": 0.81})
    other = store.create("pretrain", {"method": "vae"})
    store.finish(other, metrics={"loss": 0.25})
    html = build_report(load_records([cv, other], store), tmp_path / "o")[0].read_text()
    assert "3-fold cross-validation of linear tiny-cnn: 81.0% test accuracy" in html
    assert (
        "transferkit fit --strategy linear --data builtin:digits --model tiny-cnn --cv 3" in html
        or "--cv 3" in html
    )
    assert "Pretrain run" in html and "0.2500" in html


def test_rewriting_a_report_removes_stale_figures(tmp_path):
    store = RunStore(tmp_path / "store")
    a, b = _fit(store), _fit(store)
    out = tmp_path / "o"
    build_report(load_records([a, b], store), out)
    assert any(a in p.name for p in (out / "report_files").iterdir())
    build_report(load_records([b], store), out)
    names = [p.name for p in (out / "report_files").iterdir()]
    assert names and not any(a in n for n in names)
    assert not list(out.glob(".*.tmp"))
