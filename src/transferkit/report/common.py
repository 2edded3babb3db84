"""Shared pieces of report sections: names, percentages, status and provenance blocks.

Accuracies are shown in percent; the stored values are fractions.
"""

from __future__ import annotations

import json
from typing import Any

from transferkit.config.reproduce import stored_run
from transferkit.errors import UserError
from transferkit.report.document import Code, Details, KeyValues, Paragraph, Table, fmt
from transferkit.store import RunRecord


def pct(v: Any, digits: int = 2) -> str:
    """A fraction as a percent string ('' when missing)."""
    return f"{100 * v:.{digits}f}" if isinstance(v, (int, float)) and v == v else ""


def value(v: Any, percent: bool) -> str:
    if percent:
        return pct(v)
    if isinstance(v, float):
        return f"{v:.4f}"
    return fmt(v)


def dataset_name(r: RunRecord) -> str:
    ds = r.extra.get("dataset") or {}
    data = r.config.get("data")
    spec = data.get("data") if isinstance(data, dict) else data
    return str(ds.get("name") or spec or "?")


def strategy_of(r: RunRecord) -> str:
    chosen = (r.extra.get("strategy_info") or {}).get("chosen")
    s = str(r.config.get("strategy", "?"))
    return f"{chosen} ({s})" if chosen and chosen != s else s


def labels_per_class(r: RunRecord) -> str:
    data = r.config.get("data") if isinstance(r.config.get("data"), dict) else {}
    v = data.get("labels_per_class")
    return "all" if v is None else str(v)


def describe(r: RunRecord) -> str:
    """'finetune effnet-lite0, 100 labels/class, seed 0 (run r2024...)'."""
    return (
        f"{strategy_of(r)} {r.config.get('model', '?')}, {labels_per_class(r)} labels/class, "
        f"seed {r.seed} (run {r.id})"
    )


def status_blocks(r: RunRecord) -> list:
    if r.status == "done":
        return []
    text = f"Run {r.id} is {r.status}; its results are incomplete."
    if r.status == "interrupted" and r.kind == "fit":
        text += f" Continue it with: transferkit fit --resume {r.id}"
    if r.error:
        text += f" Error: {r.error.strip().splitlines()[-1][:500]}"
    return [Paragraph(text, kind="warning")]


def reproduce_blocks(r: RunRecord) -> list:
    """The command line that runs ``r`` again, generated from its stored settings
    (:func:`transferkit.config.reproduce.stored_run`), or a note saying why none does."""
    if not r.config:
        return []
    try:
        return [Code(stored_run(r.kind, r.config, r.id).line(), caption="Command to reproduce it")]
    except UserError as e:
        return [Paragraph(f"No command line reproduces it: {e}", kind="note")]


def provenance(r: RunRecord) -> list:
    """What was run: the data, the record's identity, versions, config and how to reproduce it."""
    ds = r.extra.get("dataset") or {}
    pairs: list[tuple[str, Any]] = [
        ("run", r.id),
        ("kind", r.kind),
        ("status", r.status),
        ("created", r.created),
        ("host", r.host),
        ("seed", r.seed),
        ("data fingerprint", r.data_fingerprint),
    ]
    if ds:
        classes = ds.get("classes") or []
        shown = ", ".join(map(str, classes[:30])) + (" ..." if len(classes) > 30 else "")
        pairs += [
            ("dataset", ds.get("name")),
            ("modality", ds.get("modality")),
            ("examples", ds.get("size")),
            (f"classes ({len(classes)})", shown),
            ("skipped inputs", ds.get("skipped")),
        ]
    splits = r.extra.get("splits")
    if isinstance(splits, dict):
        pairs.append(("splits", ", ".join(f"{k} {v}" for k, v in splits.items())))
    for key in ("backbone", "device", "world_size", "parent"):
        v = r.extra.get(key) if key != "parent" else r.parent
        if v not in (None, "", {}):
            pairs.append((key, json.dumps(v) if isinstance(v, (dict, list)) else v))
    if r.timings:
        pairs.append(
            (
                "timings (s)",
                ", ".join(
                    f"{k} {v:.1f}" for k, v in r.timings.items() if isinstance(v, (int, float))
                ),
            )
        )
    blocks: list = [
        KeyValues([(k, v) for k, v in pairs if v not in (None, "")], caption="What was run")
    ]
    blocks += reproduce_blocks(r)
    detail = [Code(json.dumps(r.config, indent=2, default=str), caption="Resolved config")]
    if r.versions:
        detail.append(KeyValues(sorted(r.versions.items()), caption="Package versions"))
    skipped = r.extra.get("skipped") or []
    if skipped:
        detail.append(
            Table(
                ["input", "reason"],
                [[s.get("item"), s.get("reason")] for s in skipped[:200]],
                caption=f"Skipped inputs ({len(skipped)})",
            )
        )
    blocks.append(Details("Config, versions and skipped inputs", detail))
    return blocks
