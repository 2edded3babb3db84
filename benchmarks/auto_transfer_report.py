"""The Markdown of ``auto_transfer.py``: per target, every method's test accuracy over seeds;
then the issue's targets, each with its measured figure."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import _common as C

ORDER = ("auto", "random", "linear", "finetune", "topk", "oracle")


def _by(cells: list[dict]) -> dict[tuple[str, str], dict[int, dict]]:
    out: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    for c in cells:
        out[(c["target"], c["method"])][c["seed"]] = c
    return out


def _pct(v: float | None, signed: bool = False) -> str:
    return C.fmt(v, 1, 100.0, signed)


def _target_rows(target: str, by: dict, seeds: list[int]) -> list[list[Any]]:
    rows = []
    for m in ORDER:
        cells = by.get((target, m), {})
        if not cells:
            continue
        tests = [cells[s]["test"] for s in seeds if s in cells and cells[s]["test"] is not None]
        walls = [cells[s]["wall_s"] for s in seeds if s in cells]
        extra = ""
        if m in ("auto", "random"):
            extra = "; ".join(
                f"s{s}: {c['chosen']['strategy']} {c['chosen']['model']}"
                f"{' @' + str(c['chosen']['image_size']) if c['chosen'].get('image_size') else ''}"
                f" ({c['complete']}/{c['trials']} trials complete)"
                for s, c in sorted(cells.items())
            )
        if m == "topk":
            extra = "; ".join(
                f"s{s}: {c['best']['strategy']} {c['best']['model']} "
                f"({len(c['first'])} one-epoch runs + {len(c['full']) - sum(not f['trained'] for f in c['first'])} full)"
                for s, c in sorted(cells.items())
            )
        if m == "oracle":
            extra = "; ".join(
                f"s{s}: {c['best']['strategy']} {c['best']['model']} ({len(c['cells'])} runs)"
                for s, c in sorted(cells.items())
            )
        rows.append(
            [
                m,
                f"{_pct(C.mean(tests))} ± {_pct(C.std(tests))}",
                ", ".join(_pct(cells[s]["test"]) if s in cells else "-" for s in seeds),
                f"{C.mean(walls):.0f}",
                extra,
            ]
        )
    return rows


def _paired(target: str, by: dict, a: str, b: str | tuple[str, str]) -> list[float]:
    """Per seed: method a minus method b (b a pair: minus the better of the two)."""
    out = []
    for s, c in by.get((target, a), {}).items():
        others = [by.get((target, x), {}).get(s) for x in ((b,) if isinstance(b, str) else b)]
        if c["test"] is None or any(o is None or o["test"] is None for o in others):
            continue
        out.append(c["test"] - max(o["test"] for o in others))
    return out


def markdown(data: dict[str, Any]) -> str:
    cells = data["cells"]
    by = _by(cells)
    targets = list(dict.fromkeys(c["target"] for c in cells))
    seeds = sorted({c["seed"] for c in cells})
    parts = [
        "# Automatic transfer: the search against fixed recipes, random search and the oracle",
        "",
        C.md_header(data["header"], data["header"].get("wall_s")),
        "",
    ]
    for t in targets:
        parts += [
            f"## {t}",
            "",
            C.md_table(
                [
                    "method",
                    "test acc % (mean ± std)",
                    f"seeds {', '.join(map(str, seeds))}",
                    "wall s",
                    "chosen",
                ],
                _target_rows(t, by, seeds),
            ),
            "",
        ]
    parts += [
        "## Targets",
        "",
        C.md_table(
            [
                "target",
                "auto - max(linear, finetune)",
                "auto - random",
                "auto - topk",
                "regret to oracle",
                "oracle's model kept by ranking",
                "oracle loss from ranking",
                "wall / budget (max)",
                "oracle grid wall / auto wall",
            ],
            [_summary_row(t, by) for t in targets],
        ),
        "",
    ]
    gains = [C.mean(_paired(t, by, "auto", ("linear", "finetune"))) for t in targets]
    gains = [g for g in gains if g == g]
    parts.append(
        f"Mean over targets of auto - max(default linear, default finetune): "
        f"{_pct(C.mean(gains), True)} points (target +1.5); worst target "
        f"{_pct(min(gains, default=float('nan')), True)} (target >= -1.0)."
    )
    regrets = [C.mean([-d for d in _paired(t, by, "auto", "oracle")]) for t in targets]
    regrets = [r for r in regrets if r == r]
    vs_random = [C.mean(_paired(t, by, "auto", "random")) for t in targets]
    vs_random = [v for v in vs_random if v == v]
    parts.append(
        f"Mean regret to the oracle over the {len(regrets)} targets that have it: "
        f"{_pct(C.mean(regrets))} points (target <= 1.0). Mean auto - random over "
        f"{len(vs_random)} targets: {_pct(C.mean(vs_random), True)} (target >= 0)."
    )
    return "\n".join(parts) + "\n"


def _summary_row(t: str, by: dict) -> list[str]:
    gain = _paired(t, by, "auto", ("linear", "finetune"))
    vs_random = _paired(t, by, "auto", "random")
    vs_topk = _paired(t, by, "auto", "topk")
    regret = [-d for d in _paired(t, by, "auto", "oracle")]
    autos, oracle = by.get((t, "auto"), {}), by.get((t, "oracle"), {})
    kept = [
        oracle[s]["best"]["model"] in c.get("kept", []) for s, c in autos.items() if s in oracle
    ]
    # what the ranking stage gave up: the oracle's best minus its best over the kept models
    lost = [
        oracle[s]["test"]
        - max((x["test"] or 0.0) for x in oracle[s]["cells"] if x["model"] in c.get("kept", []))
        for s, c in autos.items()
        if s in oracle and c.get("kept")
    ]
    ratio = max((c["wall_s"] / c["budget_s"] for c in autos.values()), default=float("nan"))
    cost = [oracle[s]["wall_s"] / c["wall_s"] for s, c in autos.items() if s in oracle]
    return [
        t,
        f"{_pct(C.mean(gain), True)} ({len(gain)} seeds)",
        f"{_pct(C.mean(vs_random), True)}",
        f"{_pct(C.mean(vs_topk), True)}",
        f"{_pct(C.mean(regret))}",
        f"{sum(kept)}/{len(kept)}" if kept else "-",
        f"{_pct(C.mean(lost))}" if lost else "-",
        f"{ratio:.2f}",
        f"{C.mean(cost):.1f}x" if cost else "-",
    ]
