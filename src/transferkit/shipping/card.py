"""The model card (``README.md`` of the export folder), generated from the run's record.

Plain Markdown, in the spirit of the model cards that Hugging Face's Trainer and timm's
``push_to_hf_hub`` write (Mitchell et al., 2019, "Model Cards for Model Reporting"): the source
model and its licence, the strategy and recipe, the data (fingerprint, split sizes), the test
metrics with 95% intervals, calibration, the search's leaderboard when the automatic search
chose the model, the parity of this export, and its intended use and limits. Every
user-supplied string (class names, paths) is escaped for Markdown tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.store import RunRecord, RunStore
from transferkit.store.artifacts import load_predictions

RESAMPLES = 1000


def _cell(v: Any) -> str:
    """A value as one Markdown table cell (pipes and newlines escaped)."""
    if isinstance(v, float):
        v = f"{v:.4g}"
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "-"


def metric_intervals(y: np.ndarray, proba: np.ndarray) -> list[list[Any]]:
    """Test accuracy with its Wilson 95% interval, balanced accuracy and macro-F1 with
    percentile-bootstrap 95% intervals over the test examples (seeded; scipy's bootstrap of
    :func:`~transferkit.evaluation.metrics.classification_metrics`): rows for the card."""
    from scipy.stats import binomtest, bootstrap

    from transferkit.evaluation.metrics import classification_metrics

    y = np.asarray(y, np.int64)
    pred, n = proba.argmax(1), len(y)
    names = [str(k) for k in range(proba.shape[1])]
    ci = binomtest(int((pred == y).sum()), n).proportion_ci(0.95, method="wilson")
    rows = [["accuracy", _pct((pred == y).mean()), f"{_pct(ci.low)} - {_pct(ci.high)}"]]
    keys = ("balanced_accuracy", "macro_f1")

    def stat(i: np.ndarray) -> np.ndarray:
        m = classification_metrics(y[i], proba[i], names)
        return np.array([m[k] for k in keys])

    values = stat(np.arange(n))
    low = high = [None, None]
    if n > 1 and len(np.unique(y)) > 1:
        res = bootstrap(
            (np.arange(n),),
            stat,
            vectorized=False,
            n_resamples=RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(0),
        )
        low, high = res.confidence_interval
    for k, name in enumerate(("balanced accuracy", "macro-F1")):
        interval = "-" if low[k] is None else f"{_pct(low[k])} - {_pct(high[k])}"
        rows.append([name, _pct(values[k]), interval])
    return rows


def _licence(model: str) -> str:
    """The source model's licence where the zoo records one."""
    from transferkit.zoo.common import BACKBONES

    entry = BACKBONES.get(model) if model in BACKBONES else None
    return (
        entry.licence if entry is not None and entry.licence else "see the source model's own card"
    )


def _source(record: RunRecord, members: list[RunRecord]) -> list[str]:
    models = [str(m.config.get("model", "?")) for m in members] or [
        str(record.config.get("model", "?"))
    ]
    lines = ["## Source model", ""]
    for model in dict.fromkeys(models):
        lines.append(f"- `{_cell(model)}`: licence {_licence(model)}")
    return lines + [""]


def _recipe(record: RunRecord) -> list[str]:
    """The strategy and the settings that shaped training, from the stored config."""
    c = record.config
    info = record.extra.get("strategy_info") or {}
    strategy = info.get("chosen") or c.get("strategy") or c.get("method") or record.kind
    rows = [["run", record.id], ["kind", record.kind], ["strategy", strategy]]
    rows += [["seed", record.seed]] if record.seed is not None else []
    for key in ("model", "weights", "labels_per_class", "shots", "methods", "select"):
        if c.get(key) not in (None, "", [], {}):
            rows.append([key, c[key]])
    train = c.get("train") or {}
    for key in ("epochs", "lr", "batch_size", "weight_decay", "optimizer", "unfreeze"):
        if train.get(key) not in (None, ""):
            rows.append([key, train[key]])
    data = c.get("data") if isinstance(c.get("data"), dict) else {}
    for key in ("image_size", "max_length"):
        if data.get(key):
            rows.append([key, data[key]])
    for key, v in (c.get("options") or {}).items():
        if v not in (None, "", [], {}):
            rows.append([key, v])
    return ["## Strategy and recipe", "", *_table(["setting", "value"], rows), ""]


def _data(record: RunRecord) -> list[str]:
    summary = record.extra.get("dataset") or {}
    c = record.config
    spec = c["data"].get("data") if isinstance(c.get("data"), dict) else c.get("data")
    rows = [
        ["data", spec or c.get("target") or "-"],
        ["fingerprint", record.data_fingerprint or "-"],
        ["examples", summary.get("size", "-")],
        ["skipped (unreadable)", summary.get("skipped", 0)],
    ]
    for split, n in (record.extra.get("splits") or {}).items():
        rows.append([f"{split} split", n])
    return ["## Data", "", *_table(["", ""], rows), ""]


def _metrics(record: RunRecord, store: RunStore) -> list[str]:
    lines = ["## Test metrics", ""]
    saved = load_predictions(store.artifact_dir(record.id))
    if saved is not None and len(saved["labels"]):
        y, proba = saved["labels"], saved["proba"]
        lines += _table(["metric", "value", "95% interval"], metric_intervals(y, proba))
        lines += ["", f"On the run's {len(y)} held-out test examples."]
    elif record.metrics.get("test_accuracy") is not None:
        lines.append(f"Test accuracy {_pct(record.metrics['test_accuracy'])}.")
    else:
        lines.append("The run recorded no test metrics (its data had no labelled test split).")
    ece = record.metrics.get("test_ece")
    lines += ["", "### Calibration", ""]
    lines.append(
        f"Expected calibration error on the test split: {ece:.3f} (15 equal-width confidence "
        "bins; 0 is perfectly calibrated)."
        if isinstance(ece, (int, float))
        else "Not recorded for this run."
    )
    return lines + [""]


def _search(record: RunRecord, members: list[RunRecord], store: RunStore) -> list[str]:
    """The ensemble's members and weights, and the search's leaderboard when auto chose it."""
    lines: list[str] = []
    if record.kind == "ensemble":
        rows = [
            [
                m.get("run"),
                m.get("model"),
                m.get("strategy"),
                m.get("weight"),
                _pct(m.get("test_accuracy")),
            ]
            for m in record.extra.get("members") or record.config.get("members") or []
        ]
        lines += ["## Ensemble", "", "The prediction is the weighted average of its members' "]
        lines[-1] += "probabilities (ensemble selection, Caruana et al., 2004)."
        lines += ["", *_table(["run", "model", "strategy", "weight", "test accuracy"], rows), ""]
    parent = store.get(record.parent) if record.parent else None
    if parent is None or parent.kind != "auto":
        return lines
    board = parent.extra.get("leaderboard") or []
    rows = [
        [
            x.get("kind"),
            x.get("model"),
            x.get("strategy"),
            x.get("state"),
            _pct(x.get("val")),
            x.get("weight", ""),
        ]
        for x in board[:15]
    ]
    lines += ["## How the automatic search chose it", "", f"Search run {parent.id}: "]
    lines[-1] += str(parent.extra.get("why") or "the best candidate on validation") + "."
    if rows:
        lines += ["", *_table(["kind", "model", "strategy", "state", "val", "weight"], rows)]
    return lines + [""]


def _parity(parity: dict[str, Any]) -> list[str]:
    rows = []
    for key in ("fp32", "int8"):
        p = parity.get(key)
        if p:
            rows.append(
                [
                    key,
                    p["n"],
                    f"{p['max_abs_diff']:.2e}",
                    f"{p['mean_abs_diff']:.2e}",
                    _pct(p["argmax_agreement"]),
                ]
            )
    lines = ["## Parity of this export", ""]
    lines += _table(["graph", "inputs", "max abs diff", "mean abs diff", "argmax agreement"], rows)
    int8 = parity.get("int8") or {}
    if int8:
        lines += [
            "",
            f"int8: dynamic quantisation of {int8.get('quantized_operators', 'the graph')}.",
        ]
    change = int8.get("accuracy_change_points")
    if change is not None:
        lines[-1] += f" It changed the accuracy on these inputs by {change:+.2f} points."
    return lines + ["", "Details in `parity.json`.", ""]


def _use(record: RunRecord, config: dict[str, Any]) -> list[str]:
    classes = config["classes"]
    pre = config.get("preprocessing") or {}
    if config.get("members"):
        takes = f"{config['modality']}s (each member of the ensemble prepares them its own way)"
    elif config["modality"] == "text":
        takes = f"texts (longer ones are cut to {pre.get('max_length')} tokens)"
    else:
        size = pre.get("input_size")
        takes = (
            f"images ({size[0]} channel(s)), resized to {size[1]}x{size[2]} pixels (larger "
            "ones centre-cropped as in evaluation)"
        )
    shown = ", ".join(f"`{_cell(c)}`" for c in classes[:50]) + (" ..." if len(classes) > 50 else "")
    return [
        "## Intended use and limits",
        "",
        f"- Classifies {takes} into one of {len(classes)} classes: {shown}.",
        "- Every input gets one of these classes: there is no 'none of these' answer, so inputs "
        "unlike the training data (other classes, other sources, corrupted files) still get a "
        "confident-looking label.",
        "- It was tested only on the held-out split of the data named above; its numbers say "
        "nothing about other data distributions, and small test splits give wide intervals.",
        "- Use it as its recipe was evaluated: check it on your own data before relying on it.",
        "",
    ]


def model_card(
    record: RunRecord, store: RunStore, config: dict[str, Any], parity: dict[str, Any]
) -> str:
    """The card for the export of ``record`` (``config``: the folder's config.json)."""
    members = [
        store.get(m["run"])
        for m in (record.config.get("members") or [])
        if record.kind == "ensemble" and m.get("run")
    ]
    quant = " (int8 quantised)" if config.get("quantized") else ""
    head = [
        f"# {config['modality'].capitalize()} classifier from transferkit run {record.id}",
        "",
        f"Exported by transferkit {config['transferkit_version']}{quant}; runs with "
        "`transferkit.runtime.Predictor` (numpy, Pillow, onnxruntime, tokenizers: no PyTorch).",
        "",
    ]
    body = _source(record, members) + _recipe(record) + _data(record)
    body += _metrics(record, store) + _search(record, members, store)
    return "\n".join(head + body + _parity(parity) + _use(record, config))
