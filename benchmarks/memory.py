"""Benchmark: peak memory (RSS) of feature extraction over large image folders.

What it measures
----------------
For each size in ``--sizes`` (default 50,000 / 100,000 / 200,000 images), a synthetic image
folder (32 px RGB PNG, 10 class folders, seeded per image; built once under ``--work`` and
reused, a larger folder hard-linking the files of a smaller one) is read and its features
extracted the way ``fit --strategy linear``, ``rank`` and ``adapt`` do it: ``load_dataset``
(listing; every image decoded once to find corrupt files, nothing kept), then ``tiny-cnn``
through ``extract_features`` with the store's feature cache, cold (computes, writes shards) and
warm (reads shards back). Each size runs in a fresh subprocess (one process, CPU) that reports
its peak resident memory (``VmHWM`` in ``/proc/self/status``) after imports, after loading,
after the cold and after the warm extraction, with the wall time of each step. The feature
matrix (N x 64 float32) is listed beside: memory that grows with N by much more than that would
mean something holds decoded images.

Writes ``benchmarks/results/memory.json`` and ``.md``.

    .venv/bin/python benchmarks/memory.py                          # 50k, 100k, 200k
    .venv/bin/python benchmarks/memory.py --sizes 5000,10000,20000  # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402
from logme_speed import other_busy_processes  # noqa: E402

NAME = "memory"
CLASSES, SIZE = 10, 32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sizes", default="50000,100000,200000", help="comma-separated numbers of images"
    )
    p.add_argument(
        "--work",
        default=str(HERE / "out" / "memory"),
        help="where the image folders are built (and kept for the next run)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="extraction batch (the default)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one measurement
    return p.parse_args(argv)


# -- the image folders ----------------------------------------------------------------------------
def image(i: int) -> np.ndarray:
    """Image ``i``: its class's coloured stripes, shifted and noisy (seeded by ``i``)."""
    rng = np.random.default_rng(i)
    c = i % CLASSES
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    wave = np.sin((xx * np.cos(c) + yy * np.sin(c)) * (0.2 + 0.05 * c) + rng.uniform(0, 6.3))
    base = np.stack([wave, np.roll(wave, c, 0), -wave], -1) * 80 + 128
    noisy = base + rng.normal(0, 20, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def image_path(folder: Path, i: int) -> Path:
    return folder / f"class{i % CLASSES}" / f"{i:07d}.png"


def build_folder(work: Path, n: int, clock: C.Clock) -> Path:
    """``work/images-N`` with N PNGs (cached: a ``.complete`` marker says it is whole)."""
    from PIL import Image

    folder = work / f"images-{n}"
    if (folder / ".complete").is_file():
        return folder
    donors = sorted(
        (int(d.name.split("-")[1]), d)
        for d in work.glob("images-*")
        if (d / ".complete").is_file() and int(d.name.split("-")[1]) < n
    )
    donor = donors[-1] if donors else (0, None)
    for c in range(CLASSES):
        (folder / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = image_path(folder, i)
        if path.exists():
            continue
        if i < donor[0]:
            os.link(image_path(donor[1], i), path)
        else:
            tmp = path.with_name(f".{path.name}.tmp")
            Image.fromarray(image(i)).save(tmp, format="PNG")
            tmp.replace(path)
        if (i + 1) % 20_000 == 0:
            clock.say(f"  {folder.name}: {i + 1:,} images")
    (folder / ".complete").write_text(f"{n}\n")
    return folder


# -- one measurement (a fresh process) ------------------------------------------------------------
def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(folder: Path, batch_size: int) -> dict[str, Any]:
    """Peak RSS and seconds of loading and extracting ``folder`` in this (fresh) process."""
    steps: dict[str, Any] = {}
    t = time.perf_counter()
    import torch

    from transferkit.data import load_dataset
    from transferkit.features import FeatureCache, extract_features
    from transferkit.store import RunStore
    from transferkit.zoo import create_backbone

    backbone = create_backbone("tiny-cnn")
    steps["imports"] = {"seconds": time.perf_counter() - t, "peak_mib": peak_mib()}
    t = time.perf_counter()
    dataset = load_dataset(str(folder))
    steps["load"] = {"seconds": time.perf_counter() - t, "peak_mib": peak_mib()}
    cache = FeatureCache(RunStore().root / "features")
    everything = np.arange(len(dataset))
    for name in ("extract_cold", "extract_warm"):
        t = time.perf_counter()
        feats = extract_features(
            backbone,
            dataset,
            everything,
            device=torch.device("cpu"),
            cache=cache,
            batch_size=batch_size,
        )
        steps[name] = {"seconds": time.perf_counter() - t, "peak_mib": peak_mib()}
    shards = list(cache.root.glob("*/*.safetensors"))
    return {
        "images": len(dataset),
        "features_shape": list(feats.shape),
        "features_mib": feats.nbytes / 2**20,
        "cache_shards": len(shards),
        "torch_threads": torch.get_num_threads(),
        "steps": steps,
    }


def run_child(folder: Path, n: int, batch_size: int, home: Path) -> dict[str, Any]:
    env = {**os.environ, "TRANSFERKIT_HOME": str(home), "TRANSFERKIT_QUIET": "1"}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(n),
        "--work",
        str(folder.parent),
        "--batch-size",
        str(batch_size),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"measuring {n} images failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# -- the report -------------------------------------------------------------------------------------
def markdown(
    head: dict[str, Any],
    rows: list[dict[str, Any]],
    wall: float,
    shared: list[str],
    args: argparse.Namespace,
) -> str:
    table = []
    for r in rows:
        s = r["steps"]
        base = s["imports"]["peak_mib"]
        table.append(
            [
                f"{r['images']:,}",
                f"{s['imports']['peak_mib']:.0f}",
                f"{s['load']['peak_mib']:.0f}",
                f"{s['extract_cold']['peak_mib']:.0f}",
                f"{s['extract_warm']['peak_mib']:.0f}",
                f"{s['extract_warm']['peak_mib'] - base:.0f}",
                f"{r['features_mib']:.1f}",
                f"{s['load']['seconds']:.1f}",
                f"{s['extract_cold']['seconds']:.1f}",
                f"{s['extract_warm']['seconds']:.2f}",
                r["cache_shards"],
            ]
        )
    slope = ""
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        grow = b["steps"]["extract_warm"]["peak_mib"] - a["steps"]["extract_warm"]["peak_mib"]
        per = grow * 2**20 / max(b["images"] - a["images"], 1)
        slope = (
            f"\nPeak RSS grows by {per:,.0f} bytes per image from {a['images']:,} to "
            f"{b['images']:,} images; one decoded 32 px RGB image is 3,072 bytes, one "
            f"feature row 256 bytes.\n"
        )
    note = (
        f"- Shared machine: other busy processes seen ({'; '.join(shared)}); times are "
        "pessimistic, memory is this process's own.\n"
        if shared
        else "- No other busy process seen at the start or the end.\n"
    )
    return (
        f"# Memory of feature extraction\n\n{C.md_header(head, wall)}\n{note}"
        f"- Synthetic PNG folders ({SIZE} px RGB, {CLASSES} classes) under `{args.work}`; "
        f"tiny-cnn (64-d), CPU, batch {args.batch_size}; one fresh process per size. Peak "
        "RSS is VmHWM (MiB) after each step; `growth` = after the warm extraction minus after "
        "imports.\n\n"
        + C.md_table(
            [
                "images",
                "peak: imports",
                "load",
                "extract (cold)",
                "extract (warm)",
                "growth",
                "feature matrix",
                "load s",
                "extract s",
                "warm s",
                "shards",
            ],
            table,
        )
        + "\n"
        + slope
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    if args.child:
        print(json.dumps(C._clean(measure(work / f"images-{args.child}", args.batch_size))))
        return 0
    head = C.header()
    shared_at_start = other_busy_processes()
    clock = C.Clock()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for n in sorted(sizes):
        clock.say(f"{n:,} images: building (or reusing) the folder")
        t = time.perf_counter()
        folder = build_folder(work, n, clock)
        built = time.perf_counter() - t
        home = C.fresh_home(None, f"tk-memory-{n}-")
        clock.say(f"{n:,} images: measuring in a fresh process")
        row = {**run_child(folder, n, args.batch_size, home), "build_seconds": built}
        rows.append(row)
        s = row["steps"]
        clock.say(
            f"{n:,} images: peak {s['extract_warm']['peak_mib']:.0f} MiB (after imports "
            f"{s['imports']['peak_mib']:.0f}); load {s['load']['seconds']:.1f} s, "
            f"extract {s['extract_cold']['seconds']:.1f} s"
        )
    shared = sorted(set({**shared_at_start, **other_busy_processes()}.values()))
    result = {
        **head,
        "sizes": sizes,
        "batch_size": args.batch_size,
        "work": args.work,
        "rows": rows,
        "machine_shared_with": shared,
    }
    C.write_results(
        Path(args.out_dir), NAME, result, markdown(head, rows, clock.elapsed(), shared, args), clock
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
