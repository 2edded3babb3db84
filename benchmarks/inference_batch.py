"""Benchmark: the speed of an eval forward on a CPU as a function of the batch size.

What it measures
----------------
Milliseconds per image of ``forward_batches`` (the path of feature extraction, validation and
the test split: decode, batched eval transform, forward in eval mode) over the same Fashion-MNIST
images, for each model and input size at several batch sizes; each batch size is timed
``--repeats`` times in an alternating order and the fastest repeat is kept (the machine is
noisy). The batch that forward runs is forced with ``features.extract.CPU_PIXELS_PER_BATCH``
set large, so the asked batch is the one timed. The rule's choice (the power of two nearest
``CPU_PIXELS_PER_BATCH`` input pixels per batch, never above the asked batch) is marked, with
its cost relative to the fastest batch measured and its gain over batch 64.

Writes ``benchmarks/results/inference_batch.json`` and ``.md``.

    .venv/bin/python benchmarks/inference_batch.py
    .venv/bin/python benchmarks/inference_batch.py --quick        # effnet-lite0 64 and 224 px
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "inference_batch"
DATA = "builtin:fashion-mnist"
# (model, input size, images); random weights where none are packaged (speed does not depend
# on them)
CASES = [
    ("effnet-lite0", 32, 2048),
    ("effnet-lite0", 64, 1024),
    ("effnet-lite0", 96, 512),
    ("effnet-lite0", 128, 256),
    ("effnet-lite0", 160, 256),
    ("effnet-lite0", 224, 256),
    ("effnet-lite2", 128, 256),
    ("timm:resnet18", 96, 512),
    ("timm:resnet18", 224, 256),
    ("timm:vit_tiny_patch16_224", 224, 256),
]
BATCHES = (2, 4, 8, 16, 32, 64, 128)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="effnet-lite0 at 64 and 224 px only")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    return p.parse_args(argv)


def measure(name: str, size: int, n: int, repeats: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from transferkit.data import load_dataset
    from transferkit.features import extract
    from transferkit.zoo import create_backbone

    cpu = torch.device("cpu")
    dataset = load_dataset(DATA)
    packaged = name.startswith("effnet-lite")
    backbone = create_backbone(name, pretrained=packaged, image_size=size)
    indices = np.arange(n)
    rule = extract.inference_batch(64, backbone.data_config, cpu)
    saved = extract.CPU_PIXELS_PER_BATCH
    extract.CPU_PIXELS_PER_BATCH = 10**12  # the asked batch is the batch run
    try:

        def ms(bs: int) -> float:
            t0 = time.perf_counter()
            extract.forward_batches(
                backbone.forward_features,
                backbone,
                backbone.data_config,
                dataset,
                indices,
                device=cpu,
                batch_size=bs,
            )
            return 1000 * (time.perf_counter() - t0) / n

        ms(8)  # warm-up
        times: dict[int, list[float]] = {b: [] for b in BATCHES}
        for r in range(repeats):
            for b in BATCHES if r % 2 == 0 else BATCHES[::-1]:
                times[b].append(ms(b))
    finally:
        extract.CPU_PIXELS_PER_BATCH = saved
    best_ms = {b: min(v) for b, v in times.items()}
    fastest = min(best_ms, key=best_ms.get)
    return {
        "model": name,
        "size": size,
        "images": n,
        "ms_per_image": best_ms,
        "all_ms": times,
        "fastest_batch": fastest,
        "rule_batch": rule,
        "rule_vs_fastest": best_ms[rule] / best_ms[fastest],
        "batch64_vs_rule": best_ms[64] / best_ms[rule],
    }


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Eval forward on a CPU: milliseconds per image by batch size\n\n",
        C.md_header(out["header"], out["wall_seconds"]),
        "\n\n",
    ]
    rows = []
    for c in out["cases"]:
        cells = []
        for b in BATCHES:
            v = f"{c['ms_per_image'][b]:.2f}"
            if b == c["rule_batch"]:
                v = f"**{v}** (rule)"
            elif b == c["fastest_batch"]:
                v = f"{v} (fastest)"
            cells.append(v)
        rows.append(
            [
                c["model"],
                c["size"],
                *cells,
                f"{c['rule_vs_fastest']:.2f}",
                f"{c['batch64_vs_rule']:.2f}",
            ]
        )
    lines.append(
        C.md_table(
            ["model", "px", *[f"batch {b}" for b in BATCHES], "rule / fastest", "batch 64 / rule"],
            rows,
        )
    )
    lines.append(
        "\n\nThe rule: the power of two nearest 160k input pixels per batch "
        "(`features.extract.inference_batch`). Fastest of the repeats per cell.\n"
    )
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head, clock = C.header(), C.Clock()
    cases = [c for c in CASES if not args.quick or (c[0] == "effnet-lite0" and c[1] in (64, 224))]
    results = []
    for name, size, n in cases:
        res = measure(name, size, n, args.repeats)
        clock.say(
            f"{name} {size}px: fastest batch {res['fastest_batch']}, rule "
            f"{res['rule_batch']} ({res['rule_vs_fastest']:.2f}x the fastest), batch 64 "
            f"{res['batch64_vs_rule']:.2f}x the rule"
        )
        results.append(res)
    out = {"header": head, "args": vars(args), "cases": results, "wall_seconds": clock.elapsed()}
    C.write_results(Path(args.out_dir), NAME, out, markdown(out), clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
