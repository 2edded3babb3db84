"""Report blocks of a multi-task pretraining run: each task's validation accuracy and loss
weight per epoch, and a table of the tasks (source, label set, examples, share of each epoch,
final weight, accuracy at the best epoch)."""

from __future__ import annotations

from transferkit.report.canvas import COLORS, figure, label, png
from transferkit.report.common import pct
from transferkit.report.document import Image, Table
from transferkit.report.fit_plots import _epoch_axis, _series
from transferkit.report.pretrain import PRETRAIN_BLOCKS, history_of
from transferkit.store import RunRecord


def task_curves(history: list[dict], names: list[str]) -> bytes:
    """Per-task validation accuracy (the mean dashed) and loss weight, per epoch."""
    fig = figure(9, 3.4)
    acc_ax, w_ax = fig.subplots(1, 2)
    fig.subplots_adjust(wspace=0.3)
    top = 1.0
    for i, name in enumerate(names):
        color = COLORS[i % len(COLORS)]
        xs, ys = _series(history, f"val_accuracy_{name}")
        if xs:
            acc_ax.plot(xs, [100 * y for y in ys], marker="o", ms=4, color=color, label=label(name))
        xs, ys = _series(history, f"weight_{name}")
        if xs:
            w_ax.plot(xs, ys, marker="o", ms=4, color=color, label=label(name))
            top = max(top, *ys)
    xs, ys = _series(history, "val_accuracy")
    if xs:
        acc_ax.plot(
            xs, [100 * y for y in ys], ls="--", marker="x", color="#333", label="mean (monitored)"
        )
    _epoch_axis(acc_ax, history, "validation accuracy (%)")
    _epoch_axis(w_ax, history, "loss weight")
    w_ax.set_ylim(0, 1.1 * top)  # from 0: the weights are positive, and how far they moved shows
    fig.suptitle("Multi-task pretraining, per task", fontsize=11)
    return png(fig)


def _best(r: RunRecord, history: list[dict]) -> dict:
    best = r.extra.get("best_epoch")
    if isinstance(best, int) and 1 <= best <= len(history):
        return history[best - 1]
    return history[-1] if history else {}


@PRETRAIN_BLOCKS.register("multitask")
def multitask_blocks(r: RunRecord) -> tuple[list, list[str]]:
    tasks = [t for t in r.extra.get("tasks") or [] if isinstance(t, dict)]
    history = history_of(r)
    names = [str(t.get("name")) for t in tasks]
    best = _best(r, history)
    rows = [
        [
            t.get("name"),
            t.get("source"),
            len(t.get("classes") or []),
            t.get("train"),
            t.get("val"),
            pct(t.get("share"), 1),
            f"{float(t.get('weight', 0)):.3f}",
            pct(best.get(f"val_accuracy_{t.get('name')}"), 1),
        ]
        for t in tasks
    ]
    weights = r.extra.get("task_weights", "?")
    blocks: list = [
        Table(
            [
                "task",
                "source",
                "classes",
                "train",
                "val",
                "epoch share (%)",
                "weight",
                "val acc (%)",
            ],
            rows,
            caption=f"Tasks: one head each; batches mixed by {r.extra.get('mixing', '?')} "
            f"sampling, losses weighted {weights}; heads in heads.safetensors, label sets in "
            "tasks.json",
        )
    ]
    if history and names:
        blocks.append(
            Image(
                f"{r.id}-tasks",
                task_curves(history, names),
                alt="validation accuracy and loss weight of each task per epoch",
                caption="Per-task validation accuracy and loss weight per epoch",
            )
        )
    verdicts = []
    if tasks and best:
        each = ", ".join(f"{n} {pct(best.get(f'val_accuracy_{n}'), 1)}%" for n in names)
        verdicts.append(
            f"Multi-task pretraining {r.id} on {len(tasks)} tasks: mean validation accuracy "
            f"{pct(best.get('val_accuracy'), 1)}% ({each})."
        )
    return blocks, verdicts
