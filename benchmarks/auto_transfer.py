"""Automatic transfer (issue 15): the search against the library's fixed recipes, random search
at the same budget, and the oracle, side by side on the same splits.

Per target and seed, in one run (so speeds compare on the same load):
  auto      transferkit.auto(budget=B): ranking, cheap strategies, successive halving (TPE)
  random    the same pipeline, budget and space with Optuna's RandomSampler and no pruning
  linear    transferkit.fit --strategy linear with the library's defaults (64 px for images)
  finetune  transferkit.fit --strategy finetune with the library's defaults (64 px)
  topk      one epoch of every configuration of the oracle's grid, the top 3 by validation
            trained for --max-epochs, the best by validation (no budget; cost reported)
  oracle    every configuration of a discrete grid of the space, full fidelity, best on TEST
            (an upper bound no method may select by; run once per target and seed, cached in
            the results file; its cost, the sum of its cells' times, is reported)
Test accuracy is read once per method (the search reads it for its winner only). Results are
written after every cell, so an interrupted run keeps what it measured (the grids of oracle and
topk also after every configuration, in auto_transfer_partial.json, and resume there); --render
rewrites the Markdown from the JSON.

    .venv/bin/python benchmarks/auto_transfer.py --targets fmnist10,digits28_10 --seeds 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TARGETS = {
    "fmnist10": ("builtin:fashion-mnist", 10, "image"),
    "fmnist100": ("builtin:fashion-mnist", 100, "image"),
    "mnist10": ("builtin:mnist5k", 10, "image"),
    "digits28_10": ("builtin:digits28", 10, "image"),
    "ng4": ("20ng-4", 8, "text"),
    "ng20": ("20ng-20", 8, "text"),
}
IMAGE_MODELS = ("effnet-lite0", "effnet-lite1", "effnet-lite2")
GRID_LR = (3e-4, 1e-3, 3e-3)


def data_spec(target: str, home: Path) -> str:
    spec = TARGETS[target][0]
    if spec.startswith("20ng"):
        from text_transfer import write_data

        return str(write_data(home / "data", int(spec.split("-")[1])))
    return spec


def test_of(metrics: dict) -> float | None:
    v = metrics.get("test_accuracy")
    return None if v is None else float(v)


def run_auto(spec: str, lpc: int, seed: int, a, sampler: str, pruner: str) -> dict[str, Any]:
    import transferkit

    budget = a.budget if TARGETS[a.current][2] == "image" else a.text_budget
    t0 = time.perf_counter()
    res = transferkit.auto(
        spec,
        budget=budget,
        labels_per_class=lpc,
        seed=seed,
        max_test=a.max_test,
        sampler=sampler,
        pruner=pruner,
        max_epochs=a.max_epochs,
    )
    wall = time.perf_counter() - t0
    trials = [r for r in res.leaderboard if r["kind"] == "trial"]
    return {
        "test": test_of(res.metrics),
        "wall_s": wall,
        "budget_s": seconds_of(budget),
        "chosen": {
            k: res.chosen.get(k)
            for k in (
                "kind",
                "model",
                "strategy",
                "image_size",
                "trial",
                "val",
                "val_nll",
                "params",
            )
        },
        "why": res.why,
        "trials": len(trials),
        "complete": sum(r["state"] == "complete" for r in trials),
        "pruned": sum(r["state"] == "pruned" for r in trials),
        "failed": sum(r["state"] == "failed" for r in trials),
        "kept": [r["model"] for r in res.ranking if r.get("kept")],
        "run": res.run_id,
    }


def seconds_of(text: str) -> float:
    from transferkit.search.budget import parse_budget

    return parse_budget(text)


def run_default(spec: str, lpc: int, seed: int, strategy: str, modality: str, a) -> dict:
    import transferkit

    extra = {"image_size": 64} if modality == "image" else {"model": "minilm-l6"}
    t0 = time.perf_counter()
    r = transferkit.fit(
        spec, strategy=strategy, labels_per_class=lpc, seed=seed, max_test=a.max_test, **extra
    )
    return {
        "test": test_of(r.metrics),
        "val": r.metrics.get("val_accuracy"),
        "wall_s": time.perf_counter() - t0,
        "run": r.run_id,
    }


def grid(modality: str) -> list[dict[str, Any]]:
    """The oracle's discrete version of the space (images: 3 models x linear at 3 sizes,
    finetune of all / top 2 blocks x 3 learning rates x 2 sizes, scratch at 64 px)."""
    if modality != "image":
        out = [{"model": "minilm-l6", "strategy": s} for s in ("linear", "zeroshot", "prototypes")]
        out += [
            {"model": "minilm-l6", "strategy": "finetune", "lr": lr} for lr in (3e-5, 1e-4, 3e-4)
        ]
        out += [
            {"model": "minilm-l6", "strategy": "lora", "lr": lr, "lora_rank": 8}
            for lr in (3e-4, 1e-3)
        ]
        return out
    out = []
    for m in IMAGE_MODELS:
        out += [{"model": m, "strategy": "linear", "image_size": s} for s in (64, 96, 128)]
        out += [
            {"model": m, "strategy": "finetune", "lr": lr, "unfreeze": u, "image_size": s}
            for lr in GRID_LR
            for u in (None, 2)
            for s in (64, 96)
        ]
        out.append({"model": m, "strategy": "scratch", "lr": 1e-3, "image_size": 64})
    return out


def run_oracle(spec: str, lpc: int, seed: int, modality: str, a) -> dict[str, Any]:
    import transferkit

    def one(cfg: dict[str, Any]) -> dict[str, Any]:
        t1 = time.perf_counter()
        r = transferkit.fit(
            spec,
            labels_per_class=lpc,
            seed=seed,
            max_test=a.max_test,
            epochs=a.max_epochs,
            **{k: v for k, v in cfg.items() if v is not None},
        )
        return {
            **cfg,
            "test": test_of(r.metrics),
            "val": r.metrics.get("val_accuracy"),
            "wall_s": time.perf_counter() - t1,
        }

    cells = grid_cells(a, seed, "oracle", grid(modality), one)
    best = max(cells, key=lambda c: c["test"] or 0.0)
    # the sum of the cells' times, so that a grid resumed across processes reports its cost
    return {
        "test": best["test"],
        "best": best,
        "cells": cells,
        "wall_s": sum(c["wall_s"] for c in cells),
    }


def partial(a, seed: int, method: str) -> tuple[Path, str, dict[str, list[dict]]]:
    """The side file of unfinished grids, this grid's key in it, and its contents."""
    side = C.RESULTS_DIR / f"auto_transfer{a.tag}_partial.json"
    store = json.loads(side.read_text()) if side.is_file() else {}
    return side, f"{a.current}|{seed}|{method}|{a.max_epochs}|{a.max_test}", store


def grid_cells(a, seed: int, method: str, configs: list[dict[str, Any]], one) -> list[dict]:
    """Run ``one`` over ``configs``, keeping each finished cell in a side file
    (``auto_transfer_partial.json``, written after every cell), so that a grid of hours that is
    interrupted resumes at the configuration it had reached instead of starting again."""
    side, key, store = partial(a, seed, method)
    cells = store.get(key, [])
    for cfg in configs[len(cells) :]:
        cells.append(one(cfg))
        store[key] = cells
        C.write_json(side, store)
    return cells


def drop_partial(a, seed: int, method: str) -> None:
    side, key, store = partial(a, seed, method)
    store.pop(key, None)
    if store:
        C.write_json(side, store)
    else:
        side.unlink(missing_ok=True)


TOP_K = 3


def run_topk(spec: str, lpc: int, seed: int, modality: str, a) -> dict[str, Any]:
    """The "one epoch each, keep the top K" baseline: every configuration of the oracle's grid
    for one epoch (the frozen strategies, which have no epochs, run once in full), the K best
    by validation accuracy trained again for ``--max-epochs``; the pick is the best of those
    and of the frozen runs by validation (never by test). No budget: its cost is reported."""
    import transferkit

    def one(cfg: dict[str, Any]) -> dict[str, Any]:
        trained = cfg["strategy"] not in ("linear", "zeroshot", "prototypes")
        t1 = time.perf_counter()
        r = transferkit.fit(
            spec,
            labels_per_class=lpc,
            seed=seed,
            max_test=a.max_test,
            **({"epochs": 1} if trained else {}),
            **{k: v for k, v in cfg.items() if v is not None},
        )
        return {
            **cfg,
            "trained": trained,
            "val": r.metrics.get("val_accuracy"),
            "test": test_of(r.metrics),
            "wall_s": time.perf_counter() - t1,
        }

    first = grid_cells(a, seed, "topk", grid(modality), one)
    # the first stage's cost is the sum of its cells' times, whether resumed or not
    t0 = time.perf_counter() - sum(c["wall_s"] for c in first)
    full = [c for c in first if not c["trained"]]
    top = sorted((c for c in first if c["trained"]), key=lambda c: -(c["val"] or 0.0))[:TOP_K]
    for cfg in top:
        t1 = time.perf_counter()
        spec_cfg = {k: v for k, v in cfg.items() if k in grid_keys() and v is not None}
        r = transferkit.fit(
            spec,
            labels_per_class=lpc,
            seed=seed,
            max_test=a.max_test,
            epochs=a.max_epochs,
            **spec_cfg,
        )
        full.append(
            {
                **spec_cfg,
                "trained": True,
                "val": r.metrics.get("val_accuracy"),
                "test": test_of(r.metrics),
                "wall_s": time.perf_counter() - t1,
            }
        )
    best = max(full, key=lambda c: c["val"] or 0.0)
    return {
        "test": best["test"],
        "best": best,
        "first": first,
        "full": full,
        "wall_s": time.perf_counter() - t0,
    }


def grid_keys() -> set[str]:
    return {"model", "strategy", "lr", "unfreeze", "image_size", "lora_rank"}


METHODS = {
    "auto": lambda spec, lpc, seed, mod, a: run_auto(spec, lpc, seed, a, "tpe", "halving"),
    "random": lambda spec, lpc, seed, mod, a: run_auto(spec, lpc, seed, a, "random", "none"),
    "linear": lambda spec, lpc, seed, mod, a: run_default(spec, lpc, seed, "linear", mod, a),
    "finetune": lambda spec, lpc, seed, mod, a: run_default(spec, lpc, seed, "finetune", mod, a),
    "topk": lambda spec, lpc, seed, mod, a: run_topk(spec, lpc, seed, mod, a),
    "oracle": lambda spec, lpc, seed, mod, a: run_oracle(spec, lpc, seed, mod, a),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="fmnist10,fmnist100,mnist10,digits28_10")
    p.add_argument("--methods", default="auto,random,linear,finetune,topk,oracle")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--budget", default="15m", help="per image target and search")
    p.add_argument("--text-budget", default="10m")
    p.add_argument("--max-epochs", type=int, default=9)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--oracle-seeds", type=int, default=1, help="seeds the oracle grid runs for")
    p.add_argument("--home", default=None)
    p.add_argument("--tag", default="")
    p.add_argument("--render", action="store_true", help="only rewrite the Markdown")
    a = p.parse_args()
    out = C.RESULTS_DIR / f"auto_transfer{a.tag}.json"
    if a.render:
        return render(out)
    import torch

    torch.set_num_threads(a.threads)
    home = C.fresh_home(a.home, "tk-auto-bench-")
    data = json.loads(out.read_text()) if out.is_file() else {"header": C.header(), "cells": []}
    data["header"]["machine"]["torch_threads"] = a.threads
    clock = C.Clock()
    done = {(c["target"], c["seed"], c["method"]) for c in data["cells"]}
    for target in a.targets.split(","):
        spec = data_spec(target, home)
        _, lpc, modality = TARGETS[target]
        a.current = target
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            for method in a.methods.split(","):
                if (target, seed, method) in done or (
                    method == "oracle" and seed >= a.first_seed + a.oracle_seeds
                ):
                    continue
                clock.say(f"{target} seed {seed}: {method}")
                cell = {
                    "target": target,
                    "seed": seed,
                    "method": method,
                    **METHODS[method](spec, lpc, seed, modality, a),
                }
                clock.say(f"  test {cell['test']}, {cell['wall_s']:.0f} s")
                data["cells"].append(cell)
                data["header"]["wall_s"] = data["header"].get("wall_s", 0) + cell["wall_s"]
                C.write_json(out, data)
                drop_partial(a, seed, method)
    return render(out)


def render(out: Path) -> int:
    from auto_transfer_report import markdown

    data = json.loads(out.read_text())
    C.write_text(out.with_suffix(".md"), markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
