"""Benchmark: ``transferkit export`` - parity for every kind of run, and CPU speed of the
exported graph (onnxruntime float32 and int8) against the run's PyTorch model.

What it measures
----------------
1. Parity, on real data: small runs of every strategy that predicts - on Fashion-MNIST with
   EfficientNet-Lite0 (linear, finetune, scratch, an ensemble of linear + finetune as one
   graph, an ensemble of two input sizes as members), on 4 classes of 20 Newsgroups with
   MiniLM-L6 (linear, LoRA, contrastive, zero-shot prototypes), and a domain adaptation run
   (tiny-cnn, MNIST -> UCI digits, DANN). Each is exported as float32 and as int8; the table
   gives the parity check's max |p_onnx - p_torch|, argmax agreement, the test accuracy of
   the exported graphs on the parity sample (the run's 200 test inputs, through the
   torch-free runtime on raw inputs), int8's accuracy change in points and which int8 was
   kept (static, calibrated on training images, for image graphs; else dynamic). An int8
   export that the parity check refuses is listed with the reason.
2. Speed, 2 threads (torch.set_num_threads(2); onnxruntime intra-op 2, inter-op 1): latency
   at batch 1 (median of repeated calls) and throughput at batch 32 of the graph alone on the
   same prepared inputs (pixels / token ids): PyTorch eager (the run's model + softmax, in
   ``torch.no_grad``), onnxruntime float32 and int8, for the EfficientNet finetune run and the
   MiniLM linear run, side by side in one process.

Writes ``benchmarks/results/export.json`` and ``.md``.

    .venv/bin/python benchmarks/export.py            # about 15 minutes on 2 busy CPU cores
    .venv/bin/python benchmarks/export.py --quick    # fewer runs, fewer repeats
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "export"
IMAGE = dict(model="effnet-lite0", image_size=64, labels_per_class=10, max_test=200, seed=0)
TEXT = dict(model="minilm-l6", labels_per_class=8, max_length=128, max_test=200, seed=0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="linear runs and the speed cases only")
    p.add_argument("--repeats", type=int, default=30, help="batch-1 calls timed per engine")
    p.add_argument("--home", default=None, help="TRANSFERKIT_HOME to use (default: a new one)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    return p.parse_args(argv)


def text_data(home: Path) -> tuple[str, str]:
    """4 classes of 20 Newsgroups as a table, and the zero-shot label descriptions."""
    from text_transfer import DESCRIPTIONS, SUBSET4, write_data

    labels = ",".join(f"{c}={DESCRIPTIONS[c]}" for c in SUBSET4)
    return str(write_data(home / "data", 4)), labels


def make_runs(home: Path, quick: bool, clock: C.Clock) -> dict[str, Any]:
    """The runs to export, by name: (run id, what it is)."""
    import torch

    import transferkit
    from transferkit.runs._fitting import fit_splits, load_fit_data, make_config
    from transferkit.runs.ensemble import record_ensemble
    from transferkit.store import RunStore

    runs: dict[str, Any] = {}

    def fit(name: str, data: str, **kw: Any) -> Any:
        clock.say(f"fit {name}")
        r = transferkit.fit(data, **kw)
        runs[name] = r.run_id
        return r

    fm = "builtin:fashion-mnist"
    lin = fit("image linear (effnet-lite0)", fm, strategy="linear", **IMAGE)
    ft = fit("image finetune", fm, strategy="finetune", epochs=1, **IMAGE)
    news, labels = text_data(home)
    fit("text linear (minilm-l6)", news, strategy="linear", **TEXT)
    if quick:
        return runs
    fit("image scratch", fm, strategy="scratch", epochs=1, **IMAGE)
    small = fit("image linear 48 px", fm, strategy="linear", **{**IMAGE, "image_size": 48})
    fit("text lora", news, strategy="lora", epochs=1, **TEXT)
    fit("text contrastive", news, strategy="contrastive", epochs=1, **TEXT)
    clock.say("zeroshot")
    z = transferkit.zeroshot(news, model="minilm-l6", labels=labels, max_length=128, max_test=200)
    runs["text zero-shot"] = z.run_id
    clock.say("adapt")
    a = transferkit.adapt(
        "builtin:mnist5k",
        "builtin:digits",
        method="dann",
        model="tiny-cnn",
        image_size=16,
        epochs=2,
        max_source=1000,
        max_target=600,
    )
    runs["adapt (dann, tiny-cnn)"] = a.run_id
    store = RunStore()
    cfg = make_config(fm, strategy="linear", **IMAGE)
    dataset = load_fit_data(cfg)
    test = fit_splits(dataset, cfg.data, cfg.seed, cfg.data.labels_per_class).test
    for name, other in (("ensemble, one graph", ft), ("ensemble, members (64 + 48 px)", small)):
        clock.say(name)
        members = [{"run": lin.run_id, "weight": 0.6}, {"run": other.run_id, "weight": 0.4}]
        e = record_ensemble(store, dataset, members, test=test, device=torch.device("cpu"))
        runs[name] = e.run_id
    return runs


def parity_rows(runs: dict[str, str], out: Path, clock: C.Clock) -> list[dict[str, Any]]:
    import transferkit

    rows = []
    for name, run in runs.items():
        row: dict[str, Any] = {"run": name, "id": run}
        for q in (None, "int8"):
            clock.say(f"export {name} {q or 'fp32'}")
            t0 = time.perf_counter()
            try:
                res = transferkit.export(run, out / f"{run}-{q or 'fp32'}", quantize=q, force=True)
            except transferkit.UserError as e:
                row[q or "fp32"] = {"refused": str(e)}
                continue
            p = res.parity
            row["n"] = p["inputs"]["n"]
            row[q or "fp32"] = {**p[q or "fp32"], "export_seconds": time.perf_counter() - t0}
        rows.append(row)
    return rows


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def speed(run: str, out: Path, repeats: int) -> dict[str, Any]:
    """Batch-1 latency and batch-32 throughput of the run's PyTorch model and its fp32 / int8
    graphs on the same prepared inputs, 2 threads each."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from transferkit.runs.export import _parity_inputs
    from transferkit.runs.predict import load_run_model
    from transferkit.shipping.build import tensor_batches
    from transferkit.store import RunStore

    torch.set_num_threads(2)
    store = RunStore()
    model, classes, _ = load_run_model(run, store)
    model.eval()
    data, _, idx, _, _ = _parity_inputs(store, store.get(run), classes, 32)
    batch = tensor_batches(model, data, idx)[0]
    names = [i["name"] for i in json.loads((out / f"{run}-fp32/config.json").read_text())["inputs"]]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    engines = {}
    with torch.no_grad():

        def eager(xs):
            x = xs[0] if len(xs) == 1 else dict(zip(names, xs))
            return torch.softmax(model(x), 1)

        engines["pytorch eager"] = eager
        for q in ("fp32", "int8"):
            path = out / f"{run}-{q}" / "model.onnx"
            if path.is_file():
                s = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                engines[f"onnxruntime {q}"] = lambda xs, s=s: s.run(
                    None, {n: np.ascontiguousarray(x.numpy()) for n, x in zip(names, xs)}
                )
        out_rows = {}
        one = tuple(x[:1] for x in batch)
        for name, fn in engines.items():
            lat = _time(lambda fn=fn: fn(one), repeats)
            thr = _time(lambda fn=fn: fn(batch), max(3, repeats // 5))
            out_rows[name] = {
                "latency_ms_batch1": 1000 * lat,
                "items_per_s_batch32": len(idx) / thr,
            }
    base = out_rows["pytorch eager"]
    for r in out_rows.values():
        r["speedup_batch1"] = base["latency_ms_batch1"] / r["latency_ms_batch1"]
        r["speedup_batch32"] = r["items_per_s_batch32"] / base["items_per_s_batch32"]
    return out_rows


def markdown(head, rows, speeds, wall) -> str:
    lines = [f"# {NAME}: export parity and CPU speed", "", C.md_header(head, wall), ""]
    table = []
    for r in rows:
        f, q = r.get("fp32", {}), r.get("int8", {})
        table.append(
            [
                r["run"],
                r.get("n", "-"),
                f"{f['max_abs_diff']:.1e}" if "max_abs_diff" in f else f.get("refused", "-")[:80],
                C.fmt(f.get("argmax_agreement"), 1, 100),
                C.fmt(f.get("accuracy_export"), 1, 100),
                f"{q['max_abs_diff']:.1e}"
                if "max_abs_diff" in q
                else "refused: " + q.get("refused", "-")[:90],
                C.fmt(q.get("argmax_agreement"), 1, 100),
                C.fmt(q.get("accuracy_change_points"), 2, signed=True),
                q.get("quantized_operators", "-"),
            ]
        )
    lines += ["## Parity (up to 256 test inputs, raw, through transferkit.runtime)", ""]
    lines.append(
        C.md_table(
            [
                "run",
                "n",
                "fp32 max |dp|",
                "fp32 agree %",
                "fp32 acc %",
                "int8 max |dp|",
                "int8 agree %",
                "int8 acc change (pts)",
                "int8 kept",
            ],
            table,
        )
    )
    lines += ["", "## Speed (2 threads; the graph alone on prepared inputs)", ""]
    srows = [
        [
            case,
            engine,
            C.fmt(v["latency_ms_batch1"], 2),
            C.fmt(v["speedup_batch1"], 2),
            C.fmt(v["items_per_s_batch32"], 0),
            C.fmt(v["speedup_batch32"], 2),
        ]
        for case, engines in speeds.items()
        for engine, v in engines.items()
    ]
    lines.append(
        C.md_table(["run", "engine", "batch 1 ms", "x eager", "batch 32 items/s", "x eager"], srows)
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    clock = C.Clock()
    home = C.fresh_home(args.home, "tk-export-")
    head = C.header()
    runs = make_runs(home, args.quick, clock)
    out = home / "exports"
    rows = parity_rows(runs, out, clock)
    speeds = {}
    for name in ("image finetune", "text linear (minilm-l6)"):
        clock.say(f"speed {name}")
        speeds[name] = speed(runs[name], out, args.repeats if not args.quick else 10)
    wall = clock.elapsed()
    data = {**head, "wall_seconds": wall, "runs": runs, "parity": rows, "speed": speeds}
    C.write_results(Path(args.out_dir), NAME, data, markdown(head, rows, speeds, wall), clock)


if __name__ == "__main__":
    main()
