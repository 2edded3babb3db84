"""What an adaptation run stores for its report: the selection table, proxy A-distances,
target metrics (only with evaluation labels, after the choice) and t-SNE coordinates."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.evaluation.metrics import classification_metrics, softmax
from transferkit.transferability.similarity import proxy_a_distance

SCORE_KEYS = (
    "risk",
    "dev",
    "iwcv",
    "snd",
    "im",
    "source_val_accuracy",
    "loss",
    "pad",
    "unreliable",
)


def proxy_a(fs: np.ndarray, ft: np.ndarray, seed: int) -> float | None:
    """Proxy A-distance of two equal-size feature samples (None when too few to tell)."""
    n = min(len(fs), len(ft))
    if n < 4:
        return None
    return float(proxy_a_distance(fs[:n], ft[:n], seed=seed)[0])


def _mean(values: list) -> float | None:
    v = [x for x in values if isinstance(x, (int, float)) and x == x]
    return float(np.mean(v)) if v else None


def selection_table(members: list[dict], order: list[str]) -> list[dict[str, Any]]:
    """One row per candidate with the mean of each label-free score over its seeds."""
    rows = []
    for name in order:
        mine = [m for m in members if m["candidate"] == name]
        row: dict[str, Any] = {
            "candidate": name,
            "method": mine[0]["method"],
            "trade_off": mine[0]["trade_off"],
            "n": len(mine),
        }
        for k in SCORE_KEYS:
            row[k] = _mean([m.get(k) for m in mine])
        rows.append(row)
    return rows


def target_metrics(members: list[dict], kept: dict, data, plan: dict, table: list[dict]) -> None:
    """Target accuracy of every member (and its mean / std per candidate, and the mean
    per-class recall), written into ``members`` and ``table``. Called after the choice."""
    classes = list(data.source.classes)
    for m in members:
        idx = plan[m["seed"]]["target"]
        y = data.eval_labels[idx]
        keep = y >= 0
        proba = softmax(kept[(m["candidate"], m["seed"])]["logits"])
        met = classification_metrics(y[keep], proba[keep], classes, prefix="target_")
        m.update(
            target_accuracy=met["target_accuracy"],
            target_balanced_accuracy=met["target_balanced_accuracy"],
            target_per_class={
                c: v["recall"] for c, v in met["target_per_class"].items() if v["support"] > 0
            },
            target_n=int(keep.sum()),
        )
    for row in table:
        mine = [m for m in members if m["candidate"] == row["candidate"]]
        acc = [m["target_accuracy"] for m in mine]
        row["target_accuracy"] = float(np.mean(acc))
        row["target_accuracy_std"] = float(np.std(acc, ddof=1)) if len(acc) > 1 else None
        names = mine[0]["target_per_class"].keys()
        row["target_per_class"] = {
            c: float(np.mean([m["target_per_class"][c] for m in mine])) for c in names
        }


def _tsne(fs: np.ndarray, ft: np.ndarray, seed: int) -> np.ndarray:
    """Joint 2-D t-SNE of both samples. One OpenMP thread: for the few hundred points plotted,
    Barnes-Hut's threads mostly spin-wait on a busy machine (30x slower measured on 2 cores)."""
    from sklearn.manifold import TSNE

    from transferkit.threads import native_threads

    z = np.concatenate([fs, ft]).astype(np.float64)
    perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3.0)))
    with native_threads():
        return TSNE(2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(z)


def embedding_plot_data(kept: dict, before: dict, chosen: str, cfg, data, idx: dict) -> dict:
    """t-SNE coordinates (seed 0) of source-validation and target samples, before adaptation
    (the source-only model when it ran, else the initial backbone) and after (the chosen
    candidate). Target classes are included only with evaluation labels."""
    n = cfg.embed_points
    if n <= 0:
        return {}
    ys = data.source.labels[idx["pad_source"]][:n].tolist()
    yt = data.eval_labels[idx["pad_target"]][:n].tolist() if data.eval_labels is not None else None
    if ("source-only", 0) in kept and chosen != "source-only":
        label_before, space = "source-only model", kept[("source-only", 0)]["space"]
    else:
        label_before, space = "initial backbone", before["initial_space"]
    out = {}
    for key, label, (fs, ft) in (
        ("before", label_before, space),
        ("after", f"{chosen} (chosen)", kept[(chosen, 0)]["space"]),
    ):
        fs, ft = fs[:n], ft[:n]
        if len(fs) + len(ft) < 6:
            return {}
        xy = _tsne(fs, ft, 0)
        out[key] = {
            "label": label,
            "xy": np.round(xy, 3).tolist(),
            "domain": [0] * len(fs) + [1] * len(ft),
            "source_classes": ys[: len(fs)],
            "target_classes": yt[: len(ft)] if yt is not None else None,
        }
    out["classes"] = list(data.source.classes)
    return out


def summary(table, chosen, oracle, before, cfg, rule, fallback) -> tuple[dict, dict]:
    row = {r["candidate"]: r for r in table}
    m: dict[str, Any] = {
        "chosen": chosen,
        "selection_rule": rule,
        "selection_rule_asked": cfg.select,
        "source_val_accuracy": row[chosen].get("source_val_accuracy"),
        "risk": row[chosen]["selection_score"],
        "pad_initial": float(np.mean(before["pad_initial"])),
        "pad_chosen": row[chosen].get("pad"),
    }
    if oracle is not None:
        m.update(
            oracle=oracle,
            target_accuracy=row[chosen]["target_accuracy"],
            oracle_target_accuracy=row[oracle]["target_accuracy"],
        )
        m["selection_gap"] = m["oracle_target_accuracy"] - m["target_accuracy"]
        for base in ("source-only", "shallow-source-only"):
            if base in row and row[base].get("target_accuracy") is not None:
                m[f"{base}_target_accuracy"] = row[base]["target_accuracy"]
    extra = {
        "selection": {
            "rule": rule,
            "asked": cfg.select,
            "fallback": fallback,
            "chosen": chosen,
            "oracle": oracle,
            "by": "lowest mean label-free risk over seeds",
        }
    }
    return m, extra
