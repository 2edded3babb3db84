"""Replay recorded automatic searches under several selection rules (issue 31), without retraining.

Every search of ``auto_transfer.py`` keeps, in its artifact folder, what it evaluated
(``candidates.json``: each configuration's validation and out-of-fold scores and the runs whose
averaged probabilities are its model; ``candidates.npz``: those probabilities on the labelled
pool). After the search, the benchmark - never the library - predicts the TEST split with the
candidates' runs (:func:`record_search`) and keeps everything in
``results/auto31/<target>_s<seed>_<method>.npz`` (+ ``.json``). This script then asks, for each
recorded search, what each rule would have shipped and how it scores on those test predictions:

  argmax_val     the best validation score; ties by validation log-loss (NLL)
  argmax_oof     the best selection score: the out-of-fold score where a candidate has one, else
                 its validation score (the leaderboard's rule); ties by the matching NLL
  one_se         the library's rule of today (search.choose over a leaderboard of the candidates,
                 the cheap strategies scored by OOF when they have it)
  ensemble       search.ensemble.select_ensemble on the OOF probabilities of the candidates that
                 have them (on the validation rows of all candidates when none has)
  ensemble_val   the same on the validation rows of every candidate
  recorded       the search's own ensemble weights (a check: equals what the search shipped)
  oracle_single  the best single candidate on TEST: an upper bound, reported, never a rule

Only the candidates with test predictions take part (the search's ensemble members and chosen
model, the cheap strategies, and the best ``--replay-top`` by validation and by selection score:
the rest cost a forward pass each and no rule above picks them). Writes
``results/auto_replay.json`` and ``.md``: per target and method, each rule's test accuracy
(mean and spread over seeds) and its paired difference to argmax_val.

    .venv/bin/python benchmarks/auto_replay.py                  # every file in results/auto31
    .venv/bin/python benchmarks/auto_replay.py --max-members 3  # replay with another cap
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RECORD_DIR = C.RESULTS_DIR / "auto31"
RULES = (
    "argmax_val",
    "argmax_oof",
    "one_se",
    "ensemble",
    "ensemble_val",
    "recorded",
    "oracle_single",
)


# -- recording (run by auto_transfer.py right after a search) ------------------------------------
def record_path(target: str, seed: int, method: str, folder: Path = RECORD_DIR) -> Path:
    return folder / f"{target}_s{seed}_{method}.npz"


def for_test(cands: list[dict], weights: dict[str, float], chosen_runs: set, top: int) -> list:
    """Indices of the candidates worth a test prediction: the ensemble's members, the shipped
    model, every cheap strategy (they share a frozen backbone, so their features are computed
    once), and the ``top`` best by validation and by selection score (``top`` 0: all)."""
    if top <= 0:
        return list(range(len(cands)))
    keep = {i for i, c in enumerate(cands) if weights.get(c["key"], 0) > 0 or c["kind"] == "cheap"}
    keep |= {i for i, c in enumerate(cands) if chosen_runs & set(c["runs"])}
    for score in (_val, _score):
        keep |= set(sorted(range(len(cands)), key=lambda i: -score(cands[i]))[:top])
    return sorted(keep)


def _val(c: dict) -> float:
    return -np.inf if c.get("val") is None else float(c["val"])


def _score(c: dict) -> float:
    return _val(c) if c.get("oof") is None else float(c["oof"])


def backbone_key(model) -> str:
    """A digest of a model's backbone weights and input settings: runs that share it (the fold
    models of a linear probe, every cheap strategy of one model and size) share features."""
    import torch

    h = hashlib.sha1(json.dumps(model.data_config.to_dict(), sort_keys=True, default=str).encode())
    for name, t in sorted(model.backbone.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def predict_runs(store, dataset, test: np.ndarray, runs: list[str], cache: dict, device) -> Any:
    """The average of the runs' class probabilities on ``test``: features once per distinct
    backbone (``cache``), then each run's own head."""
    import torch

    from transferkit.evaluation.metrics import softmax
    from transferkit.evaluation.predict import predict_logits
    from transferkit.features.extract import forward_batches
    from transferkit.runs.predict import load_run_model

    probas = []
    for run in runs:
        model, _, _ = load_run_model(run, store)
        if not (hasattr(model, "backbone") and hasattr(model, "head")):
            probas.append(softmax(predict_logits(model, dataset, test, device=device)))
            continue
        key = backbone_key(model)
        if key not in cache:
            bb = model.backbone
            cache[key] = forward_batches(
                bb.forward_features,
                bb,
                model.data_config,
                dataset,
                test,
                device=device,
                batch_size=64,
                description=f"test features {run}",
            )
        with torch.no_grad():
            logits = model.head.float().cpu()(torch.from_numpy(cache[key])).numpy()
        probas.append(softmax(logits))
    return np.mean(probas, axis=0)


def record_search(store, search_id: str, dataset, test: np.ndarray, out: Path, *, top: int) -> dict:
    """Predict ``test`` with the recorded search's candidates and keep them beside its
    candidates files, in ``out`` (.npz: the search's arrays plus ``test``, ``test_y``,
    ``tested`` and ``test_proba_<i>`` as float16; .json: candidates and the search's choice).
    Returns a summary for the benchmark's cell (seconds spent, candidates tested)."""
    from transferkit import distributed

    t0 = time.perf_counter()
    rec = store.get(search_id)
    folder = store.artifact_dir(search_id)
    cands = json.loads((folder / "candidates.json").read_text())
    with np.load(folder / "candidates.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    from auto_transfer import recorded_ensemble

    ensemble = recorded_ensemble(rec.extra)
    chosen = rec.extra.get("chosen") or {}
    chosen_runs = {chosen.get("run"), *(chosen.get("runs") or [])} - {None}
    picked = for_test(cands, ensemble.get("weights") or {}, chosen_runs, top)
    device, cache = distributed.device_for("auto"), {}
    tested = np.zeros(len(cands), bool)
    for i in picked:
        arrays[f"test_proba_{i}"] = predict_runs(
            store, dataset, test, cands[i]["runs"], cache, device
        ).astype(np.float16)
        tested[i] = True
    test_y = np.asarray(dataset.labels[test], np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, **arrays, test=np.asarray(test, np.int64), test_y=test_y, tested=tested
    )
    tmp.replace(out)
    seconds = time.perf_counter() - t0
    meta = {
        "search": search_id,
        "candidates": cands,
        "ensemble": ensemble,
        "chosen": chosen,
        "why": rec.extra.get("why"),
        "test_accuracy": rec.metrics.get("test_accuracy"),
        "classes": list(dataset.classes),
        "record_s": seconds,
        "distinct_backbones": len(cache),
    }
    C.write_json(out.with_suffix(".json"), meta)
    return {"record_s": seconds, "tested": int(tested.sum()), "candidates": len(cands)}


# -- replay --------------------------------------------------------------------------------------
class Recorded:
    """One recorded search: candidates, their pool probabilities and test probabilities."""

    def __init__(self, npz: Path) -> None:
        self.path, self.name = npz, npz.stem
        self.meta = json.loads(npz.with_suffix(".json").read_text())
        with np.load(npz, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        self.cands: list[dict] = self.meta["candidates"]
        self.pool, self.y, self.test_y, self.tested = a["pool"], a["y"], a["test_y"], a["tested"]
        self.val_rows = np.searchsorted(self.pool, a["val"])
        self.proba = [a[f"proba_{i}"] for i in range(len(self.cands))]
        self.test_proba = {
            i: a[f"test_proba_{i}"].astype(np.float32) for i in np.flatnonzero(self.tested)
        }
        self.keys = [c["key"] for c in self.cands]

    def nll(self, i: int, rows: np.ndarray) -> float:
        p = self.proba[i][rows]
        ok = ~np.isnan(p).any(axis=1)
        if not ok.any():
            return np.inf
        picked = p[ok, self.y[rows][ok]]
        return float(-np.log(np.clip(picked, 1e-12, None)).mean())

    def val_nll(self, i: int) -> float:
        """The validation log-loss the search recorded, else computed on the validation rows."""
        got = self.cands[i].get("val_nll")
        return self.nll(i, self.val_rows) if got is None else float(got)

    def oof_rows(self, i: int) -> np.ndarray:
        return np.flatnonzero(~np.isnan(self.proba[i]).any(axis=1))

    def test_accuracy(self, weights: dict[int, float]) -> float | None:
        """Accuracy of the weighted average of the candidates' test probabilities; None when a
        member has no test prediction."""
        if not weights or any(i not in self.test_proba for i in weights):
            return None
        total = sum(w * self.test_proba[i] for i, w in weights.items())
        return float((total.argmax(axis=1) == self.test_y).mean())


def _best(r: Recorded, eligible: list[int], score, nll) -> dict[int, float] | None:
    if not eligible:
        return None
    return {min(eligible, key=lambda i: (-score(r.cands[i]), nll(i))): 1.0}


def argmax_val(r: Recorded) -> dict[int, float] | None:
    ok = [i for i, c in enumerate(r.cands) if c.get("val") is not None]
    return _best(r, ok, _val, r.val_nll)


def argmax_oof(r: Recorded) -> dict[int, float] | None:
    ok = [i for i, c in enumerate(r.cands) if c.get("val") is not None or c.get("oof") is not None]
    return _best(
        r,
        ok,
        _score,
        lambda i: r.nll(i, r.oof_rows(i)) if r.cands[i].get("oof") is not None else r.val_nll(i),
    )


def one_se(r: Recorded) -> dict[int, float] | None:
    """The library's choice rule, unchanged, over rows made from the candidates."""
    from transferkit.search.choose import choose, leaderboard

    rows = []
    for i, c in enumerate(r.cands):
        if c.get("val") is None:
            continue
        row = {
            **{k: c.get(k) for k in ("kind", "model", "strategy", "image_size", "params")},
            "state": "complete",
            "val": float(c["val"]),
            "n_val": c.get("n_val") or len(r.val_rows),
            "val_nll": r.val_nll(i),
            "seconds": c.get("seconds") or 0.0,
            "trial": c["key"],
            "index": i,
        }
        if c["kind"] == "cheap" and c.get("oof") is not None:
            row["cv"] = float(c["oof"])
        rows.append(row)
    if not rows:
        return None
    row, _ = choose(leaderboard(rows))
    return {row["index"]: 1.0}


def _ensemble(r: Recorded, library: list[int], rows: np.ndarray, a) -> dict[int, float] | None:
    from transferkit.search.ensemble import select_ensemble

    library = [i for i in library if i in r.test_proba]
    if not library or len(rows) == 0:
        return None
    probas = {r.keys[i]: r.proba[i][rows] for i in library}
    ens = select_ensemble(probas, r.y[rows], max_members=a.max_members, seed=a.seed)
    index = {r.keys[i]: i for i in library}
    return {index[k]: float(w) for k, w in ens.weights.items() if w > 0}


def ensemble(r: Recorded, a) -> dict[int, float] | None:
    oof = [i for i, c in enumerate(r.cands) if c.get("source") == "oof"]
    if oof:
        rows = np.flatnonzero(np.all([~np.isnan(r.proba[i]).any(axis=1) for i in oof], axis=0))
        return _ensemble(r, oof, rows, a)
    return ensemble_val(r, a)


def ensemble_val(r: Recorded, a) -> dict[int, float] | None:
    return _ensemble(r, list(range(len(r.cands))), r.val_rows, a)


def recorded(r: Recorded) -> dict[int, float] | None:
    from auto_transfer import recorded_ensemble

    weights = recorded_ensemble(r.meta).get("weights") or {}
    index = {k: i for i, k in enumerate(r.keys)}
    return {index[k]: float(w) for k, w in weights.items() if w > 0 and k in index} or None


def oracle_single(r: Recorded) -> dict[int, float] | None:
    if not r.test_proba:
        return None
    return {max(r.test_proba, key=lambda i: r.test_accuracy({i: 1.0})): 1.0}


def replay(r: Recorded, a) -> dict[str, Any]:
    """Each rule's pick (candidate keys and weights) and its test accuracy."""
    picks = {
        "argmax_val": argmax_val(r),
        "argmax_oof": argmax_oof(r),
        "one_se": one_se(r),
        "ensemble": _optional(ensemble, r, a),
        "ensemble_val": _optional(ensemble_val, r, a),
        "recorded": recorded(r),
        "oracle_single": oracle_single(r),
    }
    return {
        rule: None
        if w is None
        else {"weights": {r.keys[i]: w[i] for i in w}, "test": r.test_accuracy(w)}
        for rule, w in picks.items()
    }


def _optional(rule, r: Recorded, a) -> dict[int, float] | None:
    """Ensemble rules need search.ensemble; without it they are left out (None)."""
    try:
        import transferkit.search.ensemble  # noqa: F401
    except ImportError:
        return None
    return rule(r, a)


# -- report --------------------------------------------------------------------------------------
def parse_name(name: str) -> tuple[str, int, str]:
    target, rest = name.rsplit("_s", 1)
    seed, method = rest.split("_", 1)
    return target, int(seed), method


def markdown(data: dict[str, Any]) -> str:
    by: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    for row in data["searches"]:
        by[(row["target"], row["method"])][row["seed"]] = row["rules"]
    parts = [
        "# Replayed selection rules on recorded searches (issue 31)",
        "",
        C.md_header(data["header"], data["header"].get("wall_s")),
        "",
        "Test accuracy % of what each rule would ship: mean ± std over seeds, and in brackets "
        "the paired mean difference to argmax_val (points). oracle_single is an upper bound "
        "(chosen on test), never a rule; recorded is the search's own ensemble replayed.",
        "",
    ]
    for method in sorted({m for _, m in by}):
        rows, deltas = [], defaultdict(list)
        for (target, m), seeds in sorted(by.items()):
            if m != method:
                continue
            line = [target, ", ".join(map(str, sorted(seeds)))]
            for rule in RULES:
                diff = _paired(seeds, rule)
                if diff:
                    deltas[rule].append(C.mean(diff))
                line.append(_cell(seeds, rule, diff))
            rows.append(line)
        rows.append(
            ["mean over targets", ""]
            + [f"({C.fmt(C.mean(deltas[rule]), 2, 100.0, True)})" for rule in RULES]
        )
        parts += [f"## {method}", "", C.md_table(["target", "seeds", *RULES], rows), ""]
    return "\n".join(parts) + "\n"


def _tests(seeds: dict[int, dict], rule: str) -> dict[int, float]:
    out = {}
    for s, rules in seeds.items():
        got = rules.get(rule)
        if got is not None and got.get("test") is not None:
            out[s] = got["test"]
    return out


def _paired(seeds: dict[int, dict], rule: str) -> list[float]:
    base, this = _tests(seeds, "argmax_val"), _tests(seeds, rule)
    return [this[s] - base[s] for s in this if s in base]


def _cell(seeds: dict[int, dict], rule: str, diff: list[float]) -> str:
    tests = list(_tests(seeds, rule).values())
    if not tests:
        return "n/a"
    text = f"{C.fmt(C.mean(tests), 1, 100.0)} ± {C.fmt(C.std(tests), 1, 100.0)}"
    return text + (f" ({C.fmt(C.mean(diff), 2, 100.0, True)})" if diff else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", default=str(RECORD_DIR), help="folder of recorded searches")
    p.add_argument("--max-members", type=int, default=5, help="the ensemble rules' size cap")
    p.add_argument("--seed", type=int, default=0, help="the ensemble rules' bagging seed")
    p.add_argument("--name", default="auto_replay", help="results/NAME.json and .md")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    a = p.parse_args(argv)
    clock = C.Clock()
    data: dict[str, Any] = {"header": C.header(), "searches": []}
    data["header"]["settings"] = {"max_members": a.max_members, "seed": a.seed}
    for npz in sorted(Path(a.records).glob("*.npz")):
        if npz.name.endswith(".tmp.npz"):
            continue
        r = Recorded(npz)
        target, seed, method = parse_name(r.name)
        rules = replay(r, a)
        data["searches"].append(
            {
                "target": target,
                "seed": seed,
                "method": method,
                "search": r.meta.get("search"),
                "search_test": r.meta.get("test_accuracy"),
                "candidates": len(r.cands),
                "tested": int(r.tested.sum()),
                "rules": rules,
            }
        )
        said = ", ".join(f"{k} {C.fmt((v or {}).get('test'), 1, 100.0)}" for k, v in rules.items())
        clock.say(f"{r.name}: {said}")
    data["header"]["wall_s"] = clock.elapsed()
    C.write_results(Path(a.out_dir), a.name, data, markdown(data), clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
