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
    """The search's section: its choice, leaderboard, trials, baselines, ranking and budget;
    and the verdict (what was chosen, its test accuracy) for the report's summary."""
    extra = r.extra
    board = extra.get("leaderboard") or []
    blocks: list = status_blocks(r)
    choice, verdicts = _choice(extra.get("why"), r.metrics, extra.get("selection") or {})
    blocks += choice
    blocks.append(_leaderboard_table(board))
    trials = [x for x in board if x.get("kind") == "trial"]
    if trials:
        chosen = (extra.get("chosen") or {}).get("trial")
        blocks.append(
            Image(
                f"{r.id}-trials",
                search_plots.trial_curves(trials, chosen),
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
        blocks.append(_ranking_table(ranking))
    blocks += _budget_plot(r)
    blocks += provenance(r)
    return Section(f"Automatic search {r.id}", blocks, anchor=r.id), verdicts


def _choice(
    why: str | None, metrics: dict[str, Any], selection: dict[str, Any]
) -> tuple[list, list[str]]:
    """The paragraphs saying how and what was chosen and why, and the summary's verdict."""
    if not why:
        return [], []
    test = (
        f"; test accuracy {_pct(metrics.get('test_accuracy'))}%"
        if "test_accuracy" in metrics
        else ""
    )
    how = selection.get("reason") or "chosen on the validation split"
    blocks = [
        Paragraph(f"How: {how}."),
        Paragraph(
            f"Chosen on held-out predictions only: {why}. The test split was read once, for "
            "this model."
        ),
    ]
    return blocks, [f"The search chose {why}{test}."]


def _leaderboard_table(board: list[dict]) -> Table:
    """The first 30 rows of the leaderboard, best first."""
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
            _pct(x.get("oof", x.get("cv"))) if "oof" in x or "cv" in x else "",
            x.get("weight", ""),
            x.get("epochs", ""),
            f"{x['seconds']:.0f}" if x.get("seconds") is not None else "",
        ]
        for x in board[:30]
    ]
    columns = ["kind", "trial", "model", "strategy", "size", "state", "val %"]
    columns += ["95% interval", "oof/cv %", "ensemble weight", "epochs", "s"]
    return Table(
        columns,
        rows,
        caption="Leaderboard, best first by the selection score: out-of-fold on every label "
        "for the configurations the k-fold stage scored (small data), else cross-validated "
        "(the linear probe on a tiny validation split) or validation",
    )


def _ranking_table(ranking: list[dict]) -> Table:
    """The ranking stage: every candidate, its mean rank, and why it was kept or not."""
    return Table(
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


def _budget_plot(r: RunRecord) -> list[Image | Paragraph]:
    """Seconds per stage against the budget, after the time of each call that was interrupted
    (the budget is the total of all calls), and the same in words; none when the record has
    no stage timings."""
    extra, finished = r.extra, r.status == "done"
    parts = search_plots.budget_parts(extra, r.timings or {}, finished)
    if not (parts and extra.get("budget_s")):
        return []
    budget = float(extra["budget_s"])
    return [
        Image(
            f"{r.id}-budget",
            plots.stage_bar(parts, budget, "budget"),
            "seconds per stage, after the time spent before each interruption",
            "Where the budget went",
        ),
        Paragraph(search_plots.budget_words(parts, budget, r.status)),
    ]
