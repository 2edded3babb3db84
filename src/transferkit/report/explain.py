"""Report sections of ``explain``: for an explain run, a gallery of its overlays (most
confident right, most confident wrong, one per class) or a table of its texts; and "what
transferred", shown both in the explain run's section and, through the fit-report hook
:data:`~transferkit.report.sections.FIT_BLOCKS`, in the section of the fit run it analysed
(per-block CKA and weight change with their reading, the source-class table)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from transferkit.config.reproduce import stored_run
from transferkit.report import explain_plots
from transferkit.report.common import provenance, status_blocks
from transferkit.report.document import Block, Code, Details, Image, Paragraph, Section, Table
from transferkit.report.sections import FIT_BLOCKS, SECTIONS
from transferkit.store import RunRecord
from transferkit.strategies import STRATEGIES

PER_GROUP = 8


def changes_the_source(strategy: str | None) -> bool:
    """Whether a fit with ``strategy`` changes what the source model computes, so that
    "what fine-tuning changed" can be analysed: a registered strategy that starts from the
    source weights and trains the backbone (finetune, lora, contrastive; not scratch, whose
    weights are fresh, nor the frozen-feature strategies)."""
    if strategy not in STRATEGIES:
        return False
    cls = STRATEGIES.get(strategy)
    return cls.pretrained and cls.trains_backbone


def _groups(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """(title, rows): the most confident right and wrong predictions (inputs with labels),
    and the most confident input of each explained class."""

    def by_conf(rs):
        return sorted(rs, key=lambda r: -float(r.get("confidence") or 0))

    labelled = [r for r in rows if r.get("true") not in (None, "")]
    out = []
    if labelled:
        out.append(
            (
                "Most confident right",
                by_conf(r for r in labelled if r["true"] == r["predicted"])[:PER_GROUP],
            )
        )
        out.append(
            (
                "Most confident wrong",
                by_conf(r for r in labelled if r["true"] != r["predicted"])[:PER_GROUP],
            )
        )
    best: dict[str, dict] = {}
    for r in by_conf(rows):
        best.setdefault(str(r.get("explained")), r)
    out.append(
        (
            "Per class (the most confident input explained for each class)",
            list(best.values())[: 3 * PER_GROUP],
        )
    )
    return out


def _caption(r: dict) -> str:
    text = f"{r.get('predicted')} {100 * float(r.get('confidence') or 0):.0f}%"
    if r.get("true") not in (None, "") and r["true"] != r["predicted"]:
        text += f" (true {r['true']})"
    if r.get("explained") != r.get("predicted"):
        text += f"; map: {r.get('explained')}"
    return text


def _image_gallery(r: RunRecord, rows: list[dict]) -> list[Block]:
    folder = Path(str(r.extra.get("files_dir") or ""))
    blocks: list[Block] = []
    for title, group in _groups(rows):
        pngs = [
            ((folder / g["overlay"]).read_bytes(), _caption(g))
            for g in group
            if g.get("overlay") and (folder / g["overlay"]).is_file()
        ]
        if pngs:
            blocks.append(
                Image(
                    f"{r.id}-{title.split()[-1]}",
                    explain_plots.gallery(pngs),
                    f"{title}: overlays of {r.extra.get('method')}",
                    title,
                )
            )
        elif group:
            blocks.append(
                Paragraph(f"{title}: the overlays are missing from {folder}.", kind="warning")
            )
        elif title.endswith("wrong"):
            blocks.append(Paragraph("No labelled input was predicted wrong.", kind="note"))
    return blocks


def _text_gallery(rows: list[dict]) -> list[Block]:
    blocks: list[Block] = []
    for title, group in _groups(rows):
        if group:
            blocks.append(
                Table(
                    ["text", "predicted", "confidence (%)", "true", "top tokens"],
                    [
                        [
                            str(g.get("text", g.get("file")))[:120],
                            g.get("predicted"),
                            f"{100 * float(g.get('confidence') or 0):.1f}",
                            g.get("true", ""),
                            ", ".join(g.get("top_tokens") or []),
                        ]
                        for g in group
                    ],
                    caption=title,
                )
            )
    return blocks


def transfer_blocks(t: dict[str, Any], name: str, fit_config: dict | None = None) -> list[Block]:
    """What transferred: the reading, the profile plot and table, the source-class table;
    ``name`` names the plot's file, ``fit_config`` (the analysed fit run's) gives the command
    of the recipe the profile suggests."""
    src = t.get("source") or "the source model"
    out: list[Block] = []
    if t.get("reading"):
        out.append(
            Paragraph(
                f"What transferred from {src} ({t.get('examples')} target "
                f"examples of {t.get('data')}): {t['reading']}"
            )
        )
    out += _profile(t.get("blocks") or [], name)
    k = t.get("suggested_unfreeze")
    if k and fit_config:
        cfg = copy.deepcopy(fit_config)
        cfg.setdefault("train", {})["unfreeze"] = int(k)
        out.append(
            Code(
                stored_run("fit", cfg).line(),
                caption=f"The cheaper recipe it suggests (--unfreeze {k})",
            )
        )
    out += _source_classes(t.get("source_classes") or [], src)
    out += [Paragraph(n, kind="note") for n in t.get("notes") or []]
    return out


def _profile(layers: list[dict], name: str) -> list[Block]:
    """The per-block profile: weight change and CKA with the source, as a plot and a table."""
    if not layers:
        return []
    plot = Image(
        f"{name}-transfer-profile",
        explain_plots.transfer_profile(layers),
        "relative weight change and CKA with the source model per block",
        "What fine-tuning changed, per block: representations (linear CKA "
        "with the source model on the same target examples; 1 = unchanged) "
        "and weights (||W - W0|| / ||W0||)",
    )
    rows = [
        [
            b.get("block"),
            b.get("cka"),
            None if b.get("weight_change") is None else 100 * b["weight_change"],
            b.get("params"),
        ]
        for b in layers
    ]
    header = ["block", "CKA with the source", "weight change (%)", "parameters"]
    return [plot, Details("Per-block values", [Table(header, rows)])]


def _source_classes(mapping: list[dict], src: str) -> list[Block]:
    """The table of which source classes each target class's examples are predicted as."""
    if not mapping:
        return []
    rows = [
        [
            m.get("class"),
            m.get("examples"),
            "; ".join(f"{name} {100 * share:.0f}%" for name, share in m.get("sources") or []),
        ]
        for m in mapping
    ]
    return [
        Table(
            ["target class", "examples", "source classes (share)"],
            rows,
            caption=f"Which source knowledge each target class uses: the "
            f"classes of {src}'s own head its examples are "
            "predicted as (the empirical joint LEEP uses)",
        )
    ]


@SECTIONS.register("explain")
def explain_section(r: RunRecord) -> tuple[Section, list[str]]:
    rows = r.extra.get("rows") or []
    method = r.extra.get("method")
    blocks: list = status_blocks(r)
    verdicts = []
    if rows:
        labelled = [x for x in rows if x.get("true") not in (None, "")]
        right = sum(x["true"] == x["predicted"] for x in labelled)
        tally = f"; {right} of {len(labelled)} labelled inputs right" if labelled else ""
        verdicts.append(
            f"Explain run {r.id}: {len(rows)} explanations of run {r.parent}'s "
            f"predictions by {method}{tally}."
        )
        delta = r.metrics.get("max_abs_delta")
        blocks.append(
            Paragraph(
                f"{len(rows)} explanations by {method} of run {r.parent}"
                + (
                    f"; integrated gradients' largest convergence delta {delta:.2g}"
                    if delta is not None
                    else ""
                )
                + "."
            )
        )
        blocks += (
            _text_gallery(rows) if r.extra.get("modality") == "text" else _image_gallery(r, rows)
        )
    t = r.extra.get("transfer") or {}
    if t.get("reading"):
        verdicts.append(f"What transferred into run {r.parent}: {t['reading']}")
    blocks += transfer_blocks(t, r.id)
    blocks += provenance(r)
    return Section(f"Explanations {r.id} of run {r.parent}", blocks, anchor=r.id), verdicts


@FIT_BLOCKS.register("what-transferred")
def what_transferred(r: RunRecord) -> list[Block]:
    """The fit run's "what transferred" blocks, from its newest explain run's analysis; a
    note saying how to get them for a run that trained its backbone and has none yet."""
    t = r.extra.get("what_transferred")
    if t:
        return transfer_blocks(t, r.id, r.config)
    strategy = (r.extra.get("strategy_info") or {}).get("chosen") or r.config.get("strategy")
    if r.status == "done" and changes_the_source(strategy):
        return [
            Paragraph(
                f"What fine-tuning changed in the source model is not analysed yet: "
                f"`transferkit explain --run {r.id}` adds it to this report.",
                kind="note",
            )
        ]
    return []
