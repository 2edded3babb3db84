"""Report sections for ``rank`` (which source model transfers best) and ``similarity`` (how
far source and target are) runs: tables, a bar chart, provenance and a one-line verdict."""

from __future__ import annotations

import math
from typing import Any

from transferkit.report import plots
from transferkit.report.common import dataset_name, provenance, status_blocks
from transferkit.report.document import Image, KeyValues, Paragraph, Section, Table
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _cell(row: dict, score: str) -> str:
    v = _num((row.get("scores") or {}).get(score))
    if v is not None:
        return f"{v:.4g}"
    return f"- ({(row.get('empty') or {}).get(score) or row.get('reason') or 'no value'})"


def _rank_table(rows: list[dict], scores: list[str], primary: str) -> Table:
    """Every candidate with each score, numbered by rank where the primary score exists."""
    table = [
        [
            i + 1
            if row.get("status") == "ok" and _num(row["scores"].get(primary)) is not None
            else "",
            row.get("model"),
            row.get("status"),
            *[_cell(row, s) for s in scores],
            f"{row.get('seconds', 0):.1f}",
        ]
        for i, row in enumerate(rows)
    ]
    return Table(
        ["rank", "model", "status", *scores, "seconds"],
        table,
        caption=f"Candidates ranked by {primary} (higher is better); an "
        "empty cell says why it has no value",
    )


def _rank_figure(r: RunRecord, rows: list[dict], primary: str) -> Image | None:
    """The primary score of each scored candidate as bars, best first and highlighted."""
    ranked = [row for row in rows if _num((row.get("scores") or {}).get(primary)) is not None]
    if not ranked:
        return None
    return Image(
        f"{r.id}-ranking",
        plots.bar_chart(
            [row["model"] for row in ranked],
            [float(row["scores"][primary]) for row in ranked],
            xlabel=primary,
            title=f"{primary} per candidate",
            highlight=0,
        ),
        f"{primary} of each candidate on {dataset_name(r)}",
        "Best first; the highlighted bar is the predicted best source model",
    )


def _not_scored(rows: list[dict]) -> Paragraph | None:
    """Which candidates failed, and why."""
    failed = [row for row in rows if row.get("status") != "ok"]
    if not failed:
        return None
    return Paragraph(
        "Not scored: "
        + "; ".join(f"{row['model']} ({row.get('status')}: {row.get('reason')})" for row in failed),
        kind="warning",
    )


def _rank_verdicts(r: RunRecord, rows: list[dict], primary: str | None) -> list[str]:
    """The predicted best source model and its runner-up, in one sentence."""
    order = r.extra.get("order") or []
    if not (order and primary):
        return []
    best = next(row for row in rows if row["model"] == order[0])
    text = (
        f"By {primary}, {order[0]} is predicted to transfer best to {dataset_name(r)} "
        f"(score {float(best['scores'][primary]):.4g}"
    )
    if len(order) > 1:
        second = next(row for row in rows if row["model"] == order[1])
        text += f"; next {order[1]} at {float(second['scores'][primary]):.4g}"
    return [text + f", {len(order)} candidates scored)."]


@SECTIONS.register("rank")
def rank_section(r: RunRecord) -> tuple[Section, list[str]]:
    """A ranking: the candidates' scores as a table and bars, the failures, the verdict."""
    cfg = r.config
    scores = list(cfg.get("scores") or [])
    rows = r.extra.get("table") or []
    primary = scores[0] if scores else None
    blocks: list = status_blocks(r)
    if rows and primary:
        blocks.append(_rank_table(rows, scores, primary))
        figure = _rank_figure(r, rows, primary)
        if figure is not None:
            blocks.append(figure)
    failed = _not_scored(rows)
    if failed is not None:
        blocks.append(failed)
    blocks += provenance(r)
    title = f"Ranking {r.id}: {len(rows)} source models for {dataset_name(r)}"
    return Section(title, blocks, anchor=r.id), _rank_verdicts(r, rows, primary)


@SECTIONS.register("similarity")
def similarity_section(r: RunRecord) -> tuple[Section, list[str]]:
    """A similarity run: the distances, class-conditional MMD as bars, and the verdict."""
    cfg, m, extra = r.config, r.metrics, r.extra
    blocks: list = status_blocks(r)
    pairs = [
        ("source", cfg.get("source")),
        ("target", cfg.get("target")),
        ("feature space", cfg.get("model")),
        ("examples per side", extra.get("n_source")),
        ("MMD^2 (unbiased, RBF, median bandwidth)", _fmt(m.get("mmd2"))),
        ("permutation p-value", _fmt(m.get("mmd_p_value"))),
        (
            "proxy A-distance (0 = indistinguishable, 2 = separable)",
            _fmt(m.get("proxy_a_distance")),
        ),
        ("domain classifier error (0.5 = chance)", _fmt(m.get("domain_error"))),
    ]
    blocks.append(KeyValues(pairs, caption="Source-target distance"))
    per_class = {k: v for k, v in (extra.get("class_mmd") or {}).items() if _num(v) is not None}
    if per_class:
        names = sorted(per_class, key=lambda k: -per_class[k])
        blocks.append(
            Image(
                f"{r.id}-class-mmd",
                plots.bar_chart(
                    names,
                    [per_class[k] for k in names],
                    xlabel="MMD^2",
                    title="Class-conditional MMD^2 (largest first)",
                    highlight=0,
                ),
                "Class-conditional MMD per shared class",
                "The classes whose source and target examples differ most come first",
            )
        )
    blocks += provenance(r)
    verdicts = []
    pad, p = _num(m.get("proxy_a_distance")), _num(m.get("mmd_p_value"))
    if pad is not None and p is not None:
        verdicts.append(
            f"{cfg.get('source')} and {cfg.get('target')} "
            f"{'differ detectably' if p < 0.05 else 'are not distinguishable'} in "
            f"{cfg.get('model')}'s feature space (MMD p = {p:.3g}, proxy A-distance {pad:.2f})."
        )
    title = f"Similarity {r.id}: {cfg.get('source')} vs {cfg.get('target')}"
    return Section(title, blocks, anchor=r.id), verdicts


def _fmt(v: Any) -> str:
    x = _num(v)
    return "" if x is None else f"{x:.4g}"
