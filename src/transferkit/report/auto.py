"""Report section for an automatic search: the choice and why, the leaderboard, the trials'
validation curves (pruned ones greyed), the ranking stage, the fixed-recipe baselines beside
the winner, and where the budget went."""

from __future__ import annotations

from typing import Any

from transferkit.report import plots, search_plots
from transferkit.report.common import provenance, status_blocks
from transferkit.report.document import Image, Paragraph, Section, Table
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) else "-"


def _baselines(board: list[dict]) -> list[list[Any]]:
    """The library defaults on validation: trial 0 (default finetune) and the linear probe of
    the default model."""
    rows = []
    trial0 = next((r for r in board if r.get("kind") == "trial" and r.get("trial") == 0), None)
    if trial0:
        rows.append(
            [
                "default finetune (trial 0)",
                trial0.get("model"),
                trial0.get("state"),
                _pct(trial0.get("val")),
            ]
        )
    lin = next(
        (
            r
            for r in board
            if r.get("kind") == "cheap"
            and r.get("strategy") == "linear"
            and r.get("model") == "effnet-lite0"
        ),
        None,
    ) or next(
        (r for r in board if r.get("kind") == "cheap" and r.get("strategy") == "linear"), None
    )
    if lin:
        rows.append(["default linear", lin.get("model"), lin.get("state"), _pct(lin.get("val"))])
    return rows


@SECTIONS.register("auto")
def auto_section(r: RunRecord) -> tuple[Section, list[str]]:
    extra, m = r.extra, r.metrics
    board = extra.get("leaderboard") or []
    chosen = extra.get("chosen") or {}
    blocks: list = status_blocks(r)
    verdicts = []
    if extra.get("why"):
        test = f"; test accuracy {_pct(m.get('test_accuracy'))}%" if "test_accuracy" in m else ""
        verdicts.append(f"The search chose {extra['why']}{test}.")
        blocks.append(
            Paragraph(
                f"Chosen by validation only: {extra['why']}. The test split "
                "was read once, for this configuration."
            )
        )
    rows = [
        [
            x.get("kind"),
            x.get("trial", ""),
            x.get("model"),
            x.get("strategy"),
            x.get("image_size") or "",
            x.get("state"),
            _pct(x.get("val")),
            f"{_pct(x.get('val_low'))}-{_pct(x.get('val_high'))}" if "val_low" in x else "",
            _pct(x.get("cv")) if "cv" in x else "",
            x.get("epochs", ""),
            f"{x['seconds']:.0f}" if x.get("seconds") is not None else "",
        ]
        for x in board[:30]
    ]
    blocks.append(
        Table(
            [
                "kind",
                "trial",
                "model",
                "strategy",
                "size",
                "state",
                "val %",
                "95% interval",
                "cv %",
                "epochs",
                "s",
            ],
            rows,
            caption="Leaderboard, best first by the selection score (the "
            "cross-validated one for cheap strategies on a tiny "
            "validation split)",
        )
    )
    trials = [x for x in board if x.get("kind") == "trial"]
    if trials:
        blocks.append(
            Image(
                f"{r.id}-trials",
                search_plots.trial_curves(trials, chosen.get("trial")),
                "validation accuracy per epoch of every trial",
                "Trials' validation curves; pruned and failed trials in grey",
            )
        )
    base = _baselines(board)
    if base:
        blocks.append(
            Table(
                ["baseline", "model", "state", "val %"],
                base,
                caption="The library's fixed recipes in the same search",
            )
        )
    ranking = (extra.get("ranking") or {}).get("rows") or []
    if ranking:
        blocks.append(
            Table(
                ["model", "status", "mean rank", "kept", "why"],
                [
                    [
                        x.get("model"),
                        x.get("status"),
                        x.get("mean_rank", ""),
                        "yes" if x.get("kept") else "no",
                        x.get("why", ""),
                    ]
                    for x in ranking
                ],
                caption="Ranking stage",
            )
        )
    stages = {
        k: float(v)
        for k, v in (extra.get("stages") or r.timings or {}).items()
        if k != "total" and isinstance(v, (int, float))
    }
    if stages and extra.get("budget_s"):
        blocks.append(
            Image(
                f"{r.id}-budget",
                plots.stage_bar(list(stages.items()), float(extra["budget_s"]), "budget"),
                "seconds per stage",
                "Where the budget went",
            )
        )
    blocks += provenance(
        r, f"transferkit auto --data {r.config.get('data')} --budget {r.config.get('budget')}"
    )
    return Section(f"Automatic search {r.id}", blocks, anchor=r.id), verdicts
