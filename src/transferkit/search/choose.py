"""The rules that turn the stages' results into one choice, by validation only.

The leaderboard holds every cheap run and every trial with its validation score (the metric
the search maximises), its 95% interval and what it cost. The choice:

1. among the cheap strategies, the best by cross-validation on the labelled pool when the
   validation split is tiny (the stage computed it), else by validation;
2. among the trials, the best completed one by validation; a tie (common on a small validation
   split, where many trials reach the same accuracy, often 1.0) goes to the lower validation
   log-loss, a proper scoring rule that still separates them, then to the faster run;
3. a trial is chosen over the best cheap strategy only when its validation score is higher by
   more than one standard error of that score (sqrt(p (1 - p) / n) on n validation examples):
   the best of many trials on a small validation split is optimistic by about that much, while
   the cheap strategies had no such search.

The test split plays no part; it is read once, after the choice.
"""

from __future__ import annotations

import math
from typing import Any

from transferkit.errors import UserError
from transferkit.search.cheap import val_interval


def leaderboard(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completed rows best first (by their selection score: out-of-fold when the k-fold stage
    scored them, else cross-validated or validation), with intervals; then the others."""

    def complete(r: dict[str, Any]) -> bool:
        return r.get("state") == "complete" and r.get("val") is not None

    done = [dict(r) for r in rows if complete(r)]
    for r in done:
        r["score"] = r.get("oof", r.get("cv", r["val"]))
        r["val_low"], r["val_high"] = val_interval(r["val"], int(r.get("n_val") or 0))
    # rows scored out-of-fold on every label first: their scores are not comparable with
    # the validation scores of the rows the k-fold stage left out
    done.sort(key=lambda r: ("oof" not in r, -r["score"], *_tie_break(r)))
    return done + [dict(r) for r in rows if not complete(r)]


def _tie_break(row: dict[str, Any]) -> tuple[float, float]:
    """Among rows of equal score: lower validation log-loss first, then the faster run."""
    nll = row.get("val_nll")
    return (math.inf if nll is None else float(nll), float(row.get("seconds") or 0.0))


def standard_error(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else 1.0


def choose(board: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """The chosen row and the reason, in words."""
    done = [r for r in board if r.get("state") == "complete" and r.get("val") is not None]
    if not done:
        _refuse(board)
    cheap = [r for r in done if r["kind"] == "cheap"]
    trials = [r for r in done if r["kind"] == "trial"]
    best_cheap = min(cheap, key=lambda r: (-r["score"], *_tie_break(r))) if cheap else None
    best_trial = min(trials, key=lambda r: (-r["val"], *_tie_break(r))) if trials else None
    if best_trial is None:
        return best_cheap, _why(best_cheap, "the best cheap strategy; no trial completed")
    if best_cheap is None:
        return best_trial, _why(best_trial, "the best trial by validation")
    se = standard_error(best_cheap["val"], int(best_trial.get("n_val") or 0))
    if best_trial["val"] > best_cheap["val"] + se:
        return best_trial, _why(
            best_trial,
            f"the best trial, ahead of the best cheap strategy "
            f"({_name(best_cheap)}, {best_cheap['val']:.4f}) by "
            f"more than one standard error ({se:.4f})",
        )
    return best_cheap, _why(
        best_cheap,
        f"the best cheap strategy; the best trial "
        f"({_name(best_trial)}, {best_trial['val']:.4f}) is not "
        f"ahead by more than one standard error ({se:.4f})",
    )


def _refuse(board: list[dict[str, Any]]) -> None:
    """No row completed: say why each failed (the first eight), or that none ran."""
    failed = "; ".join(
        f"{r.get('model')} {r.get('strategy')}: {r.get('reason')}"
        for r in board[:8]
        if r.get("model")
    )
    if not failed:
        raise UserError(
            "The search ran no configuration: no cheap strategy was among --strategies and "
            "no trial ran. Add linear to --strategies, or give the trials room (--trials above "
            "0, a larger --budget)."
        )
    raise UserError(
        f"Every configuration of the search failed ({failed}). Fix the cause "
        "named above, or give a larger --budget."
    )


def _name(r: dict[str, Any]) -> str:
    size = f" @{r['image_size']}px" if r.get("image_size") else ""
    trial = f" (trial {r['trial']})" if r["kind"] == "trial" else ""
    return f"{r['strategy']} {r['model']}{size}{trial}"


def _why(r: dict[str, Any], rule: str) -> str:
    extra = f", cross-validated {r['cv']:.4f}" if "cv" in r else ""
    return f"{_name(r)}: validation {r['val']:.4f}{extra}; {rule}"
