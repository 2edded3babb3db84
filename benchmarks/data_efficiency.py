"""Data-efficiency curve: EfficientNet-Lite0 (ImageNet) -> Fashion-MNIST.

Strategies scratch / linear / finetune at 10, 50, 100 and 500 labels per class, 3 seeds,
through the public ``transferkit.compare`` (paired splits per seed, the library's default
recipe; scratch first, so the paired differences and verdicts are the transfer gain), then the
report (table, curve with 95% intervals, verdicts) through ``transferkit.report.build_report``.
The largest budget can be run with fewer seeds (``--largest-seeds``): on 2 CPU cores one
finetune run at 500 labels/class and 64 px takes about half an hour. Seed k's splits and test
set are the same whichever budgets run, so the table merges both comparisons. Writes results/data_efficiency.{json,md} and the report
under results/data_efficiency_report/.

    .venv/bin/python benchmarks/data_efficiency.py            # the full grid (hours on 2 CPU cores)
    .venv/bin/python benchmarks/data_efficiency.py --quick    # smoke test: tiny-cnn on digits
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TRANSFERKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "data_efficiency"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="builtin:fashion-mnist")
    p.add_argument("--model", default="effnet-lite0")
    p.add_argument("--strategies", default="scratch,linear,finetune")
    p.add_argument("--labels-per-class", default="10,50,100,500")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--largest-seeds",
        default=None,
        help="seeds for the largest budget: a count N (seeds 0..N-1) or a list "
        "such as 1,2 (default: --seeds)",
    )
    p.add_argument(
        "--only-largest",
        action="store_true",
        help="run only the largest budget (with --previous: add seeds to it)",
    )
    p.add_argument(
        "--train",
        default=None,
        help="with --previous: train only these strategies (a subset of "
        "--strategies); the others' cells come from the earlier run",
    )
    p.add_argument(
        "--previous",
        default=None,
        help="an earlier results JSON of this script: its member runs are kept and "
        "only the missing (strategy, budget, seed) cells are trained",
    )
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--home", default=None, help="TRANSFERKIT_HOME (default: a fresh temp dir)")
    p.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--quick", action="store_true", help="tiny-cnn on digits, 2 seeds, 1 epoch")
    a = p.parse_args()
    if a.quick:
        a.data, a.model, a.labels_per_class, a.seeds = "builtin:digits", "tiny-cnn", "5,10", 2
        a.image_size, a.max_test = 32, 200
    import torch

    torch.set_num_threads(a.threads)
    home = C.fresh_home(a.home, "tk-bench-dataeff-")
    clock = C.Clock()
    head = C.header()
    head["machine"]["torch_threads"] = a.threads
    from transferkit.evaluation.compare import parse_budgets, summarise
    from transferkit.report import build_report, plots
    from transferkit.runs.compare import compare
    from transferkit.store import RunStore

    extra = {"epochs": 1} if a.quick else {}
    strategies = a.strategies.split(",")
    budgets = a.labels_per_class.split(",")
    largest = (
        a.seeds
        if a.largest_seeds is None
        else (
            [int(s) for s in a.largest_seeds.split(",")]
            if "," in a.largest_seeds
            else int(a.largest_seeds)
        )
    )
    groups = [(budgets, a.seeds)]
    if largest != a.seeds and len(budgets) > 1:
        groups = [(budgets[:-1], a.seeds), (budgets[-1:], largest)]
    if a.only_largest:
        groups = [(budgets[-1:], largest)]
    previous = json.loads(Path(a.previous).read_text()) if a.previous else None
    to_train = a.train.split(",") if a.train else strategies
    if a.train and (previous is None or not set(to_train) <= set(strategies)):
        p.error("--train needs --previous and names a subset of --strategies")
    results = [
        compare(
            a.data,
            model=a.model,
            strategies=to_train,
            labels_per_class=b,
            seeds=n,
            image_size=a.image_size,
            max_test=a.max_test,
            **extra,
        )
        for b, n in groups
    ]
    members = [m for r in results for m in r.members]
    if previous is not None:
        # Seed k's splits and test set depend only on k, so earlier cells pair with new ones.
        new = {(m["strategy"], m["labels_per_class"], m["seed"]) for m in members}
        members = [
            m
            for m in previous["members"]
            if (m["strategy"], m["labels_per_class"], m["seed"]) not in new
        ] + members
    # the table covers every budget trained now or merged from --previous
    merged = [str(m["labels_per_class"]) for m in members]
    budgets_all = budgets + sorted(
        set(merged) - set(budgets), key=lambda b: (not b.isdigit(), int(b) if b.isdigit() else 0)
    )
    table, paired, verdicts = summarise(members, strategies, parse_budgets(budgets_all))
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{NAME}.png").write_bytes(
        plots.data_efficiency(table, title=f"{a.model} -> {a.data} ({a.image_size} px)")
    )
    store = RunStore()
    html, md = build_report(
        [store.get(r.compare_id) for r in results],
        out / f"{NAME}_report",
        title="Data efficiency: " + f"{a.model} -> {a.data}",
    )
    wall = clock.elapsed()
    C.write_json(
        out / f"{NAME}.json",
        {
            "header": head,
            "home": str(home),
            "compares": [r.compare_id for r in results],
            "previous": None
            if previous is None
            else {
                "file": a.previous,
                "header": previous["header"],
                "compares": previous["compares"],
            },
            "table": table,
            "paired": paired,
            "verdicts": verdicts,
            "members": members,
            "wall_seconds": wall,
        },
    )
    trained = ", ".join(
        sorted(
            {
                f"{m['strategy']} @ {m['labels_per_class']} seed {m['seed']}"
                for r in results
                for m in r.members
            }
        )
    )
    rows = [
        (
            r["labels_per_class"],
            r["strategy"],
            C.fmt(r["mean"], 1, 100),
            C.fmt(r["std"], 1, 100),
            "-" if r["ci_low"] is None else f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}",
            ", ".join(f"{100 * v:.1f}" for v in r["values"]),
        )
        for r in table
    ]
    text = "\n\n".join(
        [
            f"## Data efficiency: {a.model} -> {a.data}",
            C.md_header(head, wall),
            *(
                [
                    f"Merged with the member runs of an earlier run of this script "
                    f"({previous['header']['date']}, command `{previous['header']['command']}`): "
                    f"this run trained only {trained}; the other cells are the earlier run's. The "
                    "report linked below covers this run's comparisons only."
                ]
                if previous is not None
                else []
            ),
            C.md_table(
                ["labels/class", "strategy", "test acc mean", "std", "95% CI", "per seed"], rows
            ),
            "\n".join(f"- {v}" for v in verdicts),
            f"![data-efficiency curve]({NAME}.png)",
            f"Report: `{html.relative_to(out.parent) if out.parent in html.parents else html}`",
        ]
    )
    C.write_text(out / f"{NAME}.md", text + "\n")
    clock.say(f"done; {out / (NAME + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
