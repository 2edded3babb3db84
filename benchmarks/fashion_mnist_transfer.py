"""Benchmark: EfficientNet-Lite0 (ImageNet) -> Fashion-MNIST, linear / finetune / scratch.

What it measures
----------------
1. Transfer accuracy. For every seed, label budget (labels per class, covering train *and*
   validation) and strategy, one ``transferkit.fit(...)`` call through the public API with the
   library's default recipe, on ``builtin:fashion-mnist`` with a stratified test subset of the
   official test split (``max_test``). Within a seed every strategy and budget sees the same test
   examples and nested labelled examples (see ``transferkit.data.splits``), so strategies are
   paired by seed. Reported: test accuracy mean / std over seeds and per seed, validation
   accuracy, wall time per run, and the paired differences finetune - linear, finetune -
   scratch and linear - scratch.
2. Feature-extraction throughput. For the same N preprocessed examples, (a) a bare loop of
   ``backbone.forward_features`` over pre-made tensor batches under ``torch.no_grad()`` and (b)
   ``transferkit.features.extract_features(..., cache=None)`` (decoding + transforms + batching
   + forward), alternated ``--extract-repeats`` times; images/s for both and the ratio (b)/(a).

Runs use a fresh TRANSFERKIT_HOME (a temporary folder unless ``--home``), so the user's run
store is not touched; the feature cache inside it is shared by the cells of one invocation, as
it would be for a user (linear and the LP-FT head of finetune reuse cached features of the
pretrained backbone), which makes later cells of a seed faster.

Writes ``benchmarks/results/fashion_mnist_transfer.json`` (raw numbers) and ``.md`` (tables).

    .venv/bin/python benchmarks/fashion_mnist_transfer.py            # full: ~40 min on 2 cores
    .venv/bin/python benchmarks/fashion_mnist_transfer.py --quick    # smoke test: ~1-2 min
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("TRANSFERKIT_QUIET", "1")  # library progress off; one line per cell here
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "fashion_mnist_transfer"
DATA = "builtin:fashion-mnist"
MODEL = "effnet-lite0"
STRATEGIES = ("linear", "finetune", "scratch")
PAIRS = (("finetune", "linear"), ("finetune", "scratch"), ("linear", "scratch"))
TARGET_RATIO = 0.9
DEFAULT_IMAGE_SIZE = 64
DEFAULT_THREADS = 1
IMAGE_SIZE_NOTE = (
    "64 px (the 28 px images upscaled; EfficientNet-Lite0's last feature map is 2x2 at 64 px, "
    "1x1 at 32 px). Calibration on this 2-core machine while other processes shared it (load "
    "3-7): one finetune run (seed 0, 100 labels/class, default recipe) took 963 s for 10 "
    "epochs (early-stopped) with 2 torch threads. A micro-benchmark showed why: under that load "
    "a training step at 64 px ran at 7 img/s with 2 threads but 31 img/s with 1 thread (eval "
    "forward 49 vs 138 img/s; 48 px: 54 train img/s, 32 px: 90 train img/s, all 1 thread). "
    "So the benchmark uses 1 torch thread, and 64 px is estimated at 30-45 min for the whole "
    "grid (48 px would be ~25-35 min)."
)
TARGET_MARGIN = 0.05  # finetune and linear at least 5 points above scratch at 100 labels/class


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--seeds", type=int_list, default=[0, 1, 2], help="comma-separated seeds")
    p.add_argument(
        "--labels-per-class",
        type=int_list,
        default=[10, 100],
        help="comma-separated label budgets (train + validation per class)",
    )
    p.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help="comma-separated subset of linear,finetune,scratch",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=DEFAULT_IMAGE_SIZE,
        help="square input size (EfficientNet-Lite0's native size is 224)",
    )
    p.add_argument("--max-test", type=int, default=2000, help="stratified test subset size")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="override the library's default epochs (same for finetune and scratch)",
    )
    p.add_argument(
        "--extract-n",
        type=int,
        default=512,
        help="examples for the throughput test at --image-size (0: skip)",
    )
    p.add_argument(
        "--extract-n-224",
        type=int,
        default=128,
        help="examples for the throughput test at 224 px (0: skip)",
    )
    p.add_argument("--extract-repeats", type=int, default=3, help="alternations of (a) and (b)")
    p.add_argument(
        "--extract-batch-size",
        type=int,
        default=64,
        help="batch size of both extraction paths (fit uses 2 x batch_size = 64)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="torch.set_num_threads for everything in this run; 1 by default because on a "
        "shared 2-core machine 2 threads ran 4-6x slower (thread oversubscription)",
    )
    p.add_argument(
        "--home",
        default=None,
        help="TRANSFERKIT_HOME for the runs (default: a new temporary folder)",
    )
    p.add_argument(
        "--out-dir",
        default=None,
        help="where the .json/.md go (default benchmarks/results; --quick: the home)",
    )
    p.add_argument("--no-grid", action="store_true", help="only the extraction throughput, no fits")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 seed, 10 labels/class, 200 test, 2 epochs, small extraction",
    )
    args = p.parse_args(argv)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = set(args.strategies) - set(STRATEGIES)
    if unknown:
        p.error(f"unknown strategies {sorted(unknown)}; choose from {', '.join(STRATEGIES)}")
    if args.quick:
        args.seeds, args.labels_per_class, args.max_test = [0], [10], 200
        args.epochs = 2 if args.epochs is None else args.epochs
        args.extract_n, args.extract_n_224, args.extract_repeats = 64, 16, 2
    return args


# -- 1. transfer accuracy --------------------------------------------------------------------------
def run_cell(seed: int, lpc: int, strategy: str, args: argparse.Namespace) -> dict[str, Any]:
    """One fit through the public API; returns its numbers."""
    import transferkit
    from transferkit.store import RunStore

    overrides: dict[str, Any] = {}
    if args.epochs is not None:
        overrides["epochs"] = (
            args.epochs
        )  # applies to finetune and scratch alike; linear ignores it
    t0 = time.perf_counter()
    result = transferkit.fit(
        DATA,
        model=MODEL,
        strategy=strategy,
        seed=seed,
        labels_per_class=lpc,
        max_test=args.max_test,
        image_size=args.image_size,
        **overrides,
    )
    wall = time.perf_counter() - t0
    record = RunStore().get(result.run_id)
    hist = result.history
    if strategy == "linear":  # held-out val accuracy of the chosen C (before the train+val refit)
        val_sel = max((r["val_accuracy"] for r in result.info.get("c_sweep", [])), default=None)
    else:  # best epoch's val accuracy (the checkpoint that is kept)
        val_sel = max((h["val_accuracy"] for h in hist), default=None)
    info = {k: v for k, v in result.info.items() if k != "c_sweep"}
    return {
        "seed": seed,
        "labels_per_class": lpc,
        "strategy": strategy,
        "run_id": result.run_id,
        "test_accuracy": result.metrics.get("test_accuracy"),
        "val_accuracy": val_sel,
        "val_accuracy_final_model": result.metrics.get("val_accuracy"),
        "wall_seconds": wall,
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "timings": record.timings,
        "splits": record.extra.get("splits"),
        "epochs_run": len(hist) if strategy != "linear" else None,
        "info": info,
        "history": hist,
        "metrics": {k: v for k, v in result.metrics.items() if not isinstance(v, (list, dict))},
    }


def summarise(cells: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Per (budget, strategy) means/stds and per-seed paired differences."""
    groups: dict[str, Any] = {}
    for lpc in args.labels_per_class:
        for s in args.strategies:
            rows = sorted(
                (c for c in cells if c["labels_per_class"] == lpc and c["strategy"] == s),
                key=lambda c: c["seed"],
            )
            if not rows:
                continue
            acc = [c["test_accuracy"] for c in rows]
            val = [c["val_accuracy"] for c in rows if c["val_accuracy"] is not None]
            wall = [c["wall_seconds"] for c in rows]
            groups[f"{lpc}/{s}"] = {
                "labels_per_class": lpc,
                "strategy": s,
                "n": len(rows),
                "test_accuracy_mean": C.mean(acc),
                "test_accuracy_std": C.std(acc),
                "test_accuracy_per_seed": {c["seed"]: c["test_accuracy"] for c in rows},
                "val_accuracy_mean": C.mean(val),
                "val_accuracy_std": C.std(val),
                "wall_seconds_mean": C.mean(wall),
                "wall_seconds_per_seed": wall,
                "epochs_run_per_seed": [c["epochs_run"] for c in rows],
                "best_epoch_per_seed": [c["info"].get("best_epoch") for c in rows],
            }
    diffs: dict[str, Any] = {}
    for lpc in args.labels_per_class:
        for a, b in PAIRS:
            ga, gb = groups.get(f"{lpc}/{a}"), groups.get(f"{lpc}/{b}")
            if not ga or not gb:
                continue
            seeds = sorted(set(ga["test_accuracy_per_seed"]) & set(gb["test_accuracy_per_seed"]))
            d = {
                s: ga["test_accuracy_per_seed"][s] - gb["test_accuracy_per_seed"][s] for s in seeds
            }
            vals = list(d.values())
            diffs[f"{lpc}/{a}-{b}"] = {
                "labels_per_class": lpc,
                "a": a,
                "b": b,
                "per_seed": d,
                "mean": C.mean(vals),
                "std": C.std(vals),
                "positive_seeds": sum(v > 0 for v in vals),
                "n": len(vals),
            }
    return {"groups": groups, "paired_differences": diffs}


# -- 2. extraction throughput ----------------------------------------------------------------------
def throughput(size: int, n: int, args: argparse.Namespace, clock: C.Clock) -> dict[str, Any]:
    """Bare ``forward_features`` over pre-made batches vs ``extract_features`` on the same examples."""
    import numpy as np
    import torch

    from transferkit.data import load_dataset
    from transferkit.data.transforms import build_transform
    from transferkit.features import extract_features
    from transferkit.features.extract import inference_batch
    from transferkit.zoo import create_backbone

    dataset = load_dataset(DATA)
    backbone = create_backbone(MODEL, pretrained=True, image_size=size).eval()
    rng = np.random.default_rng(1234)
    indices = np.sort(rng.choice(len(dataset), size=n, replace=False)).astype(np.int64)
    bs = args.extract_batch_size
    device = torch.device("cpu")
    transform = build_transform(backbone.data_config, train=False)  # the same eval transform as (b)
    t_pre = time.perf_counter()
    x = torch.stack([transform(dataset.load(int(i))) for i in indices])
    preprocess_s = time.perf_counter() - t_pre
    # the bare loop runs at the batch the library runs (on a CPU it lowers the asked batch to
    # stay in cache, features.extract.inference_batch); the asked batch is timed too, to show
    # what that rule is worth
    run_bs = inference_batch(bs, backbone.data_config, device)
    batches, asked_batches = list(x.split(run_bs)), list(x.split(bs))

    def bare(parts: list | None = None) -> tuple[float, torch.Tensor]:
        out = []
        t0 = time.perf_counter()
        with torch.no_grad():
            for xb in parts or batches:
                out.append(backbone.forward_features(xb))
        return time.perf_counter() - t0, torch.cat(out)

    def library() -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        f = extract_features(backbone, dataset, indices, device=device, cache=None, batch_size=bs)
        return time.perf_counter() - t0, f

    # Warm-up with a full batch on both paths: the first full-size forward allocates buffers and
    # ran ~2x slower in trials, which would blur the first repeat.
    with torch.no_grad():
        backbone.forward_features(batches[0])
    extract_features(backbone, dataset, indices[:bs], device=device, cache=None, batch_size=bs)

    reps = []
    fa = fb = None
    for r in range(args.extract_repeats):
        order = ("bare", "library") if r % 2 == 0 else ("library", "bare")  # cancel drift
        rep: dict[str, float] = {}
        for which in order:
            if which == "bare":
                rep["bare_seconds"], fa = bare()
            else:
                rep["library_seconds"], fb = library()
        if run_bs != bs:
            rep["bare_at_asked_batch_seconds"] = bare(asked_batches)[0]
        rep["bare_images_per_s"] = n / rep["bare_seconds"]
        rep["library_images_per_s"] = n / rep["library_seconds"]
        rep["ratio"] = rep["library_images_per_s"] / rep["bare_images_per_s"]
        rep["order"] = list(order)
        reps.append(rep)
    bare_ips = n * len(reps) / sum(r["bare_seconds"] for r in reps)
    lib_ips = n * len(reps) / sum(r["library_seconds"] for r in reps)
    max_diff = float(np.abs(fa.numpy() - fb).max()) if fa is not None and fb is not None else None
    res = {
        "image_size": size,
        "n": n,
        "batch_size": bs,
        "run_batch_size": run_bs,
        "bare_at_asked_batch_images_per_s": (
            n * len(reps) / sum(r["bare_at_asked_batch_seconds"] for r in reps)
            if run_bs != bs
            else None
        ),
        "threads": torch.get_num_threads(),
        "repeats": reps,
        "bare_images_per_s": bare_ips,
        "library_images_per_s": lib_ips,
        "ratio": lib_ips / bare_ips,
        "ratio_per_repeat": [r["ratio"] for r in reps],
        "ratio_median_of_repeats": float(np.median([r["ratio"] for r in reps])),
        "transform_ms_per_image": 1000 * preprocess_s / n,
        "preprocess_seconds_for_bare_inputs": preprocess_s,
        "max_abs_feature_difference": max_diff,
        "target_ratio": TARGET_RATIO,
    }
    clock.say(
        f"extraction {size}px n={n}: bare {bare_ips:.1f} img/s, extract_features "
        f"{lib_ips:.1f} img/s, ratio {res['ratio']:.3f} "
        f"(per repeat {', '.join(f'{v:.3f}' for v in res['ratio_per_repeat'])}); "
        f"max |diff| {max_diff:.2e}"
    )
    return res


# -- report --------------------------------------------------------------------------------------
def pct(x: float | None, signed: bool = False) -> str:
    return C.fmt(x, 1, 100, signed)


def by_seed(values: dict[Any, Any], seed: int) -> Any:
    """A per-seed value; keys are ints in memory and strings after a JSON round trip."""
    return values.get(seed, values.get(str(seed)))


def epochs_cell(g: dict[str, Any]) -> str:
    runs = [
        f"{e} ({b})"
        for e, b in zip(g["epochs_run_per_seed"], g["best_epoch_per_seed"], strict=True)
        if e is not None
    ]
    return ", ".join(runs) or "-"


def targets(out: dict[str, Any]) -> list[str]:
    """One line per target of the issue: met, missed, or not measured."""
    lines = []
    ext = [e for e in out.get("extraction", []) if e["image_size"] == out["settings"]["image_size"]]
    for e in out.get("extraction", []):
        ok = e["ratio"] >= TARGET_RATIO
        lines.append(
            f"- Extraction at {e['image_size']} px: ratio {e['ratio']:.3f} "
            f"{'>=' if ok else '<'} {TARGET_RATIO}: **{'met' if ok else 'missed'}**"
        )
    if not ext:
        lines.append(f"- Extraction at {out['settings']['image_size']} px: not measured")
    diffs = out.get("summary", {}).get("paired_differences", {})
    checks = (
        ("finetune-linear", 0.0, "finetune above linear"),
        ("finetune-scratch", TARGET_MARGIN, "finetune >= 5 points above scratch"),
        ("linear-scratch", TARGET_MARGIN, "linear >= 5 points above scratch"),
    )
    for key, margin, text in checks:
        d = diffs.get(f"100/{key}")
        if d is None:
            lines.append(f"- 100 labels/class, {text}: not measured")
            continue
        ok = d["mean"] > margin if margin == 0 else d["mean"] >= margin
        lines.append(
            f"- 100 labels/class, {text}: mean {pct(d['mean'], True)} points "
            f"({d['positive_seeds']}/{d['n']} seeds > 0): **{'met' if ok else 'missed'}**"
        )
    return lines


def markdown(out: dict[str, Any]) -> str:
    args, summ = out["settings"], out.get("summary", {})
    groups, diffs = summ.get("groups", {}), summ.get("paired_differences", {})
    seeds = args["seeds"]
    lines = [
        "## EfficientNet-Lite0 (ImageNet) -> Fashion-MNIST: linear / finetune / scratch",
        "",
        C.md_header(out["header"], out.get("wall_seconds")),
        "",
    ]
    recipe = (
        f"library defaults (epochs {out['recipe']['epochs']}, batch {out['recipe']['batch_size']}, "
        f"lr {out['recipe']['lr']}, patience {out['recipe']['patience']}, "
        f"head_init {out['recipe']['head_init']}, augment {out['recipe']['augment']})"
    )
    if args["epochs"] is not None:
        recipe += f"; epochs overridden to {args['epochs']} for finetune and scratch"
    lines += [
        f"Setup: `{MODEL}` -> `{DATA}`, image size {args['image_size']} px, test set "
        f"{args['max_test']} images (stratified from the official test split, one per seed, "
        f"shared by all strategies and budgets of that seed), seeds {seeds}; "
        f"labels per class cover train + validation (80/20). Recipe: {recipe}.",
        "",
    ]
    if args.get("no_grid"):
        lines += ["Only the extraction throughput was run (`--no-grid`); no fits.", ""]
    if out.get("image_size_choice"):
        lines += [f"Image size: {out['image_size_choice']}", ""]
    if groups:
        lines += ["### Test accuracy (%)", ""]
        head = [
            "labels/class",
            "strategy",
            "test acc mean ± std",
            *[f"seed {s}" for s in seeds],
            "val acc mean",
            "wall s/run (mean)",
            "epochs run (best)",
        ]
        rows = []
        for g in groups.values():
            per = g["test_accuracy_per_seed"]
            rows.append(
                [
                    g["labels_per_class"],
                    g["strategy"],
                    f"{pct(g['test_accuracy_mean'])} ± {pct(g['test_accuracy_std'])}",
                    *[pct(by_seed(per, s)) for s in seeds],
                    pct(g["val_accuracy_mean"]),
                    C.fmt(g["wall_seconds_mean"], 0),
                    epochs_cell(g),
                ]
            )
        lines += [C.md_table(head, rows), ""]
        lines += [
            "Val acc: the validation accuracy used for model selection (linear: held out, the "
            "chosen C before the refit on train + val; finetune/scratch: the kept best epoch, which "
            "for finetune is not held out while its LP-FT head is refitted on train + val). "
            "Wall time is the whole `fit` call (load, train, evaluate); the feature cache is "
            "shared within a run, so linear / the LP-FT head reuse cached features.",
            "",
        ]
    if diffs:
        lines += ["### Paired differences in test accuracy (points, same seed)", ""]
        head = [
            "labels/class",
            "difference",
            *[f"seed {s}" for s in seeds],
            "mean ± std",
            "seeds > 0",
        ]
        rows = [
            [
                d["labels_per_class"],
                f"{d['a']} - {d['b']}",
                *[pct(by_seed(d["per_seed"], s), True) for s in seeds],
                f"{pct(d['mean'], True)} ± {pct(d['std'])}",
                f"{d['positive_seeds']}/{d['n']}",
            ]
            for d in diffs.values()
        ]
        lines += [C.md_table(head, rows), ""]
    ext = out.get("extraction", [])
    if ext:
        lines += ["### Feature-extraction throughput (images/s)", ""]
        head = [
            "image px",
            "N",
            "batch",
            "threads",
            "(a) bare forward_features",
            "(b) extract_features",
            "ratio (b)/(a)",
            "ratio per repeat (median)",
            "transform ms/img",
            "max abs diff",
        ]
        rows = [
            [
                e["image_size"],
                e["n"],
                e["batch_size"],
                e["threads"],
                C.fmt(e["bare_images_per_s"], 1),
                C.fmt(e["library_images_per_s"], 1),
                C.fmt(e["ratio"], 3),
                ", ".join(f"{v:.3f}" for v in e["ratio_per_repeat"])
                + (
                    f" ({e['ratio_median_of_repeats']:.3f})"
                    if "ratio_median_of_repeats" in e
                    else ""
                ),
                C.fmt(e.get("transform_ms_per_image"), 2),
                f"{e['max_abs_feature_difference']:.1e}",
            ]
            for e in ext
        ]
        lines += [
            C.md_table(head, rows),
            "",
            "(a) `torch.no_grad()` loop of `backbone.forward_features` over pre-made, "
            "already transformed batches; (b) `transferkit.features.extract_features(backbone, "
            "dataset, indices, cache=None)`, which also decodes, transforms and batches. "
            f"Alternated {args['extract_repeats']} times (order flipped each time); "
            f"images/s = N x repeats / total seconds. Transform ms/img: the eval transform "
            "alone (decode + resize + normalise), timed while making (a)'s inputs. "
            f"Target: ratio >= {TARGET_RATIO}.",
            "",
        ]
    lines += ["### Targets (from the issue)", "", *targets(out), ""]
    if out.get("error"):
        lines += ["### Error", "", "```", out["error"], "```", ""]
    return "\n".join(lines)


def save(out: dict[str, Any], out_dir: Path) -> None:
    C.write_json(out_dir / f"{NAME}.json", out)
    C.write_text(out_dir / f"{NAME}.md", markdown(out) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clock = C.Clock()
    home = C.fresh_home(args.home, prefix="tk-bench-fmnist-")
    out_dir = Path(args.out_dir) if args.out_dir else (home if args.quick else C.RESULTS_DIR)
    import torch

    torch.set_num_threads(args.threads)
    from transferkit.config import TrainOptions

    defaults = TrainOptions()
    out: dict[str, Any] = {
        "benchmark": NAME,
        "header": C.header(),
        "home": str(home),
        "settings": {k: v for k, v in vars(args).items()},
        "recipe": {
            "epochs": defaults.epochs,
            "batch_size": defaults.batch_size,
            "lr": defaults.lr,
            "patience": defaults.patience,
            "head_init": defaults.head_init,
            "augment": defaults.augment,
            "lr_decay": defaults.lr_decay,
            "weight_decay": defaults.weight_decay,
        },
        "image_size_choice": IMAGE_SIZE_NOTE if args.image_size == DEFAULT_IMAGE_SIZE else None,
        "extraction": [],
        "cells": [],
    }
    clock.say(f"{NAME}: home {home}; results -> {out_dir}; threads {torch.get_num_threads()}")
    status = 0
    try:
        for size, n in ((args.image_size, args.extract_n), (224, args.extract_n_224)):
            if n > 0 and not (size == 224 and args.image_size == 224):
                out["extraction"].append(throughput(size, n, args, clock))
                save(out, out_dir)
        seeds = [] if args.no_grid else args.seeds
        total = len(seeds) * len(args.labels_per_class) * len(args.strategies)
        for seed in seeds:
            for lpc in args.labels_per_class:
                for strategy in args.strategies:
                    cell = run_cell(seed, lpc, strategy, args)
                    out["cells"].append(cell)
                    out["summary"] = summarise(out["cells"], args)
                    out["wall_seconds"] = clock.elapsed()
                    save(out, out_dir)
                    clock.say(
                        f"cell {len(out['cells'])}/{total}: seed {seed} {lpc}/class "
                        f"{strategy:8s} test {100 * cell['test_accuracy']:.1f}% "
                        f"val {pct(cell['val_accuracy'])}% "
                        f"epochs {cell['epochs_run'] or '-'} "
                        f"best {cell['info'].get('best_epoch', '-')} "
                        f"({cell['wall_seconds']:.0f} s)"
                    )
    except BaseException:  # noqa: BLE001 - keep what was measured; the traceback goes to the report and stderr
        out["error"] = traceback.format_exc()
        traceback.print_exc()
        status = 1
    out["wall_seconds"] = clock.elapsed()
    out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    save(out, out_dir)
    clock.say(
        f"done in {out['wall_seconds'] / 60:.1f} min; wrote {out_dir / (NAME + '.json')} "
        f"and {out_dir / (NAME + '.md')}"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
