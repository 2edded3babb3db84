"""Report section for domain adaptation runs (kind ``adapt``).

It shows what adaptation did and how the model was chosen: the selection table (label-free
risk per candidate, and target accuracy only where the run was allowed target labels for
evaluation), the label-free choice next to the oracle one, the proxy A-distance before and
after, t-SNE embeddings of both domains before and after, and per-class target accuracy.
"""

from __future__ import annotations

from transferkit.report import plots
from transferkit.report.common import pct, provenance, status_blocks, value
from transferkit.report.document import Details, Image, Paragraph, Section, Table
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord


def _verdicts(r: RunRecord) -> list[str]:
    m, sel = r.metrics, r.extra.get("selection") or {}
    out = [f"Chosen without target labels ({sel.get('rule', '?')}): {m.get('chosen', '?')}."]
    if sel.get("fallback"):
        out.append(f"Asked for {sel.get('asked')}, but {sel['fallback']}.")
    if m.get("oracle") is not None:
        out.append(
            f"Target accuracy of the label-free choice {pct(m.get('target_accuracy'), 1)}%"
            f"; the oracle choice ({m['oracle']}) {pct(m.get('oracle_target_accuracy'), 1)}%"
            f": a selection gap of {pct(m.get('selection_gap'), 1)} points."
        )
        for base in ("source-only", "shallow-source-only"):
            b = m.get(f"{base}_target_accuracy")
            if (
                base != m.get("chosen")
                and isinstance(b, (int, float))
                and isinstance(m.get("target_accuracy"), (int, float))
            ):
                out.append(
                    f"Against {base}: {100 * (m['target_accuracy'] - b):+.1f} points of "
                    "target accuracy."
                )
    pad0, pad1 = m.get("pad_initial"), m.get("pad_chosen")
    if isinstance(pad0, (int, float)) and isinstance(pad1, (int, float)):
        out.append(
            f"Proxy A-distance (2 = domains perfectly separable, 0 = indistinguishable):"
            f" {pad0:.2f} with the initial backbone, {pad1:.2f} after adaptation."
        )
    return out


def _selection_table(r: RunRecord) -> Table:
    table = r.extra.get("table") or []
    m = r.metrics
    evaluated = any(row.get("target_accuracy") is not None for row in table)
    cols = [
        "candidate",
        "seeds",
        "label-free risk",
        "DEV",
        "IWCV",
        "SND",
        "IM",
        "source val acc (%)",
        "proxy A-distance",
    ]
    if evaluated:
        cols += ["target acc (%)", "std (%)"]
    rows = []
    for row in table:
        name = row["candidate"]
        tags = [
            t
            for t, on in (
                ("label-free choice", name == m.get("chosen")),
                ("oracle", name == m.get("oracle")),
            )
            if on
        ]
        cells = [
            name + (f" ({', '.join(tags)})" if tags else ""),
            row.get("n"),
            value(row.get("selection_score", row.get("risk")), False),
            value(row.get("dev"), False),
            value(row.get("iwcv"), False),
            value(row.get("snd"), False),
            value(row.get("im"), False),
            pct(row.get("source_val_accuracy")),
            value(row.get("pad"), False),
        ]
        if evaluated:
            cells += [pct(row.get("target_accuracy")), pct(row.get("target_accuracy_std"))]
        rows.append(cells)
    caption = (
        "Selection: mean over seeds; lower risk is better (DEV, IWCV: importance-"
        "weighted source loss; SND, IM: target-side scores, higher is better). None "
        "reads target labels" + ("; target accuracy is for this report only." if evaluated else ".")
    )
    return Table(cols, rows, caption=caption)


def _per_class(r: RunRecord) -> Table | None:
    chosen, oracle = r.metrics.get("chosen"), r.metrics.get("oracle")
    rows = {row["candidate"]: row for row in r.extra.get("table") or []}
    base = next((b for b in ("source-only", "shallow-source-only") if b in rows), None)
    show = [
        c
        for c in dict.fromkeys([base, chosen, oracle])
        if c and rows.get(c, {}).get("target_per_class")
    ]
    if not show:
        return None
    classes = list(rows[show[0]]["target_per_class"])
    data = [[c, *(pct(rows[s]["target_per_class"].get(c), 1) for s in show)] for c in classes]
    return Table(
        ["class", *(f"{s} (%)" for s in show)],
        data,
        caption="Per-class target accuracy (recall), mean over seeds",
    )


def _warnings(extra: dict) -> list[Paragraph]:
    """The run's notes, and which classes only one of the domains has."""
    out = [Paragraph(str(note), kind="warning") for note in extra.get("notes") or []]
    missing = extra.get("missing_classes") or {}
    if missing:
        out.append(
            Paragraph(
                "Partial class overlap: only in the source: "
                f"{', '.join(map(str, missing.get('source_only') or [])) or 'none'}; only in the "
                f"target: {', '.join(map(str, missing.get('target_only') or [])) or 'none'}.",
                kind="warning",
            )
        )
    return out


def _pad_figure(run_id: str, extra: dict) -> Image | None:
    """Proxy A-distance per candidate as bars (the initial backbone among them), if measured."""
    pad = {k: v for k, v in (extra.get("pad") or {}).items() if isinstance(v, (int, float))}
    if not pad:
        return None
    return Image(
        f"{run_id}-proxy-a-distance",
        plots.bar_chart(
            list(pad),
            list(pad.values()),
            xlabel="proxy A-distance (lower: domains closer)",
            title="Domain classifier before (initial) and after adaptation",
        ),
        "Proxy A-distance per candidate",
    )


def _embedding_figure(run_id: str, extra: dict) -> Image | None:
    """The t-SNE panels of both domains before and after adaptation, if recorded."""
    emb = extra.get("embedding") or {}
    panels = [emb[k] for k in ("before", "after") if emb.get(k)]
    if not panels:
        return None
    return Image(
        f"{run_id}-tsne",
        plots.domain_embeddings(panels),
        "t-SNE of source and target features before and after adaptation",
        "Held-out source (circles) and target (triangles), seed 0",
    )


def _members_details(members: list[dict]) -> Details:
    """One row per member run (candidate and seed), folded away."""
    rows = [
        [
            mm.get("run"),
            mm.get("candidate"),
            mm.get("seed"),
            value(mm.get("risk"), False),
            pct(mm.get("source_val_accuracy")),
            pct(mm.get("target_accuracy")),
        ]
        for mm in members
    ]
    return Details(
        f"Member runs ({len(members)})",
        [
            Table(
                [
                    "run",
                    "candidate",
                    "seed",
                    "risk",
                    "source val acc (%)",
                    "target acc (%)",
                ],
                rows,
            )
        ],
    )


@SECTIONS.register("adapt")
def adapt_section(r: RunRecord) -> tuple[Section, list[str]]:
    """An adaptation run: warnings, the selection table, the domain plots, per-class target
    accuracy and the member runs; its verdicts are the report's headline."""
    extra, cfg = r.extra, r.config
    blocks: list = status_blocks(r) + _warnings(extra)
    verdicts = _verdicts(r) if r.status == "done" else []  # shown as the report's headline
    if extra.get("table"):
        blocks.append(_selection_table(r))
    for block in (_pad_figure(r.id, extra), _embedding_figure(r.id, extra), _per_class(r)):
        if block is not None:
            blocks.append(block)
    members = extra.get("members") or []
    if members:
        blocks.append(_members_details(members))
    blocks += provenance(r)
    title = (
        f"Adaptation {r.id}: {cfg.get('source', '?')} -> {cfg.get('target', '?')} "
        f"with {cfg.get('model', '?')}"
    )
    return Section(title, blocks, anchor=r.id), verdicts
