"""Prediction time of recorded ensembles against their heaviest member, with the current code.

An ensemble's record keeps the times measured when it was tested; this script measures them
again as the library predicts now (members on one frozen backbone compute its features once),
on the same test examples, side by side in one process: the ensemble's seconds per example,
the heaviest member's alone, and the ratio.

    .venv/bin/python benchmarks/ensemble_time.py --home /work/bench31/home RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def measure(store, run_id: str) -> dict:
    import torch

    from transferkit.data import load_dataset
    from transferkit.evaluation.predict import member_probabilities, predict_logits
    from transferkit.runs.predict import load_run_model
    from transferkit.store.artifacts import load_predictions

    rec = store.get(run_id)
    model, _, _ = load_run_model(run_id, store)
    test = load_predictions(store.artifact_dir(run_id))["indices"]
    data = rec.config["data"]
    dataset = load_dataset(data["data"] if isinstance(data, dict) else data, validate=False)
    cpu = torch.device("cpu")
    heaviest = model.members[model.heaviest]
    t0 = time.perf_counter()
    predict_logits(heaviest, dataset, test, device=cpu, shard=False)
    alone = time.perf_counter() - t0
    _, total = member_probabilities(model, dataset, test, device=cpu, shard=False)
    return {
        "run": run_id,
        "members": len(model.members),
        "backbone_passes": len(model.shared_backbones()),
        "items": int(len(test)),
        "heaviest_s_per_item": alone / len(test),
        "ensemble_s_per_item": total / len(test),
        "ratio": total / alone,
        "recorded_ratio": (rec.extra.get("prediction_time") or {}).get("ratio"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--home", required=True)
    p.add_argument("--name", default="ensemble_time")
    a = p.parse_args()
    C.fresh_home(a.home, "tk-ens-")
    from transferkit.store import RunStore

    clock, head = C.Clock(), C.header()
    rows = [measure(RunStore(), r) for r in a.runs]
    text = "\n".join(
        [
            "# Prediction time of ensembles against their heaviest member",
            "",
            C.md_header(head, clock.elapsed()),
            "",
            C.md_table(
                [
                    "ensemble run",
                    "members",
                    "backbone passes",
                    "test items",
                    "ms per item (ensemble)",
                    "ms per item (heaviest member)",
                    "ratio",
                    "ratio when recorded",
                ],
                [
                    [
                        r["run"],
                        r["members"],
                        r["backbone_passes"],
                        r["items"],
                        C.fmt(r["ensemble_s_per_item"], 2, 1000),
                        C.fmt(r["heaviest_s_per_item"], 2, 1000),
                        C.fmt(r["ratio"], 1),
                        C.fmt(r["recorded_ratio"], 1),
                    ]
                    for r in rows
                ],
            ),
        ]
    )
    C.write_results(C.RESULTS_DIR, a.name, {"header": head, "rows": rows}, text + "\n", clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
