"""Automatic transfer (issues 15 and 31): the search against fixed recipes and the oracle.

The search (as it is now and with the rules of issue 15), the library's fixed recipes, random
search at the same budget, and the oracle, side by side on the same splits.

Per target and seed, in one run (so speeds compare on the same load):
  auto      transferkit.auto(budget=B) as it is now: ranking, cheap strategies, successive
            halving (TPE), selection by k-fold on every label for small data, an ensemble
  auto_old  the same with the rules of issue 15 (kfold_below=0, ensemble=False): the choice on
            the validation split alone, one model trained on the training split
  random    the same pipeline, budget and space with Optuna's RandomSampler and no pruning
  linear    transferkit.fit --strategy linear with the library's defaults (64 px for images)
  finetune  transferkit.fit --strategy finetune with the library's defaults (64 px)
  topk      one epoch of every configuration of the oracle's grid, the top 3 by validation
            trained for --max-epochs, the best by validation (no budget; cost reported)
  oracle    every configuration of a discrete grid of the space, full fidelity, best on TEST
            (an upper bound no method may select by; run once per target and seed, cached in
            the results file; its cost, the sum of its cells' times, is reported)
Test accuracy is read once per method (the search reads it for its winner only). After each
search the benchmark (never the library) predicts the test split with the search's candidates
and keeps them in results/auto31/ (``auto_replay.py`` replays selection rules on them). Results
are written after every method of every cell and a rerun skips what is done: a search killed
mid-way is resumed from the store (pass the same --home), a finished search whose test
predictions were not kept yet is not run again; the grids of oracle and topk are kept after
every configuration in auto_transfer<tag>_partial.json. Each method's CPU time is recorded
(user + system of this process and its waited-for children, from getrusage). --render rewrites
the Markdown from the JSON.

    .venv/bin/python benchmarks/auto_transfer.py --home /work/bench31 --seeds 3,4
    .venv/bin/python benchmarks/auto_transfer.py --methods oracle --targets textile10 --seeds 0
"""

from __future__ import annotations

import argparse
import importlib.util
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
    "textile10": ("textile", 10, "image"),
}
IMAGE_MODELS = ("effnet-lite0", "effnet-lite1", "effnet-lite2")
GRID_LR = (3e-4, 1e-3, 3e-3)
# what auto_old turns off: the rules of issue 15 (choice on the validation split, one model)
OLD_RULES = {"kfold_below": 0, "ensemble": False}
TEXTILE = "conformal_clip_data"


def textile_folder() -> Path:
    """The simulated textile-defect image folders ({nominal,local,global}/) inside PyPI's
    conformal-clip-data, found without importing the package's code."""
    spec = importlib.util.find_spec(TEXTILE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "textile10 needs the conformal-clip-data package: "
            ".venv/bin/python -m pip install --no-deps conformal-clip-data"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data/textile_images/simulated"
    if not folder.is_dir():
        raise SystemExit(f"conformal-clip-data has no {folder}: reinstall it")
    return folder


def data_spec(target: str, home: Path) -> str:
    spec = TARGETS[target][0]
    if spec == "textile":
        return str(textile_folder())
    if spec.startswith("20ng"):
        from text_transfer import write_data

        return str(write_data(home / "data", int(spec.split("-")[1])))
    return spec


def test_of(metrics: dict) -> float | None:
    v = metrics.get("test_accuracy")
    return None if v is None else float(v)


def run_auto(spec: str, lpc: int, seed: int, a, method: str, **settings: Any) -> dict[str, Any]:
    """One search (``settings``: sampler, pruner, the rules auto_old restores), resumed when
    an earlier, killed call of this benchmark left it unfinished in the store, then its
    candidates' test predictions kept for auto_replay.py."""
    import transferkit
    from transferkit.store import RunStore

    budget = a.budget if TARGETS[a.current][2] == "image" else a.text_budget
    settings = {
        "sampler": "tpe",
        "pruner": "halving",
        **settings,
        "budget": budget,
        "labels_per_class": lpc,
        "seed": seed,
        "max_test": a.max_test,
        "max_epochs": a.max_epochs,
    }
    store = RunStore()
    earlier = earlier_search(store, spec, settings, a.used_runs)
    t0 = time.perf_counter()
    if earlier is None:
        run_id, how = transferkit.auto(spec, **settings).run_id, "ran"
    elif earlier.status == "done":
        run_id, how = earlier.id, "reused"  # finished, but its test predictions were not kept
    else:
        run_id, how = transferkit.auto(resume=earlier.id).run_id, "resumed"
    cell = search_cell(store, run_id, time.perf_counter() - t0, how, seconds_of(budget))
    cpu0 = C.cpu_seconds()
    cell["record"] = keep_predictions(store, run_id, spec, seed, method, a)
    cell["record"]["cpu_s"] = C.cpu_seconds() - cpu0
    return cell


def earlier_search(store, spec: str, settings: dict[str, Any], used: set) -> Any:
    """The newest search of the store with these settings that a killed call of this
    benchmark left behind (interrupted, or done but not in the results), or None. The rules
    auto_old sets are compared at their defaults for the other methods."""
    from transferkit.config import AutoConfig

    want = {**{k: getattr(AutoConfig(), k) for k in OLD_RULES}, **settings}
    for rec in store.list(kind="auto", limit=None):
        if rec.id in used or rec.status not in ("interrupted", "done"):
            continue
        cfg = rec.config
        if cfg.get("data") == spec and all(cfg.get(k, object()) == v for k, v in want.items()):
            return rec
    return None


def search_cell(store, run_id: str, wall: float, how: str, budget_s: float) -> dict[str, Any]:
    """What the results keep of a finished search, read from its record."""
    rec = store.get(run_id)
    ex = rec.extra
    trials = [r for r in ex.get("leaderboard", []) if r.get("kind") == "trial"]
    chosen = ex.get("chosen") or {}
    keys = ("kind", "model", "strategy", "image_size", "trial", "val", "val_nll", "oof", "params")
    return {
        "test": test_of(rec.metrics),
        # a resumed or reused search: the total on the search's own clock over all its calls
        "wall_s": wall if how == "ran" else float(ex.get("elapsed") or wall),
        "call_wall_s": wall,
        "how": how,
        "budget_s": budget_s,
        "chosen": {k: chosen.get(k) for k in keys},
        "why": ex.get("why"),
        "selection": ex.get("selection"),
        "trials": len(trials),
        "complete": sum(r.get("state") == "complete" for r in trials),
        "pruned": sum(r.get("state") == "pruned" for r in trials),
        "failed": sum(r.get("state") == "failed" for r in trials),
        "kept": [r["model"] for r in (ex.get("ranking") or {}).get("rows", []) if r.get("kept")],
        "ensemble": ensemble_of(store, recorded_ensemble(ex)),
        "run": run_id,
    }


def recorded_ensemble(extra: dict[str, Any]) -> dict[str, Any]:
    """The search record's ensemble note (searches recorded before the record kept one: read
    from the chosen row, which holds the same weights and run)."""
    if extra.get("ensemble"):
        return extra["ensemble"]
    chosen = extra.get("chosen") or {}
    if chosen.get("kind") == "ensemble":
        return {"weights": chosen.get("weights") or {}, "run": chosen.get("run")}
    return {}


def refresh_ensembles(data: dict[str, Any]) -> None:
    """Fill the ensemble of the search cells that lack it from their records in the store
    (``--render --home``: cells written before the search record kept its ensemble note)."""
    from transferkit.store import RunStore

    store = RunStore()
    for cell in data["cells"]:
        if cell.get("method") in ("auto", "auto_old") and not cell.get("ensemble"):
            if cell.get("run"):
                cell["ensemble"] = ensemble_of(
                    store, recorded_ensemble(store.get(cell["run"]).extra)
                )


def ensemble_of(store, ens: dict[str, Any]) -> dict[str, Any] | None:
    """The search's ensemble: members, weights and the prediction time per item as a ratio to
    its heaviest member (from the ensemble run's record)."""
    from transferkit.errors import UserError

    if not ens:
        return None
    weights = ens.get("weights") or {}
    out = {
        "run": ens.get("run"),
        "members": sum(w > 0 for w in weights.values()),
        "weights": weights,
    }
    try:
        timing = store.get(ens["run"]).extra.get("prediction_time") or {} if ens.get("run") else {}
    except UserError:
        timing = {}
    out["prediction_time_ratio"] = timing.get("ratio")
    out["seconds_per_item"] = timing.get("seconds_per_item")
    return out


DATASETS: dict[str, Any] = {}


def keep_predictions(store, run_id: str, spec: str, seed: int, method: str, a) -> dict[str, Any]:
    """The search's candidates predicted on its test split, kept in results/auto31/ (the
    benchmark reads the test labels here; the library read them once, for what it shipped)."""
    from auto_replay import record_path, record_search

    from transferkit.config import AutoConfig
    from transferkit.data import load_dataset
    from transferkit.runs.auto.search import search_splits

    folder = store.artifact_dir(run_id)
    if not (folder / "candidates.json").is_file():
        return {"skipped": "the search wrote no candidates.json"}
    rec = store.get(run_id)
    if spec not in DATASETS:
        DATASETS[spec] = load_dataset(spec)
    dataset = DATASETS[spec]
    if rec.data_fingerprint and rec.data_fingerprint != dataset.fingerprint:
        raise SystemExit(f"{spec}: the data changed since search {run_id} (fingerprint)")
    splits = search_splits(dataset, AutoConfig.from_dict(rec.config))
    import numpy as np

    with np.load(folder / "candidates.npz", allow_pickle=False) as z:
        pool = z["pool"]
    if not np.array_equal(np.sort(np.concatenate([splits.train, splits.val])), pool):
        raise SystemExit(f"search {run_id}: its labelled pool differs from the splits made here")
    out = record_path(a.current, seed, method)
    return record_search(store, run_id, dataset, splits.test, out, top=a.replay_top)


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
    "auto": lambda spec, lpc, seed, mod, a: run_auto(spec, lpc, seed, a, "auto"),
    "auto_old": lambda spec, lpc, seed, mod, a: run_auto(
        spec, lpc, seed, a, "auto_old", **OLD_RULES
    ),
    "random": lambda spec, lpc, seed, mod, a: run_auto(
        spec, lpc, seed, a, "random", sampler="random", pruner="none"
    ),
    "linear": lambda spec, lpc, seed, mod, a: run_default(spec, lpc, seed, "linear", mod, a),
    "finetune": lambda spec, lpc, seed, mod, a: run_default(spec, lpc, seed, "finetune", mod, a),
    "topk": lambda spec, lpc, seed, mod, a: run_topk(spec, lpc, seed, mod, a),
    "oracle": lambda spec, lpc, seed, mod, a: run_oracle(spec, lpc, seed, mod, a),
}


def seeds_of(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--methods", default="auto,auto_old,linear,finetune", help=", ".join(METHODS))
    p.add_argument("--seeds", default="3,4", help="comma-separated seeds")
    p.add_argument("--budget", default="15m", help="per image target and search")
    p.add_argument("--text-budget", default="10m")
    p.add_argument("--max-epochs", type=int, default=9)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--oracle-seeds", default="0", help="the seeds the oracle grid runs for")
    p.add_argument(
        "--result-seeds",
        default="3,4",
        help="the seeds the report's gains average over (a search on seed 0 is run for the "
        "regret to the seed-0 oracle only)",
    )
    p.add_argument(
        "--replay-top",
        type=int,
        default=10,
        help="candidates predicted on test besides the ensemble, the shipped model and the "
        "cheap strategies: the best N by validation and by selection score (0: all)",
    )
    p.add_argument("--home", default=None, help="the store; the same one to resume")
    p.add_argument("--tag", default="_31", help="results/auto_transfer<TAG>.json")
    p.add_argument(
        "--oracle-from",
        default="auto_transfer.json",
        help="results files whose oracle cells the Markdown also reads (comma-separated)",
    )
    p.add_argument("--render", action="store_true", help="only rewrite the Markdown")
    return p.parse_args()


def main() -> int:
    a = arguments()
    out = C.RESULTS_DIR / f"auto_transfer{a.tag}.json"
    if a.render:
        if a.home:
            C.fresh_home(a.home, "tk-auto-")
            data = json.loads(out.read_text())
            refresh_ensembles(data)
            C.write_json(out, data)
        return render(out, a.oracle_from)
    import torch

    torch.set_num_threads(a.threads)
    home = C.fresh_home(a.home, "tk-auto-bench-")
    data = json.loads(out.read_text()) if out.is_file() else {"header": C.header(), "cells": []}
    data["header"]["machine"]["torch_threads"] = a.threads
    data["header"]["cpu_time"] = C.CPU_TIME_NOTE
    data["header"]["result_seeds"] = seeds_of(a.result_seeds)
    clock = C.Clock()
    done = {(c["target"], c["seed"], c["method"]) for c in data["cells"]}
    a.used_runs = {c.get("run") for c in data["cells"]} - {None}
    oracle_seeds = set(seeds_of(a.oracle_seeds))
    for target in a.targets.split(","):
        spec = data_spec(target, home)
        _, lpc, modality = TARGETS[target]
        a.current = target
        for seed in seeds_of(a.seeds):
            for method in a.methods.split(","):
                if (target, seed, method) in done or (
                    method == "oracle" and seed not in oracle_seeds
                ):
                    continue
                clock.say(f"{target} seed {seed}: {method}")
                cpu0 = C.cpu_seconds()
                cell = {
                    "target": target,
                    "seed": seed,
                    "method": method,
                    **METHODS[method](spec, lpc, seed, modality, a),
                }
                # the method's own CPU time; keeping test predictions for the replay is apart
                cell["cpu_s"] = C.cpu_seconds() - cpu0 - cell.get("record", {}).get("cpu_s", 0.0)
                clock.say(
                    f"  test {cell['test']}, {cell['wall_s']:.0f} s, CPU {cell['cpu_s']:.0f} s"
                )
                data["cells"].append(cell)
                a.used_runs.add(cell.get("run"))
                head = data["header"]
                head["wall_s"] = head.get("wall_s", 0) + cell["wall_s"]
                head["cpu_s"] = head.get("cpu_s", 0) + cell["cpu_s"]
                C.write_json(out, data)
                drop_partial(a, seed, method)
                render(out, a.oracle_from)
    return render(out, a.oracle_from)


def render(out: Path, oracle_from: str = "") -> int:
    """The Markdown from the JSON, with the oracle cells of ``oracle_from`` (other results
    files) for the (target, seed) pairs this one has no oracle for."""
    from auto_transfer_report import markdown

    data = json.loads(out.read_text())
    have = {(c["target"], c["seed"]) for c in data["cells"] if c["method"] == "oracle"}
    targets = {c["target"] for c in data["cells"]}
    for name in filter(None, oracle_from.split(",")):
        other = C.RESULTS_DIR / name
        if other.is_file() and other != out:
            for c in json.loads(other.read_text())["cells"]:
                pair = (c["target"], c["seed"])
                if c["method"] == "oracle" and c["target"] in targets and pair not in have:
                    data["cells"].append({**c, "from": name})
                    have.add(pair)
    C.write_text(out.with_suffix(".md"), markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
