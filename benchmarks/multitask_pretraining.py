"""Multi-task pretraining (issue 33): MNIST 5k + Fashion-MNIST -> held-out classes, cnn-small.

Sources: MNIST 5k and the Fashion-MNIST training images of five classes (T-shirt/top, Trouser,
Pullover, Dress, Coat). Target: the other five Fashion-MNIST classes (Sandal, Shirt, Sneaker,
Bag, Ankle boot; train and test images), which no source model ever saw; optionally the
simulated textile defects of PyPI's conformal-clip-data (``--targets ...,textile``).

Stage 1 pretrains, through the public ``transferkit.pretrain``, one ``supervised`` source model
per source and one ``multitask`` model on both (one per ``--task-weights`` value), every one
for about the same number of training examples (``--source-examples``; epochs = that / the
source's training size, at least 1). Stage 2 transfers each with ``linear`` and ``finetune``
through ``transferkit.compare`` at 10 and 100 labels per class, 3 seeds, next to ``scratch``.
Seed k's splits and test set depend only on the target and k, so the cells of a seed are
paired: the multi-task source is compared with each single-task source (same strategy) and
with scratch by the mean paired difference and its 95% t-interval over seeds.

Resumable: with the same ``--home`` a re-run reuses the finished source models (by name) and
the finished fits of ``compare`` (its own reuse), so only the missing cells run.

    .venv/bin/python benchmarks/multitask_pretraining.py --home ~/tk-mt    # the measurement
    .venv/bin/python benchmarks/multitask_pretraining.py --quick           # smoke test (minutes)
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TRANSFERKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "multitask_pretraining"
SEEN, UNSEEN = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)  # Fashion-MNIST class indices
SINGLE = ("mnist", "fmnist5")  # the single-task source models
STRATEGIES = ("linear", "finetune")


def write_data(home: Path) -> dict[str, str]:
    """The source and target .npz files of the Fashion-MNIST class split (written once)."""
    import numpy as np

    import transferkit

    folder = home / "bench-data"
    paths = {
        "fmnist5": folder / "fmnist-seen5.npz",
        "fmnist-unseen5": folder / "fmnist-unseen5.npz",
    }
    if not all(p.is_file() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        ds = transferkit.load_dataset("builtin:fashion-mnist")
        train = np.asarray(ds.predefined) != "test"
        for key, classes, rows in (
            ("fmnist5", SEEN, train),  # the source: training images only
            ("fmnist-unseen5", UNSEEN, np.ones(len(ds), bool)),
        ):
            keep = rows & np.isin(ds.labels, classes)
            names = np.asarray(ds.classes)[ds.labels[keep]]
            np.savez(paths[key], x=ds.images[keep], y=names)
    return {k: str(p) for k, p in paths.items()}


def textile_folder() -> str:
    spec = importlib.util.find_spec("conformal_clip_data")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--targets textile needs: pip install --no-deps conformal-clip-data")
    return str(Path(next(iter(spec.submodule_search_locations))) / "data/textile_images/simulated")


def source_plan(a, data: dict[str, str]) -> list[dict]:
    """(name, method, data, options) of every source model."""
    suffix = "-quick" if a.quick else ""
    both = f"builtin:mnist5k,{data['fmnist5']}"
    plan = [
        {"key": "mnist", "method": "supervised", "data": "builtin:mnist5k", "options": {}},
        {"key": "fmnist5", "method": "supervised", "data": data["fmnist5"], "options": {}},
    ]
    for w in a.task_weights.split(","):
        plan.append(
            {
                "key": f"multitask-{w}",
                "method": "multitask",
                "data": both,
                "options": {"task_weights": w},
            }
        )
    for p in plan:
        p["name"] = f"mt-bench-{p['key']}{suffix}"
    return plan


def pretrain_sources(a, data, clock) -> dict[str, dict]:
    """Pretrain (or reuse, by name) every source model for about ``--source-examples``."""
    from transferkit.runs.pretrain import pretrain
    from transferkit.store import RunStore

    store, out = RunStore(), {}
    for p in source_plan(a, data):
        done = [
            r for r in store.list(kind="pretrain", status="done", limit=None) if r.name == p["name"]
        ]
        if done:
            rec = done[0]
            clock.say(f"reusing {p['name']} ({rec.id})")
        else:
            n = _train_size(p["data"], a)
            epochs = max(1, round(a.source_examples / n))
            clock.say(f"pretraining {p['name']} ({p['method']}, {epochs} epochs of {n})")
            r = pretrain(
                p["data"],
                method=p["method"],
                arch="cnn-small",
                epochs=epochs,
                name=p["name"],
                seed=0,
                max_examples=a.max_source,
                **p["options"],
            )
            rec = store.get(r.run_id)
        out[p["key"]] = {
            **p,
            "run": rec.id,
            "metrics": rec.metrics,
            "epochs": rec.config.get("epochs"),
            "train_examples": rec.extra.get("splits", {}).get("train"),
            "seconds": rec.timings.get("total"),
        }
    return out


def _train_size(spec: str, a) -> int:
    import transferkit

    total = 0
    for s in spec.split(","):
        ds = transferkit.load_dataset(s)
        n = len(ds) if ds.predefined is None else int((ds.predefined != "test").sum())
        total += min(n, a.max_source) if a.max_source else n
    return max(1, int(total * 0.9))


def transfer(target: str, spec: str, sources: dict, a, clock) -> list[dict]:
    from transferkit.runs.compare import compare

    extra = {"epochs": 1} if a.quick else {}
    runs = [("scratch", "cnn-small", ["scratch"])]
    runs += [(k, s["name"], list(STRATEGIES)) for k, s in sources.items()]
    members = []
    for key, model, strategies in runs:
        clock.say(f"{target}: {model} with {', '.join(strategies)}")
        res = compare(
            spec,
            model=model,
            strategies=strategies,
            seeds=a.seeds,
            labels_per_class=a.labels_per_class.split(","),
            max_test=a.max_test,
            **extra,
        )
        for m in res.members:
            cell = "scratch" if key == "scratch" else f"{key} {m['strategy']}"
            members.append(
                {**m, "labels_per_class": str(m["labels_per_class"]), "source": key, "cell": cell}
            )
    return members


def interval(d: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval of paired differences (no interval from one seed)."""
    from scipy import stats

    m = C.mean(d)
    if len(d) < 2:
        return m, float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(d) - 1) * C.std(d) / math.sqrt(len(d))
    return m, m - half, m + half


def paired(members: list[dict], sources: dict) -> list[dict]:
    """Each multi-task cell minus scratch and minus each single-task source (same strategy)."""
    by = {(m["labels_per_class"], m["cell"], m["seed"]): m["test_accuracy"] for m in members}
    out = []
    for b in sorted({m["labels_per_class"] for m in members}, key=float):
        for key in [k for k in sources if k.startswith("multitask")]:
            for s in STRATEGIES:
                for other in ("scratch", *(f"{k} {s}" for k in SINGLE)):
                    seeds = sorted(sd for (bb, c, sd) in by if bb == b and c == f"{key} {s}")
                    d = [
                        by[(b, f"{key} {s}", sd)] - by[(b, other, sd)]
                        for sd in seeds
                        if (b, other, sd) in by
                    ]
                    if d:
                        mean, lo, hi = interval(d)
                        out.append(
                            {
                                "labels_per_class": b,
                                "cell": f"{key} {s}",
                                "against": other,
                                "mean": mean,
                                "ci_low": lo,
                                "ci_high": hi,
                                "values": d,
                            }
                        )
    return out


def accuracy_table(members: list[dict]) -> tuple[list[str], list[list[str]]]:
    budgets = sorted({m["labels_per_class"] for m in members}, key=float)
    rows = []
    for c in dict.fromkeys(m["cell"] for m in members):
        row = [c]
        for b in budgets:
            v = [
                m["test_accuracy"] for m in members if m["cell"] == c and m["labels_per_class"] == b
            ]
            row.append(f"{100 * C.mean(v):.1f} ± {100 * C.std(v):.1f}" if v else "-")
        rows.append(row)
    return ["cell", *[f"{b} labels/class" for b in budgets]], rows


def verdict(members: list[dict], sources: dict) -> list[str]:
    """Target of the issue: the multi-task source >= the best single-task source on average
    (over strategies and budgets, the best single source chosen per strategy and budget)."""
    lines = []
    cells = {(m["labels_per_class"], m["cell"]) for m in members}
    for key in [k for k in sources if k.startswith("multitask")]:
        gaps = []
        for b, cell in sorted(cells):
            if not cell.startswith(f"{key} "):
                continue
            s = cell.split()[-1]
            mt = C.mean(
                [
                    m["test_accuracy"]
                    for m in members
                    if (m["labels_per_class"], m["cell"]) == (b, cell)
                ]
            )
            best = max(
                C.mean(
                    [
                        m["test_accuracy"]
                        for m in members
                        if (m["labels_per_class"], m["cell"]) == (b, f"{k} {s}")
                    ]
                    or [0]
                )
                for k in SINGLE
            )
            gaps.append(mt - best)
        if gaps:
            g = C.mean(gaps)
            lines.append(
                f"- {key}: {100 * g:+.1f} points against the best single-task source on "
                f"average over {len(gaps)} cells: **{'met' if g >= 0 else 'missed'}**"
            )
    return lines


def markdown(target: str, sources: dict, members: list[dict], diffs: list[dict]) -> str:
    head, rows = accuracy_table(members)
    lines = [
        f"### Target `{target}`",
        "",
        "Test accuracy (%), mean ± std over seeds:",
        "",
        C.md_table(head, rows),
        "",
        "Paired differences (points; 95% t-interval over seeds; per seed in brackets):",
        "",
    ]
    table = [
        [
            d["cell"],
            d["against"],
            d["labels_per_class"],
            f"{100 * d['mean']:+.1f} [{C.fmt(d['ci_low'], 1, 100)}, {C.fmt(d['ci_high'], 1, 100)}]",
            ", ".join(f"{100 * v:+.1f}" for v in d["values"]),
        ]
        for d in diffs
    ]
    lines.append(
        C.md_table(["multi-task cell", "minus", "labels/class", "mean [95% CI]", "seeds"], table)
    )
    lines += [
        "",
        "Target (from the issue):",
        "",
        *(verdict(members, sources) or ["- not measured"]),
    ]
    return "\n".join(lines)


def sources_markdown(sources: dict) -> str:
    rows = [
        (
            s["name"],
            s["method"] + (f" ({s['options']['task_weights']})" if s["options"] else ""),
            s["data"].replace(os.environ["TRANSFERKIT_HOME"], "$TRANSFERKIT_HOME"),
            s["run"],
            s["epochs"],
            s["train_examples"],
            ", ".join(
                f"{k} {v:.3f}" for k, v in s["metrics"].items() if k in ("val_accuracy", "val_loss")
            ),
            C.fmt(s["seconds"], 0),
        )
        for s in sources.values()
    ]
    return C.md_table(
        ["source model", "method", "data", "run", "epochs", "train images", "val", "wall s"], rows
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="fmnist-unseen5", help="fmnist-unseen5 and/or textile")
    p.add_argument("--labels-per-class", default="10,100")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument(
        "--task-weights", default="uniform", help="multitask models: uniform,uncertainty,size"
    )
    p.add_argument(
        "--source-examples", type=int, default=60000, help="training examples per source model"
    )
    p.add_argument("--max-source", type=int, default=None, help="subsample each source")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--home", default=None, help="TRANSFERKIT_HOME (reuse it to resume)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    p.add_argument("--quick", action="store_true", help="600 images per source, 1 epoch, 2 seeds")
    a = p.parse_args()
    if a.quick:
        a.max_source, a.source_examples, a.seeds, a.labels_per_class, a.max_test = (
            600,
            1,
            2,
            "10",
            200,
        )
    import torch

    torch.set_num_threads(a.threads)
    home = C.fresh_home(a.home, "tk-bench-multitask-")
    head = C.header()
    head["machine"]["torch_threads"] = a.threads
    clock = C.Clock()
    data = write_data(home)
    sources = pretrain_sources(a, data, clock)
    out = {"header": head, "home": str(home), "sources": sources, "targets": {}}
    sections = []
    for target in a.targets.split(","):
        spec = textile_folder() if target == "textile" else data[target]
        members = transfer(target, spec, sources, a, clock)
        diffs = paired(members, sources)
        out["targets"][target] = {
            "data": spec,
            "members": members,
            "paired": diffs,
            "verdict": verdict(members, sources),
        }
        sections.append(markdown(target, sources, members, diffs))
        C.write_json(Path(a.out_dir) / f"{NAME}.json", {**out, "wall_seconds": clock.elapsed()})
    out["wall_seconds"] = wall = clock.elapsed()
    text = "\n\n".join(
        [
            "## Multi-task pretraining (cnn-small): MNIST 5k + Fashion-MNIST (5 classes) -> unseen classes",
            C.md_header(head, wall),
            "Source models: cnn-small, batch 128, lr 1e-3, 10% of each source held out for "
            + (
                "validation; --quick: one epoch on 600 images per source"
                if a.quick
                else f"validation, about {a.source_examples} training examples each (epochs below)"
            )
            + "; the "
            "multi-task model mixes the tasks by temperature sampling (T = 2). Transfer: library "
            "defaults (epochs 15, batch 32, lr 1e-3, patience 5).",
            sources_markdown(sources),
            *sections,
        ]
    )
    C.write_results(Path(a.out_dir), NAME, out, text + "\n", clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
