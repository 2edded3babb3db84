"""Benchmark: the cost of explaining predictions, and what fine-tuning changed (issue 18).

What it measures
----------------
1. Speed. For EfficientNet-Lite0 with a linear head on Fashion-MNIST (a ``linear`` fit at
   64 px and one at 224 px), the time of ``transferkit.explain`` on 100 images (a seeded
   sample of the dataset) per method, as a ratio to one batched prediction (``predict_logits``, one batch of
   100) of the same images on the same model. Reported: the whole call (model and data loading,
   attributions, overlays and files written) and the attribution stage alone (the record's
   ``attribute`` timing), per image and as ratios. Occlusion uses a window of size/8 pixels
   (stride half of it), integrated gradients ``--ig-steps`` steps.
2. What fine-tuning changed. EfficientNet-Lite0 fine-tuned on Fashion-MNIST at 100 labels per
   class (the default recipe, 64 px, seeds ``--seeds``): its per-block CKA profile and weight
   change on 500 target examples (``explain --run RUN`` without inputs), the reading and the
   ``--unfreeze K`` it suggests (the most common K over the seeds). Then the same fits with
   ``--unfreeze K``, paired by seed: does training only the top K blocks keep test accuracy
   within 0.5 points of full fine-tuning, at lower cost (fit seconds, trainable parameters)?
   Reported either way; with no suggested K the comparison is skipped and that is written.

Every run goes to a fresh TRANSFERKIT_HOME (a temporary folder unless ``--home``). Writes
``benchmarks/results/explain.json`` (raw numbers) and ``explain.md`` (tables).

    .venv/bin/python benchmarks/explain.py            # full: roughly 1-2 h on 2 CPU cores
    .venv/bin/python benchmarks/explain.py --quick    # smoke test: a few minutes
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRANSFERKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "explain"
DATA = "builtin:fashion-mnist"
MODEL = "effnet-lite0"
METHODS = ("gradcam", "gradcam++", "eigencam", "ig", "occlusion")
MARGIN = 0.005  # "within 0.5 points"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--sizes", default="64,224", help="input sizes of the speed test")
    p.add_argument("--methods", default=",".join(METHODS), help="methods of the speed test")
    p.add_argument("--images", type=int, default=100, help="images explained per method")
    p.add_argument("--ig-steps", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16, help="explain's batch size")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the fine-tuning comparison")
    p.add_argument("--labels-per-class", type=int, default=100)
    p.add_argument("--image-size", type=int, default=64, help="size of the fine-tuning runs")
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--home", default=None, help="TRANSFERKIT_HOME (default: a temp folder)")
    p.add_argument("--out-dir", default=None, help="default benchmarks/results (--quick: home)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-transfer", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke test: small everything")
    p.add_argument(
        "--ig-check-images",
        type=int,
        default=20,
        help="images of the integrated-gradients completeness check (0: skip it)",
    )
    p.add_argument(
        "--only-ig-check",
        action="store_true",
        help="run the completeness check alone and add it to an existing JSON",
    )
    p.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the Markdown from the JSON (with --home: fit seconds "
        "re-read from that home's run records)",
    )
    a = p.parse_args(argv)
    a.sizes = [int(v) for v in a.sizes.split(",") if v.strip()]
    a.methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    a.seeds = [int(v) for v in a.seeds.split(",") if v.strip()]
    if a.quick:
        a.sizes, a.images, a.ig_steps, a.seeds, a.ig_check_images = [32], 8, 8, [0], 4
        a.labels_per_class, a.max_test, a.epochs = 10, 200, a.epochs or 2
    return a


# -- 1. speed -------------------------------------------------------------------------------------
def _predict_seconds(run_id: str, indices, repeats: int = 3) -> float:
    """The fastest of ``repeats`` batched predictions of the images at ``indices``."""
    import torch

    from transferkit.data import load_dataset
    from transferkit.evaluation.predict import predict_logits
    from transferkit.runs.predict import load_run_model

    model, _, _ = load_run_model(run_id)
    dataset = load_dataset(DATA)
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        predict_logits(
            model,
            dataset,
            indices,
            device=torch.device("cpu"),
            batch_size=len(indices),
            shard=False,
        )
        best = min(best, time.perf_counter() - t0)
    return best


def speed(size: int, a: argparse.Namespace, clock: C.Clock) -> list[dict[str, Any]]:
    import numpy as np

    import transferkit
    from transferkit.store import RunStore

    fit = transferkit.fit(
        DATA,
        model=MODEL,
        strategy="linear",
        labels_per_class=10,
        image_size=size,
        max_test=100,
        seed=0,
    )
    rows = []
    for method in a.methods:
        t0 = time.perf_counter()
        res = transferkit.explain(
            fit.run_id,
            DATA,
            method=method,
            max_inputs=a.images,
            transfer=False,
            ig_steps=a.ig_steps,
            batch_size=a.batch_size,
            window=max(4, size // 8),
            seed=0,
        )
        wall = time.perf_counter() - t0
        attribute = RunStore().get(res.run_id).timings.get("attribute")
        indices = np.array([int(r["file"]) for r in res.rows], dtype=np.int64)
        pred = _predict_seconds(fit.run_id, indices)
        row = {
            "size": size,
            "method": method,
            "images": len(res.rows),
            "explain_s": wall,
            "attribute_s": attribute,
            "predict_s": pred,
            "ratio_call": wall / pred,
            "ratio_attribute": attribute / pred if attribute else None,
            "ms_per_image": 1000 * wall / max(1, len(res.rows)),
            "max_abs_delta": None if res.deltas is None else float(np.abs(res.deltas).max()),
        }
        clock.say(
            f"{size} px {method}: {wall:.1f} s ({row['ratio_call']:.0f}x one batched "
            f"prediction of {pred:.2f} s)"
        )
        rows.append(row)
    return rows


# -- 2. what fine-tuning changed, and --unfreeze K ------------------------------------------------
def _fit(seed: int, a: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    import transferkit
    from transferkit.store import RunStore

    kw = {"epochs": a.epochs} if a.epochs else {}
    t0 = time.perf_counter()
    r = transferkit.fit(
        DATA,
        model=MODEL,
        strategy="finetune",
        seed=seed,
        labels_per_class=a.labels_per_class,
        image_size=a.image_size,
        max_test=a.max_test,
        **kw,
        **extra,
    )
    return {
        "seed": seed,
        "run_id": r.run_id,
        "test_accuracy": r.accuracy,
        "wall_s": time.perf_counter() - t0,
        "fit_s": fit_seconds(RunStore().get(r.run_id).timings),
        **extra,
    }


def fit_seconds(timings: dict[str, float]) -> float | None:
    """The cost of fitting: the run's recorded total without the test split's evaluation."""
    return None if "total" not in timings else timings["total"] - timings.get("test", 0.0)


def transfer(a: argparse.Namespace, clock: C.Clock) -> dict[str, Any]:
    import transferkit

    full, profiles = [], []
    for seed in a.seeds:
        full.append(_fit(seed, a))
        t = transferkit.explain(full[-1]["run_id"], seed=0).transfer
        profiles.append({"seed": seed, **t})
        clock.say(
            f"seed {seed}: full fine-tuning {100 * full[-1]['test_accuracy']:.1f}%; "
            f"suggested --unfreeze {t.get('suggested_unfreeze')}"
        )
    ks = [p.get("suggested_unfreeze") for p in profiles if p.get("suggested_unfreeze")]
    k = collections.Counter(ks).most_common(1)[0][0] if ks else None
    out: dict[str, Any] = {"full": full, "profiles": profiles, "k": k, "partial": []}
    if k is None:
        out["verdict"] = (
            "No --unfreeze K was suggested (the profile said full fine-tuning, "
            "or a linear probe, fits), so no partial fine-tuning was run."
        )
        return out
    for seed in a.seeds:
        out["partial"].append(_fit(seed, a, unfreeze=k))
        clock.say(f"seed {seed}: --unfreeze {k} {100 * out['partial'][-1]['test_accuracy']:.1f}%")
    return judge(out)


def judge(out: dict[str, Any]) -> dict[str, Any]:
    """The paired differences, the costs and the verdict of the --unfreeze K comparison."""
    full, k = out["full"], out["k"]
    diffs = [p["test_accuracy"] - f["test_accuracy"] for p, f in zip(out["partial"], full)]
    blocks = out["profiles"][0].get("blocks") or []
    params = [b.get("params") or 0 for b in blocks]
    out.update(
        diffs=diffs,
        mean_diff=C.mean(diffs),
        std_diff=C.std(diffs),
        trainable_share=sum(params[-k:]) / max(1, sum(params)),
        fit_s_full=C.mean([f["fit_s"] or f["wall_s"] for f in full]),
        fit_s_partial=C.mean([p["fit_s"] or p["wall_s"] for p in out["partial"]]),
    )
    kept = out["mean_diff"] >= -MARGIN
    cheaper = out["fit_s_partial"] < out["fit_s_full"]
    out["verdict"] = (
        f"--unfreeze {k} {'keeps' if kept else 'does not keep'} test accuracy within 0.5 points "
        f"of full fine-tuning (mean difference {100 * out['mean_diff']:+.2f} ± "
        f"{100 * out['std_diff']:.2f} points over {len(diffs)} seeds) and is "
        f"{'cheaper' if cheaper else 'not cheaper'}: {out['fit_s_partial']:.0f} s vs "
        f"{out['fit_s_full']:.0f} s of fitting, {100 * out['trainable_share']:.2f}% of the "
        f"backbone's parameters trained."
    )
    return out


# -- 3. how exact integrated gradients are ------------------------------------------------------
def ig_check(size: int, a: argparse.Namespace, clock: C.Clock) -> list[dict[str, Any]]:
    """Completeness of integrated gradients on the speed test's model: Captum's convergence
    delta relative to F(x) - F(baseline) (the explained class's logit at the image and at the
    all-zeros baseline), at ``--ig-steps`` and at 4x as many steps, on ``--ig-check-images``."""
    import numpy as np

    import transferkit

    fit = transferkit.fit(
        DATA,
        model=MODEL,
        strategy="linear",
        labels_per_class=10,
        image_size=size,
        max_test=100,
        seed=0,
    )
    rows = []
    for steps in (a.ig_steps, 4 * a.ig_steps):
        res = transferkit.explain(
            fit.run_id,
            DATA,
            method="ig",
            max_inputs=a.ig_check_images,
            transfer=False,
            ig_steps=steps,
            batch_size=a.batch_size,
            seed=0,
        )
        # explain records |delta| / |F(x) - F(0)| per input; the gap follows from the two
        delta = np.abs([r["delta"] for r in res.rows])
        rel = np.array([r["relative_delta"] for r in res.rows])
        gap = delta[rel > 0] / rel[rel > 0]
        rows.append(
            {
                "size": size,
                "steps": steps,
                "images": len(res.rows),
                "median_gap": float(np.median(gap)) if len(gap) else None,
                "median_abs_delta": float(np.median(delta)),
                "median_rel_delta": float(np.median(rel)),
                "max_rel_delta": float(rel.max()),
            }
        )
        clock.say(
            f"{size} px ig {steps} steps: |delta| / |F(x) - F(0)| median "
            f"{rows[-1]['median_rel_delta']:.3f}, max {rows[-1]['max_rel_delta']:.3f}"
        )
    return rows


# -- writing --------------------------------------------------------------------------------------
def markdown(
    head: dict, speed_rows: list, tr: dict | None, wall: float, ig_rows: list | None = None
) -> str:
    parts = [
        "# Explaining predictions, and what fine-tuning changed",
        "",
        C.md_header(head, wall),
        "",
    ]
    if speed_rows:
        parts += [
            "## Speed: explaining images vs one batched prediction",
            "",
            C.md_table(
                [
                    "px",
                    "method",
                    "images",
                    "explain s",
                    "attribute s",
                    "predict s",
                    "ratio (call)",
                    "ratio (attribute)",
                    "ms / image",
                    "max |IG delta|",
                ],
                [
                    [
                        r["size"],
                        r["method"],
                        r["images"],
                        C.fmt(r["explain_s"], 1),
                        C.fmt(r["attribute_s"], 1),
                        C.fmt(r["predict_s"], 3),
                        C.fmt(r["ratio_call"], 0),
                        C.fmt(r["ratio_attribute"], 0),
                        C.fmt(r["ms_per_image"], 0),
                        "" if r["max_abs_delta"] is None else f"{r['max_abs_delta']:.2g}",
                    ]
                    for r in speed_rows
                ],
            ),
            "",
        ]
    if ig_rows:
        parts += [
            "## Completeness of integrated gradients",
            "",
            "Captum's convergence delta (sum of attributions minus F(x) - F(baseline)) "
            "relative to |F(x) - F(baseline)|, F the explained class's logit, baseline "
            "all zeros after normalisation.",
            "",
            C.md_table(
                [
                    "px",
                    "steps",
                    "images",
                    "median |F(x) - F(0)|",
                    "median |delta|",
                    "median relative |delta|",
                    "max relative |delta|",
                ],
                [
                    [
                        r["size"],
                        r["steps"],
                        r["images"],
                        C.fmt(r["median_gap"], 2),
                        C.fmt(r["median_abs_delta"], 2),
                        C.fmt(r["median_rel_delta"], 3),
                        C.fmt(r["max_rel_delta"], 3),
                    ]
                    for r in ig_rows
                ],
            ),
            "",
        ]
    if tr:
        p0 = tr["profiles"][0]
        parts += [
            f"## CKA profile of {MODEL} fine-tuned on Fashion-MNIST (seed {p0['seed']})",
            "",
            C.md_table(
                ["block", "CKA with the source", "weight change (%)", "parameters"],
                [
                    [
                        b["block"],
                        C.fmt(b.get("cka"), 3),
                        C.fmt(b.get("weight_change"), 2, 100),
                        b.get("params"),
                    ]
                    for b in p0.get("blocks") or []
                ],
            ),
            "",
            f"Reading: {p0.get('reading')}",
            "",
            "Suggested K per seed: "
            + ", ".join(f"{p['seed']}: {p.get('suggested_unfreeze')}" for p in tr["profiles"]),
            "",
        ]
        if tr["partial"]:
            parts += [
                f"## --unfreeze {tr['k']} vs full fine-tuning",
                "",
                C.md_table(
                    [
                        "seed",
                        "full acc (%)",
                        f"--unfreeze {tr['k']} acc (%)",
                        "difference (points)",
                        "full fit s",
                        "partial fit s",
                    ],
                    [
                        [
                            f["seed"],
                            C.fmt(f["test_accuracy"], 2, 100),
                            C.fmt(p["test_accuracy"], 2, 100),
                            C.fmt(d, 2, 100, signed=True),
                            C.fmt(f["fit_s"], 0),
                            C.fmt(p["fit_s"], 0),
                        ]
                        for f, p, d in zip(tr["full"], tr["partial"], tr["diffs"])
                    ],
                ),
                "",
            ]
        parts += [f"Verdict: {tr['verdict']}", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    import json

    import torch

    torch.set_num_threads(a.threads)
    out_dir = Path(a.out_dir) if a.out_dir else (None if a.quick else C.RESULTS_DIR)
    if a.render:
        return render(out_dir or C.RESULTS_DIR, a.home)
    home = C.fresh_home(a.home, "tk-bench-explain-")
    out_dir = out_dir or home
    clock = C.Clock()
    path = out_dir / f"{NAME}.json"
    if a.only_ig_check:
        data = json.loads(path.read_text())
        data["ig_check"] = [r for size in a.sizes for r in ig_check(size, a, clock)]
        data["ig_check_command"] = C.command_line()
        C.write_json(path, data)
        return render(out_dir, None)
    head = C.header()
    head["machine"]["torch_threads"] = a.threads
    data: dict[str, Any] = {
        "header": head,
        "args": vars(a),
        "speed": [],
        "transfer": None,
        "ig_check": [],
    }
    if not a.skip_speed:
        for size in a.sizes:
            data["speed"] += speed(size, a, clock)
            C.write_json(path, data)
        if a.ig_check_images > 0:
            data["ig_check"] = [r for size in a.sizes for r in ig_check(size, a, clock)]
            C.write_json(path, data)
    if not a.skip_transfer:
        data["transfer"] = transfer(a, clock)
    data["wall_seconds"] = clock.elapsed()
    C.write_json(path, data)
    render(out_dir, None)
    clock.say(f"wrote {out_dir / NAME}.json and .md")
    return 0


def render(out_dir: Path, home: str | None) -> int:
    """The Markdown from the JSON; with ``home``, fit seconds re-read from its run records."""
    import json

    path = out_dir / f"{NAME}.json"
    data = json.loads(path.read_text())
    tr = data.get("transfer")
    if home and tr:
        os.environ["TRANSFERKIT_HOME"] = str(home)
        from transferkit.store import RunStore

        for f in tr["full"] + tr["partial"]:
            f["fit_s"] = fit_seconds(RunStore().get(f["run_id"]).timings)
    if tr and tr.get("partial"):
        judge(tr)
    C.write_json(path, data)
    C.write_text(
        out_dir / f"{NAME}.md",
        markdown(
            data["header"],
            data["speed"],
            tr,
            data.get("wall_seconds", 0.0),
            data.get("ig_check") or [],
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
