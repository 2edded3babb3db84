"""Benchmark: is transferkit as fast as a hand-written loop? Fine-tuning, extraction, start-up.

What it measures (issue 19), side by side in one run
----------------------------------------------------
1. Fine-tuning. The same model (EfficientNet-Lite0, ImageNet weights), data (Fashion-MNIST: the
   training split ``transferkit fit`` makes with ``--labels-per-class`` and the seed, and the
   same ``--max-test`` test images), image size, batch size (32), threads and epochs through
   (a) a plain PyTorch loop (a torch Dataset with torchvision's Resize / ToTensor / Normalize
   per image, a DataLoader, Adam at 3e-4, cross-entropy, no augmentation, no validation, then
   the test images) and (b) ``transferkit fit --strategy finetune`` as a user runs it (the
   library's recipe: LP-FT head start with AdaBN, augmentation, validation with precise
   BatchNorm each epoch, checkpoints, the test split, the run store) and (c) the same command
   with ``--head-init random --no-augment`` (the plain loop's work, plus validation,
   checkpoints and the store). Each arm is a fresh process (start-up counted) with a fresh
   ``TRANSFERKIT_HOME`` (no feature cache from an earlier arm); the arms are alternated over
   ``--repeats`` (repeat r uses seed r, so every arm sees the same images in a repeat).
   Reported: wall time, training images/s (images x epochs / seconds of the training steps),
   test accuracy, the ratio of each fit arm's wall time to the plain loop's, and where fit's
   time went (the stages its record keeps: load, extract, batchnorm, probe, train, validate,
   checkpoint, test, store, other), plus the process start-up (wall minus the run's total).
2. Extraction: a bare ``forward_features`` loop over pre-made tensor batches vs
   ``extract_features`` on the same images (the function of ``fashion_mnist_transfer.py``).
3. Command start: wall time of ``transferkit --help``, ``fit --help``, ``zoo`` and
   ``runs list``, beside ``python -c "import torch"`` (the floor of any command that trains).

Writes ``benchmarks/results/throughput.json`` and ``.md``.

    .venv/bin/python benchmarks/throughput.py                       # 64 and 96 px, 3 repeats
    .venv/bin/python benchmarks/throughput.py --quick               # smoke test, ~3 min
    # on a GPU machine (both arms use CUDA, AMP and channels_last when it is there):
    .venv/bin/python benchmarks/throughput.py --sizes 224 --extract-sizes 224 --num-workers 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "throughput"
DATA, MODEL = "builtin:fashion-mnist", "effnet-lite0"
TARGET_FIT, TARGET_EXTRACT, TARGET_START = 1.05, 0.97, 2.0
ARMS = {"plain": None, "fit": [], "fit-plain-recipe": ["--head-init", "random", "--no-augment"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,96", help="image sizes for fine-tuning")
    p.add_argument("--extract-sizes", default="64,224")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument(
        "--labels-per-class",
        type=int,
        default=125,
        help="labelled images per class; fit keeps 80%% for training",
    )
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="DataLoader workers, the same in every arm (e.g. 8 on a GPU machine)",
    )
    p.add_argument("--extract-n", type=int, default=1024)
    p.add_argument("--extract-batch-size", type=int, default=64)
    p.add_argument("--extract-repeats", type=int, default=3)
    p.add_argument("--start-repeats", type=int, default=3)
    p.add_argument("--skip", default="", help="comma list of parts to skip: train,extract,start")
    p.add_argument("--quick", action="store_true", help="64 px, 1 repeat, 20 labels per class")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: the plain loop's process
    a = p.parse_args(argv)
    if a.quick:
        a.sizes, a.extract_sizes, a.repeats, a.labels_per_class = "64", "64", 1, 20
        a.max_test, a.extract_n, a.extract_repeats, a.start_repeats = 500, 256, 1, 1
    return a


# -- the plain loop (runs in its own process) ----------------------------------------------------
def plain_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """What a user would write by hand: same backbone weights, a new linear head, Adam."""
    t0 = time.perf_counter()
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn
    from torchvision import transforms as T

    from transferkit.data import load_dataset
    from transferkit.zoo import create_backbone

    torch.manual_seed(spec["seed"])
    dataset = load_dataset(DATA)
    backbone = create_backbone(MODEL, pretrained=True, image_size=spec["size"])
    cfg = backbone.data_config
    tf = T.Compose(
        [
            T.Resize((spec["size"], spec["size"]), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            T.Normalize(cfg.mean, cfg.std),
        ]
    )

    class Items(torch.utils.data.Dataset):
        def __init__(self, idx):
            self.idx = idx

        def __len__(self):
            return len(self.idx)

        def __getitem__(self, j):
            i = int(self.idx[j])
            return tf(Image.fromarray(dataset.load(i)).convert("RGB")), int(dataset.labels[i])

    # on a GPU, what a careful hand-written loop does: channels_last, bf16 autocast (fp16 with
    # a gradient scaler where bf16 is missing), pinned memory and non-blocking copies
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    model = nn.Sequential(backbone, nn.Linear(backbone.num_features, dataset.num_classes)).to(dev)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model.to(memory_format=fmt)
    bf16 = cuda and torch.cuda.is_bf16_supported()
    amp = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and not bf16)
    loader = {"num_workers": spec["num_workers"], "pin_memory": cuda}
    train = torch.utils.data.DataLoader(
        Items(spec["train"]), batch_size=spec["batch_size"], shuffle=True, **loader
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    loss_fn = nn.CrossEntropyLoss()
    t_load = time.perf_counter()
    model.train()
    for _ in range(spec["epochs"]):
        for x, y in train:
            x = x.to(dev, non_blocking=True).contiguous(memory_format=fmt)
            y = y.to(dev, non_blocking=True)
            opt.zero_grad()
            with torch.autocast(dev.type, dtype=amp, enabled=cuda):
                loss = loss_fn(model(x).float(), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    if cuda:
        torch.cuda.synchronize()
    t_train = time.perf_counter()
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(dev.type, dtype=amp, enabled=cuda):
        for x, y in torch.utils.data.DataLoader(Items(spec["test"]), batch_size=64, **loader):
            x = x.to(dev, non_blocking=True).contiguous(memory_format=fmt)
            correct += int((model(x).argmax(1).cpu() == y).sum())
    t_test = time.perf_counter()
    return {
        "accuracy": correct / len(spec["test"]),
        "stages": {"load": t_load - t0, "train": t_train - t_load, "test": t_test - t_train},
        "inside_seconds": t_test - t0,
        "train_images": int(len(spec["train"])),
        "test_images": int(len(spec["test"])),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "np": np.__version__,
    }


# -- one arm of one repeat -----------------------------------------------------------------------
def splits_for(seed: int, args: argparse.Namespace) -> tuple[list[int], list[int]]:
    """The training and test indices ``fit`` uses for this seed (same function, same args)."""
    from transferkit.data import load_dataset
    from transferkit.data.splits import make_splits

    s = make_splits(
        load_dataset(DATA),
        seed=seed,
        labels_per_class=args.labels_per_class,
        max_test=args.max_test,
    )
    return [int(i) for i in s.train], [int(i) for i in s.test]


def run_arm(
    arm: str, size: int, seed: int, args: argparse.Namespace, split: tuple[list[int], list[int]]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tk-throughput-") as home:
        env = {**os.environ, "TRANSFERKIT_HOME": home, "TRANSFERKIT_QUIET": "1"}
        if arm == "plain":
            spec = Path(home) / "spec.json"
            spec.write_text(
                json.dumps(
                    {
                        "seed": seed,
                        "size": size,
                        "epochs": args.epochs,
                        "batch_size": args.batch_size,
                        "train": split[0],
                        "num_workers": args.num_workers,
                        "test": split[1],
                    }
                )
            )
            cmd = [sys.executable, __file__, "--child", str(spec)]
        else:
            cmd = [
                sys.executable,
                "-m",
                "transferkit",
                "fit",
                "--data",
                DATA,
                "--model",
                MODEL,
                "--strategy",
                "finetune",
                "--epochs",
                str(args.epochs),
                "--labels-per-class",
                str(args.labels_per_class),
                "--max-test",
                str(args.max_test),
                "--image-size",
                str(size),
                "--batch-size",
                str(args.batch_size),
                "--seed",
                str(seed),
                "--num-workers",
                str(args.num_workers),
                "--json",
                *ARMS[arm],
            ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{arm} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        out: dict[str, Any] = {"arm": arm, "size": size, "seed": seed, "wall_seconds": wall}
        if arm == "plain":
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            out.update(
                accuracy=res["accuracy"],
                stages=res["stages"],
                train_seconds=res["stages"]["train"],
                start_seconds=wall - res["inside_seconds"],
                train_images=res["train_images"],
                test_images=res["test_images"],
                device=res["device"],
            )
        else:
            from transferkit.store import RunStore

            rec = RunStore(Path(home)).list()[0]
            t = dict(rec.timings)
            out.update(
                accuracy=rec.metrics.get("test_accuracy"),
                stages=t,
                train_seconds=t.get("train", 0.0),
                start_seconds=wall - t["total"],
                train_images=(rec.extra.get("splits") or {}).get("train"),
                test_images=(rec.extra.get("splits") or {}).get("test"),
                epochs_run=len(rec.extra.get("history") or []),
            )
        out["train_images_per_s"] = (
            out["train_images"] * args.epochs / out["train_seconds"]
            if out["train_seconds"]
            else None
        )
        return out


def finetune_part(args: argparse.Namespace, clock: C.Clock) -> list[dict[str, Any]]:
    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        for r in range(args.repeats):
            split = splits_for(r, args)
            names = list(ARMS)
            order = names if r % 2 == 0 else names[::-1]  # alternate: drift cancels
            for arm in order:
                row = run_arm(arm, size, r, args, split)
                rows.append(row)
                clock.say(
                    f"{size}px seed {r} {arm}: {row['wall_seconds']:.1f} s wall, "
                    f"{row['train_images_per_s']:.1f} train img/s, test accuracy "
                    f"{100 * row['accuracy']:.2f}%"
                )
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for size in sorted({r["size"] for r in rows}):
        plain = {r["seed"]: r for r in rows if r["size"] == size and r["arm"] == "plain"}
        for arm in ARMS:
            mine = [r for r in rows if r["size"] == size and r["arm"] == arm]
            ratios = [
                r["wall_seconds"] / plain[r["seed"]]["wall_seconds"]
                for r in mine
                if r["seed"] in plain
            ]
            stages: dict[str, list[float]] = {}
            for r in mine:
                for k, v in r["stages"].items():
                    stages.setdefault(k, []).append(float(v))
            out.append(
                {
                    "size": size,
                    "arm": arm,
                    "repeats": len(mine),
                    "wall_mean": C.mean([r["wall_seconds"] for r in mine]),
                    "wall_std": C.std([r["wall_seconds"] for r in mine]),
                    "ratio_to_plain_mean": C.mean(ratios),
                    "ratio_to_plain_std": C.std(ratios),
                    "train_images_per_s": C.mean([r["train_images_per_s"] for r in mine]),
                    "accuracy_mean": C.mean([r["accuracy"] for r in mine]),
                    "accuracy_std": C.std([r["accuracy"] for r in mine]),
                    "start_seconds": C.mean([r["start_seconds"] for r in mine]),
                    "stages_mean": {k: C.mean(v) for k, v in stages.items()},
                }
            )
    return out


# -- command start -------------------------------------------------------------------------------
START_COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "transferkit --help": [sys.executable, "-m", "transferkit", "--help"],
    "transferkit fit --help": [sys.executable, "-m", "transferkit", "fit", "--help"],
    "transferkit zoo": [sys.executable, "-m", "transferkit", "zoo"],
    "transferkit runs list": [sys.executable, "-m", "transferkit", "runs", "list"],
}


def start_part(args: argparse.Namespace, clock: C.Clock) -> dict[str, Any]:
    times: dict[str, list[float]] = {k: [] for k in START_COMMANDS}
    with tempfile.TemporaryDirectory(prefix="tk-start-") as home:
        env = {**os.environ, "TRANSFERKIT_HOME": home}
        for _ in range(args.start_repeats):
            for name, cmd in START_COMMANDS.items():  # interleaved: drift hits all alike
                t0 = time.perf_counter()
                subprocess.run(cmd, capture_output=True, env=env, check=True)
                times[name].append(time.perf_counter() - t0)
    res = {k: {"seconds": v, "median": sorted(v)[len(v) // 2]} for k, v in times.items()}
    clock.say("start: " + ", ".join(f"{k} {v['median']:.2f} s" for k, v in res.items()))
    return res


# -- report --------------------------------------------------------------------------------------
def markdown(out: dict[str, Any]) -> str:
    from transferkit.timing import ORDER

    head = out["header"]
    lines = [
        f"# Throughput: transferkit beside a hand-written loop\n\n"
        f"{C.md_header(head, out.get('wall_seconds'))}\n"
        f"- Load average at end: {out.get('load_average_at_end')}\n"
    ]
    summary = out.get("finetune_summary") or []
    if summary:
        a = out["args"]
        lines.append(
            f"\n## Fine-tuning ({MODEL}, Fashion-MNIST, {a['labels_per_class']} labels "
            f"per class, {a['epochs']} epochs, batch {a['batch_size']}, "
            f"{a['max_test']} test images, {a['repeats']} repeats = seeds)\n\n"
        )
        rows = []
        for s in summary:
            rows.append(
                [
                    s["size"],
                    s["arm"],
                    s["repeats"],
                    f"{s['wall_mean']:.1f} +- {s['wall_std']:.1f}",
                    f"{s['ratio_to_plain_mean']:.2f} +- {s['ratio_to_plain_std']:.2f}",
                    f"{s['train_images_per_s']:.1f}",
                    f"{100 * s['accuracy_mean']:.2f} +- {100 * s['accuracy_std']:.2f}",
                    f"{s['start_seconds']:.1f}",
                ]
            )
        lines.append(
            C.md_table(
                [
                    "px",
                    "arm",
                    "n",
                    "wall s",
                    "wall / plain",
                    "train img/s",
                    "test acc %",
                    "start s",
                ],
                rows,
            )
        )
        lines.append(
            f"\n\nTarget: `fit --strategy finetune` wall <= {TARGET_FIT}x the plain "
            "loop at equal epochs, images and test size, accuracy within noise.\n\n"
        )
        stage_rows = []
        for s in summary:
            if s["arm"] == "plain":
                continue
            st = s["stages_mean"]
            parts = [k for k in ORDER if k in st]
            stage_rows.append(
                [
                    s["size"],
                    s["arm"],
                    ", ".join(f"{k} {st[k]:.1f}" for k in parts),
                    f"{st.get('total', 0):.1f}",
                ]
            )
        lines.append("Where fit's time went (mean seconds per stage, from the run records):\n\n")
        lines.append(C.md_table(["px", "arm", "stages (s)", "run total s"], stage_rows))
        lines.append("\n")
    ext = out.get("extraction") or []
    if ext:
        lines.append("\n## Extraction: bare forward vs extract_features\n\n")
        lines.append(
            C.md_table(
                [
                    "px",
                    "images",
                    "batch asked / run",
                    "bare img/s at asked batch",
                    "bare img/s",
                    "extract_features img/s",
                    "ratio",
                    "per repeat",
                    "target",
                ],
                [
                    [
                        e["image_size"],
                        e["n"],
                        f"{e['batch_size']} / {e.get('run_batch_size', e['batch_size'])}",
                        f"{e['bare_at_asked_batch_images_per_s']:.1f}"
                        if e.get("bare_at_asked_batch_images_per_s")
                        else "same",
                        f"{e['bare_images_per_s']:.1f}",
                        f"{e['library_images_per_s']:.1f}",
                        f"{e['ratio']:.3f}",
                        ", ".join(f"{v:.3f}" for v in e["ratio_per_repeat"]),
                        f">= {TARGET_EXTRACT}",
                    ]
                    for e in ext
                ],
            )
        )
        lines.append(
            "\n\nThe bare loop runs at the batch extract_features runs: on a CPU the "
            "library lowers the asked batch to about 160k input pixels per batch "
            "(cache-sized); 'bare img/s at asked batch' shows the asked batch.\n"
        )
    start = out.get("start")
    if start:
        lines.append("\n## Command start (wall seconds, median)\n\n")
        lines.append(
            C.md_table(
                ["command", "median s", "all"],
                [
                    [k, f"{v['median']:.2f}", ", ".join(f"{x:.2f}" for x in v["seconds"])]
                    for k, v in start.items()
                ],
            )
        )
        lines.append(
            f"\n\nTarget: any command's start to its first real work <= "
            f"{TARGET_START} s. For fit, start-up is the process wall time minus the "
            "run's recorded total (the 'start s' column above).\n"
        )
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(plain_loop(json.loads(Path(args.child).read_text()))))
        return 0
    skip = set(args.skip.split(",")) - {""}
    head = C.header()
    clock = C.Clock()
    out: dict[str, Any] = {"header": head, "args": vars(args)}
    out_dir = Path(args.out_dir)
    if "start" not in skip:
        out["start"] = start_part(args, clock)
    if "extract" not in skip:
        import fashion_mnist_transfer as fm

        out["extraction"] = [
            fm.throughput(int(s), args.extract_n, args, clock)
            for s in args.extract_sizes.split(",")
            if s
        ]
    if "train" not in skip:
        out["finetune_runs"] = finetune_part(args, clock)
        out["finetune_summary"] = summarise(out["finetune_runs"])
    out["wall_seconds"] = clock.elapsed()
    out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    C.write_results(out_dir, NAME, out, markdown(out), clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
