"""Model ranking: do transferability scores order source models as fine-tuning does?

A pool of source models (EfficientNet-Lite0/1/2 from ImageNet; `cnn-small` models pretrained
by transferkit on Fashion-MNIST, MNIST and UCI digits, supervised and unsupervised; a
fresh-weights `cnn-small` as the control) is ranked on each target task by
``transferkit.rank`` (LogME, LEEP, NCE, H-score, kNN, linear-probe CV) from the target's
labelled examples at each label budget. Ground truth: every candidate fine-tuned with one fixed
recipe (``finetune``) and linear-probed (``linear``) through ``transferkit.compare``, seeds
0..n-1, mean test accuracy. Reported per score, target and budget: the weighted Kendall tau
(scipy.stats.weightedtau, hyperbolic weights favouring the top) between the score and the
ground truth, and the wall time of ``rank`` as a fraction of fine-tuning every candidate once.

Source models come from the store in ``--home`` (the names written by
``benchmarks/own_pretraining.py``: fmnist-*, mnist-*); missing ones are pretrained here
(same recipe as that benchmark), as is ``digits-supervised``.

    .venv/bin/python benchmarks/model_ranking.py --home /tmp/tk-bench-ownpre
    .venv/bin/python benchmarks/model_ranking.py --quick      # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TRANSFERKIT_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "model_ranking"
IMAGENET = ("effnet-lite0", "effnet-lite1", "effnet-lite2")
# name in the store: (source data, method, epochs)
OWN = {
    "fmnist-supervised": ("builtin:fashion-mnist", "supervised", 2),
    "fmnist-autoencoder": ("builtin:fashion-mnist", "autoencoder", 2),
    "fmnist-contrastive": ("builtin:fashion-mnist", "contrastive", 2),
    "mnist-supervised": ("builtin:mnist5k", "supervised", 12),
    "mnist-vae": ("builtin:mnist5k", "vae", 12),
    "digits-supervised": ("builtin:digits", "supervised", 30),
}
SCORES = ("logme", "leep", "nce", "hscore", "knn", "linear-probe")


def own_models(a, clock) -> dict[str, str]:
    """Zoo names of the transferkit-pretrained pool (pretraining what is missing) + control."""
    import torch

    from transferkit.runs.pretrain import pretrain
    from transferkit.store import RunStore
    from transferkit.zoo import create_backbone
    from transferkit.zoo.checkpoint import TransferModel, save_model

    store, names = RunStore(), {}
    have = {r.name for r in store.list(kind="pretrain", status="done", limit=None)}
    for name, (data, method, epochs) in OWN.items():
        cap = 1000 if a.quick else a.pretrain_max_examples
        full = name + ("-quick" if a.quick else f"-{cap}" if cap else "")
        if full not in have:
            clock.say(f"pretraining {full}")
            pretrain(
                data,
                method=method,
                arch="cnn-small",
                epochs=1 if a.quick else epochs,
                name=full,
                seed=0,
                max_examples=cap,
            )
        names[name] = full
    control = store.root / "fresh-cnn-small"
    if not (control / "model.json").is_file():
        torch.manual_seed(0)
        save_model(TransferModel(create_backbone("cnn-small", pretrained=False), 0), control, [])
    names["fresh-cnn-small"] = f"file:{control}"
    return names


def kendall(scores: dict[str, float | None], truth: dict[str, float]) -> float | None:
    from scipy.stats import weightedtau

    common = [m for m in truth if scores.get(m) is not None]
    if len(common) < 3:
        return None
    return float(weightedtau([truth[m] for m in common], [scores[m] for m in common]).statistic)


def pool_for(target: str, pool: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """The pool without the models pretrained on ``target``'s own dataset (they saw its test
    images; the supervised ones their labels too)."""
    return {x: v for x, v in pool.items() if OWN.get(x, ("",))[0] != target}


def run_target(target: str, budget: int, pool: dict[str, tuple[str, int]], a, clock) -> dict:
    from transferkit.runs.compare import compare
    from transferkit.runs.rank import rank
    from transferkit.store import RunStore

    store, pool = RunStore(), pool_for(target, pool)
    # rank: one call per input size (the ImageNet models at --image-size, cnn-small at 28)
    t0, rows = time.perf_counter(), {}
    by_size: dict[int, list[str]] = {}
    for label, (_, size) in pool.items():
        by_size.setdefault(size, []).append(label)
    for size, labels in by_size.items():
        res = rank(
            target,
            [pool[x][0] for x in labels],
            scores=list(SCORES),
            labels_per_class=budget,
            image_size=size,
            seed=0,
        )
        for x in labels:
            row = res.row(pool[x][0])
            rows[x] = {
                "status": row.status,
                "reason": row.reason,
                "scores": row.scores,
                "seconds": row.seconds,
                "timings": dict(row.timings),
            }
    rank_seconds = time.perf_counter() - t0
    clock.say(f"{target} @ {budget}: ranked {len(pool)} models in {rank_seconds:.0f} s")
    truth: dict[str, dict[str, float]] = {"finetune": {}, "linear": {}}
    per_seed: dict[str, dict] = {}
    finetune_seconds = 0.0
    extra = {"epochs": 1} if a.quick else {"epochs": a.finetune_epochs}
    for label, (model, size) in pool.items():
        res = compare(
            target,
            model=model,
            strategies=["linear", "finetune"],
            labels_per_class=[budget],
            seeds=a.seeds,
            image_size=size,
            max_test=a.max_test,
            **extra,
        )
        per_seed[label] = res.members
        for s in ("linear", "finetune"):
            accs = [m["test_accuracy"] for m in res.members if m["strategy"] == s]
            truth[s][label] = C.mean(accs)
        first = next(m for m in res.members if m["strategy"] == "finetune" and m["seed"] == 0)
        finetune_seconds += store.get(first["run"]).timings.get("total", 0.0)
        clock.say(
            f"{target} @ {budget}: {label}: linear {100 * truth['linear'][label]:.1f} "
            f"finetune {100 * truth['finetune'][label]:.1f}"
        )
    taus = {
        gt: {
            s: kendall({x: r["scores"].get(s) for x, r in rows.items()}, truth[gt]) for s in SCORES
        }
        for gt in truth
    }
    return {
        "target": target,
        "labels_per_class": budget,
        "rank": rows,
        "rank_seconds": rank_seconds,
        "finetune_seconds_one_seed": finetune_seconds,
        "cost_fraction": rank_seconds / finetune_seconds if finetune_seconds else None,
        "truth": truth,
        "members": per_seed,
        "tau": taus,
    }


def fill_timings(results: list[dict], pool: dict) -> None:
    """Per-part timings of rank rows from the rank records in the store (for JSON written
    before the rows carried them)."""
    from transferkit.store import RunStore

    recs = RunStore().list(kind="rank", status="done", limit=None)
    for r in results:
        for x, row in r["rank"].items():
            for rec in recs:
                if (
                    row.get("timings")
                    or rec.config.get("data") != r["target"]
                    or rec.config.get("labels_per_class") != r["labels_per_class"]
                ):
                    continue
                for t in rec.extra.get("table", []):
                    if t["model"] == pool[x][0]:
                        row["timings"] = t["timings"]


def score_fraction(r: dict, score: str) -> float | None:
    """Seconds of loading + extraction + ``score`` over all models, over the fine-tuning
    seconds (None without per-part timings)."""
    parts = [x.get("timings") or {} for x in r["rank"].values()]
    if not r.get("finetune_seconds_one_seed") or not all(parts):
        return None
    spent = sum(t.get("load", 0.0) + t.get("extract", 0.0) + t.get(score, 0.0) for t in parts)
    return spent / r["finetune_seconds_one_seed"]


def markdown(results: list[dict], head: dict, wall: float, a) -> str:
    everyone = sorted({x for r in results for x in r["rank"]})
    lines = [
        "## Model ranking: transferability scores vs fine-tuning",
        C.md_header(head, wall),
        f"Pool ({len(everyone)} models): " + ", ".join(f"`{x}`" for x in everyone) + ". "
        f"ImageNet models at {a.image_size} px, cnn-small models at 28 px. Ground truth: "
        f"`finetune` (library recipe, {a.finetune_epochs} epochs, patience 5) and `linear`, "
        f"seeds 0..{a.seeds - 1}, mean test accuracy on at most {a.max_test} test images. "
        "Scores from `rank` on the target's labelled examples of the budget (seed 0), "
        "the same examples fine-tuning trains on. Own models pretrained (seed 0) on "
        f"{a.pretrain_max_examples or 'all'} examples of their source (official test "
        "splits left out). A model pretrained on the target's own dataset (mnist-* on "
        "builtin:mnist5k, digits-* on builtin:digits) is left out of that target's pool: "
        "it has seen the test images and, if supervised, their labels.",
        "",
    ]
    rows = []
    for r in results:
        for gt in ("finetune", "linear"):
            rows.append(
                [
                    r["target"],
                    r["labels_per_class"],
                    gt,
                    *[C.fmt(r["tau"][gt][s], 2) for s in SCORES],
                ]
            )
    lines.append("### Weighted Kendall tau between score and ground truth")
    lines.append(C.md_table(["target", "labels/class", "ground truth", *SCORES], rows))
    mean_rows = []
    for gt in ("finetune", "linear"):
        vals = {
            s: [r["tau"][gt][s] for r in results if r["tau"][gt][s] is not None] for s in SCORES
        }
        mean_rows.append(
            [gt, *[f"{C.mean(v):.2f} ± {C.std(v):.2f}" if v else "n/a" for v in vals.values()]]
        )
    lines += [
        "",
        "Mean ± std over target x budget:",
        "",
        C.md_table(["ground truth", *SCORES], mean_rows),
    ]
    lines += [
        "",
        "### Cost of ranking",
        "",
        C.md_table(
            [
                "target",
                "labels/class",
                "rank s (all models, all scores)",
                "fine-tune every model once s",
                "fraction",
            ],
            [
                [
                    r["target"],
                    r["labels_per_class"],
                    C.fmt(r["rank_seconds"], 0),
                    C.fmt(r["finetune_seconds_one_seed"], 0),
                    C.fmt(r["cost_fraction"], 3),
                ]
                for r in results
            ],
        ),
    ]
    lines += [
        "",
        "Cost of one score alone (loading, feature extraction and that score, all "
        "models) as a fraction of fine-tuning every model once:",
        "",
        C.md_table(
            ["target", "labels/class", *SCORES],
            [
                [
                    r["target"],
                    r["labels_per_class"],
                    *[C.fmt(score_fraction(r, s), 3) for s in SCORES],
                ]
                for r in results
            ],
        ),
    ]
    lines += ["", "### Ground truth and LogME per model", ""]
    for r in results:
        order = sorted(r["truth"]["finetune"], key=lambda x: -r["truth"]["finetune"][x])
        lines += [
            f"{r['target']} @ {r['labels_per_class']} labels/class:",
            "",
            C.md_table(
                ["model", "finetune acc", "linear acc", "logme", "leep", "knn"],
                [
                    [
                        x,
                        C.fmt(r["truth"]["finetune"][x], 1, 100),
                        C.fmt(r["truth"]["linear"][x], 1, 100),
                        *[
                            C.fmt(r["rank"][x]["scores"].get(s), 3)
                            for s in ("logme", "leep", "knn")
                        ],
                    ]
                    for x in order
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="builtin:mnist5k,builtin:fashion-mnist,builtin:digits")
    p.add_argument("--labels-per-class", default="10,100")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--finetune-epochs", type=int, default=15)
    p.add_argument("--image-size", type=int, default=64, help="for the ImageNet models")
    p.add_argument("--max-test", type=int, default=1000)
    p.add_argument(
        "--pretrain-max-examples",
        type=int,
        default=None,
        help="pretrain the own models on at most this many examples (stratified); "
        "the Fashion-MNIST ones take about 25 min each on 2 cores in full",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--home", default=None, help="TRANSFERKIT_HOME (default: a fresh temp dir)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    p.add_argument("--quick", action="store_true", help="digits only, 10 labels/class, 1 seed")
    p.add_argument(
        "--tag",
        default="",
        help="suffix of the result files' names "
        "(model_ranking_TAG.{json,md}), to keep runs of parts of the grid apart",
    )
    p.add_argument(
        "--render",
        action="store_true",
        help="only re-write the Markdown from "
        "the JSON of this --tag (timings filled from the store in --home)",
    )
    a = p.parse_args()
    if a.render:
        name = NAME + (f"_{a.tag}" if a.tag else "")
        os.environ["TRANSFERKIT_HOME"] = a.home or os.environ.get("TRANSFERKIT_HOME", "")
        saved = json.loads((Path(a.out_dir) / f"{name}.json").read_text())
        fill_timings(saved["results"], saved["pool"])
        C.write_json(Path(a.out_dir) / f"{name}.json", saved)
        for k in ("seeds", "finetune_epochs", "image_size", "max_test", "pretrain_max_examples"):
            setattr(a, k, saved.get("args", {}).get(k, getattr(a, k)))
        C.write_text(
            Path(a.out_dir) / f"{name}.md",
            markdown(saved["results"], saved["header"], saved.get("wall_seconds", 0.0), a) + "\n",
        )
        return 0
    if a.quick:
        a.targets, a.labels_per_class, a.seeds, a.max_test, a.image_size = (
            "builtin:digits",
            "10",
            1,
            200,
            32,
        )
    import torch

    torch.set_num_threads(a.threads)
    home = C.fresh_home(a.home, "tk-bench-rank-")
    head = C.header()
    head["machine"]["torch_threads"] = a.threads
    clock = C.Clock()
    pool = {m: (m, a.image_size) for m in IMAGENET}
    pool.update({label: (name, 28) for label, name in own_models(a, clock).items()})
    name = NAME + ("_quick" if a.quick else "") + (f"_{a.tag}" if a.tag else "")
    results = []
    for target in a.targets.split(","):
        for b in a.labels_per_class.split(","):
            results.append(run_target(target, int(b), pool, a, clock))
            C.write_json(
                Path(a.out_dir) / f"{name}.json",
                {"header": head, "home": str(home), "pool": pool, "results": results},
            )
    wall = clock.elapsed()
    C.write_json(
        Path(a.out_dir) / f"{name}.json",
        {
            "header": head,
            "home": str(home),
            "pool": pool,
            "results": results,
            "wall_seconds": wall,
            "args": vars(a),
        },
    )
    C.write_text(Path(a.out_dir) / f"{name}.md", markdown(results, head, wall, a) + "\n")
    clock.say(f"done; {Path(a.out_dir) / (name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
