"""Own pretraining: Fashion-MNIST -> MNIST and MNIST -> Fashion-MNIST with `cnn-small`.

Stage 1 pretrains one source model per method (supervised, autoencoder, vae, contrastive) on
the source dataset through the public ``transferkit.pretrain`` (labels used only by
``supervised``). Stage 2 transfers each of them to the target with ``linear`` and
``finetune`` through ``transferkit.compare`` at 1, 10 and 100 labels per class, 3 seeds, next
to ``scratch`` (the same architecture, fresh weights, the same fine-tuning recipe). Seed k's
splits and test set depend only on the target and k, so every source model and strategy of a
seed sees the same examples (paired differences). Pretrained source models are named
(``fmnist-supervised``, ...) and reused from the store on a re-run with the same ``--home``.

    .venv/bin/python benchmarks/own_pretraining.py            # both directions (1-2 h, 2 cores)
    .venv/bin/python benchmarks/own_pretraining.py --quick    # smoke test: small subsets, 1 epoch
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TRANSFERKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "own_pretraining"
METHODS = ("supervised", "autoencoder", "vae", "contrastive")
# direction: (source, target, short source name, pretraining epochs)
DIRECTIONS = {
    "fmnist-to-mnist": ("builtin:fashion-mnist", "builtin:mnist5k", "fmnist", 2),
    "mnist-to-fmnist": ("builtin:mnist5k", "builtin:fashion-mnist", "mnist", 12),
}


def pretrain_sources(source: str, short: str, epochs: int, a, clock) -> dict[str, dict]:
    """One named source model per method; reused when the store already has it finished."""
    from transferkit.runs.pretrain import pretrain
    from transferkit.store import RunStore

    store, out = RunStore(), {}
    for method in METHODS:
        name = f"{short}-{method}" + ("-quick" if a.quick else "")
        done = [r for r in store.list(kind="pretrain", status="done", limit=None) if r.name == name]
        if done:
            rec = done[0]
            clock.say(f"reusing {name} ({rec.id})")
        else:
            clock.say(f"pretraining {name} on {source} ({epochs} epochs)")
            r = pretrain(
                source,
                method=method,
                arch="cnn-small",
                epochs=epochs,
                name=name,
                seed=0,
                max_examples=a.max_source,
            )
            rec = store.get(r.run_id)
        out[method] = {
            "name": name,
            "run": rec.id,
            "metrics": rec.metrics,
            "seconds": rec.timings.get("total"),
            "epochs": epochs,
            "train_examples": rec.extra.get("splits", {}).get("train"),
        }
    return out


def transfer(target: str, sources: dict[str, dict], a, clock) -> list[dict]:
    from transferkit.runs.compare import compare

    budgets = a.labels_per_class.split(",")
    extra = {"epochs": 1} if a.quick else {}
    members = []
    runs = [("scratch", "cnn-small", ["scratch"])]
    runs += [(m, s["name"], ["linear", "finetune"]) for m, s in sources.items()]
    for source, model, strategies in runs:
        clock.say(f"transfer {model} -> {target}: {', '.join(strategies)}")
        res = compare(
            target,
            model=model,
            strategies=strategies,
            labels_per_class=budgets,
            seeds=a.seeds,
            max_test=a.max_test,
            **extra,
        )
        for m in res.members:
            members.append(
                {
                    **m,
                    "labels_per_class": str(m["labels_per_class"]),
                    "source": source,
                    "cell": "scratch" if source == "scratch" else f"{source} {m['strategy']}",
                }
            )
    return members


def summarise(members: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per (budget, cell) mean/std over seeds, and paired differences against scratch."""
    table, diffs = [], []
    budgets = sorted({m["labels_per_class"] for m in members}, key=lambda b: float(b))
    cells = list(dict.fromkeys(m["cell"] for m in members))
    by = {(m["labels_per_class"], m["cell"], m["seed"]): m["test_accuracy"] for m in members}
    for b in budgets:
        for c in cells:
            vals = [(s, v) for (bb, cc, s), v in by.items() if bb == b and cc == c]
            vals.sort()
            if not vals:
                continue
            accs = [v for _, v in vals]
            table.append(
                {
                    "labels_per_class": b,
                    "cell": c,
                    "mean": C.mean(accs),
                    "std": C.std(accs),
                    "values": accs,
                }
            )
            if c != "scratch":
                d = [v - by[(b, "scratch", s)] for s, v in vals if (b, "scratch", s) in by]
                if d:
                    diffs.append(
                        {
                            "labels_per_class": b,
                            "cell": c,
                            "mean": C.mean(d),
                            "std": C.std(d),
                            "values": d,
                            "positive": sum(x > 0 for x in d),
                        }
                    )
    return table, diffs


def markdown(direction: str, source: str, target: str, sources: dict, table, diffs) -> str:
    lines = [f"### {direction}: pretrain on `{source}`, transfer to `{target}`", ""]
    lines.append(
        C.md_table(
            ["source model", "pretraining run", "epochs", "train images", "val metric", "wall s"],
            [
                (
                    s["name"],
                    s["run"],
                    s["epochs"],
                    s["train_examples"],
                    ", ".join(f"{k} {v:.3f}" for k, v in s["metrics"].items() if k != "val_score"),
                    C.fmt(s["seconds"], 0),
                )
                for s in sources.values()
            ],
        )
    )
    lines += ["", "Test accuracy (%), mean ± std over seeds (per seed in brackets):", ""]
    budgets = list(dict.fromkeys(r["labels_per_class"] for r in table))
    cells = list(dict.fromkeys(r["cell"] for r in table))
    rows = []
    for c in cells:
        row = [c]
        for b in budgets:
            r = next((r for r in table if r["cell"] == c and r["labels_per_class"] == b), None)
            row.append(
                "-"
                if r is None
                else f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f} "
                f"({', '.join(f'{100 * v:.1f}' for v in r['values'])})"
            )
        rows.append(row)
    lines.append(C.md_table(["cell", *[f"{b} labels/class" for b in budgets]], rows))
    lines += ["", "Paired difference against scratch (points, same seeds and test set):", ""]
    rows = []
    for c in [c for c in cells if c != "scratch"]:
        row = [c]
        for b in budgets:
            d = next((d for d in diffs if d["cell"] == c and d["labels_per_class"] == b), None)
            row.append(
                "-"
                if d is None
                else f"{100 * d['mean']:+.1f} ± {100 * d['std']:.1f} "
                f"({d['positive']}/{len(d['values'])} > 0)"
            )
        rows.append(row)
    lines.append(C.md_table(["cell - scratch", *[f"{b} labels/class" for b in budgets]], rows))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--directions", default=",".join(DIRECTIONS))
    p.add_argument("--labels-per-class", default="1,10,100")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--max-source", type=int, default=None, help="subsample the source data")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--home", default=None, help="TRANSFERKIT_HOME (default: a fresh temp dir)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    p.add_argument("--quick", action="store_true", help="1000 source images, 1 epoch, 1 seed")
    a = p.parse_args()
    if a.quick:
        a.max_source, a.seeds, a.labels_per_class, a.max_test = 1000, 1, "1,10", 300
    import torch

    torch.set_num_threads(a.threads)
    home = C.fresh_home(a.home, "tk-bench-ownpre-")
    head = C.header()
    head["machine"]["torch_threads"] = a.threads
    clock = C.Clock()
    out, sections = {"header": head, "home": str(home), "directions": {}}, []
    target_10 = []
    for direction in a.directions.split(","):
        source, target, short, epochs = DIRECTIONS[direction]
        sources = pretrain_sources(source, short, 1 if a.quick else epochs, a, clock)
        members = transfer(target, sources, a, clock)
        table, diffs = summarise(members)
        out["directions"][direction] = {
            "source": source,
            "target": target,
            "sources": sources,
            "members": members,
            "table": table,
            "paired": diffs,
        }
        sections.append(markdown(direction, source, target, sources, table, diffs))
        sup = next(
            (
                d
                for d in diffs
                if d["labels_per_class"] == "10"
                and d["cell"].startswith("supervised")
                and d["mean"]
                == max(
                    x["mean"]
                    for x in diffs
                    if x["labels_per_class"] == "10" and x["cell"].startswith("supervised")
                )
            ),
            None,
        )
        if sup:
            target_10.append(
                f"- {direction}: best supervised cell at 10 labels/class "
                f"({sup['cell']}) - scratch = {100 * sup['mean']:+.1f} points "
                f"({sup['positive']}/{len(sup['values'])} seeds > 0): "
                f"**{'met' if sup['mean'] >= 0.10 else 'missed'}** (target +10)"
            )
        C.write_json(Path(a.out_dir) / f"{NAME}.json", {**out, "wall_seconds": clock.elapsed()})
    wall = clock.elapsed()
    out["wall_seconds"] = wall
    C.write_json(Path(a.out_dir) / f"{NAME}.json", out)
    text = "\n\n".join(
        [
            "## Own pretraining (cnn-small): Fashion-MNIST <-> MNIST",
            C.md_header(head, wall),
            "Recipe: library defaults for the transfer (epochs 15, batch 32, lr 1e-3, patience 5; "
            "one label per class has no validation split, so the linear head uses C=1 and "
            "fine-tuning keeps the last epoch). Pretraining: cnn-small, batch 128, lr 1e-3, 10% of "
            "the source held out for validation, epochs per direction as listed.",
            *sections,
            "### Target (from the issue)",
            "\n".join(target_10) or "- not measured",
        ]
    )
    C.write_text(Path(a.out_dir) / f"{NAME}.md", text + "\n")
    clock.say(f"done; {Path(a.out_dir) / (NAME + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
