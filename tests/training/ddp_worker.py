"""Run by ``test_loop_ddp.py`` under a real ``torchrun`` (gloo on CPU), or imported for the
one-process reference: a tiny linear task trained by the project's loop, plus the collectives
the loop relies on.

    python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_worker.py OUT BACKEND

BACKEND ``ours`` forms the process group as a run does (``distributed.setup("cpu")``); any other
value is handed to ``init_process_group`` as it is (e.g. ``cpu:gloo,cuda:gloo``: a backend per
device, the shape of ``cpu:gloo,cuda:nccl`` on GPUs). Each rank writes ``OUT/rank<R>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

from transferkit import distributed
from transferkit.errors import RunPruned
from transferkit.training import LoopSettings, TrainHooks, run

STEPS, GLOBAL_BATCH, EPOCHS = 12, 8, 2


class LinearTask:
    """Softmax regression on fixed random data; each rank takes an equal slice of every global
    batch, so DDP's averaged gradient is the one-process gradient of the whole batch. Counts
    its loss calls and, under DDP, the gradient all-reduces (a communication hook)."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(4, 3)
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(STEPS * GLOBAL_BATCH, 4, generator=g)
        self.y = torch.randint(0, 3, (STEPS * GLOBAL_BATCH,), generator=g)
        self.loss_calls, self.all_reduces = 0, {"n": 0}
        self._hooked = False

    def configure(self, steps_per_epoch: int, epochs: int):
        opt = torch.optim.SGD(self.model.parameters(), lr=0.5, momentum=0.9)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def steps_per_epoch(self) -> int:
        return STEPS

    def train_batches(self):
        per = GLOBAL_BATCH // distributed.world_size()
        for s in range(STEPS):
            lo = s * GLOBAL_BATCH + distributed.rank() * per
            yield self.x[lo : lo + per], self.y[lo : lo + per]

    def loss(self, model: nn.Module, batch, device: torch.device) -> torch.Tensor:
        if isinstance(model, nn.parallel.DistributedDataParallel) and not self._hooked:
            model.register_comm_hook(self.all_reduces, _counting_allreduce)
            self._hooked = True
        self.loss_calls += 1
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        with torch.no_grad():
            loss = nn.functional.cross_entropy(model(self.x), self.y).item()
        return {"val_loss": loss, "val_accuracy": -loss}


def _counting_allreduce(state: dict, bucket):
    state["n"] += 1
    return allreduce_hook(None, bucket)


def train(accumulate: int, stop_on_rank: int | None = None) -> dict:
    """Train a fresh LinearTask; returns its weights, history and counts (or how it stopped).
    ``stop_on_rank``: that rank's ``should_stop`` asks to stop from its second stop check on."""
    task = LinearTask()
    asked = {"n": 0}

    def should_stop() -> str | None:
        asked["n"] += 1
        if distributed.rank() == stop_on_rank and asked["n"] >= 2:
            return f"rank {stop_on_rank} stops"
        return None

    settings = LoopSettings(
        epochs=EPOCHS,
        accumulate=accumulate,
        amp=False,
        patience=10,
        seed=3,
        hooks=TrainHooks(should_stop=should_stop),
        stop_check_every=8,  # the GPU schedule, here on CPU
    )
    out = {"asked": asked, "stopped": None}
    try:
        result = run(task, settings, torch.device("cpu"))
        out["history"] = [{k: v for k, v in e.items() if "time" not in k} for e in result.history]
    except RunPruned as e:
        out["stopped"] = str(e)
    out["weights"] = [p.detach().flatten().tolist() for p in task.model.parameters()]
    out["loss_calls"], out["all_reduces"] = task.loss_calls, task.all_reduces["n"]
    return out


def collectives() -> dict:
    """The helpers' results on this rank (CPU tensors), and DDP gradients with and without
    :func:`distributed.gradient_sync`."""
    me = distributed.rank()
    out = {
        "backend": str(dist.get_backend()),
        "any_rank": distributed.any_rank(me == 1, False, True),
        "mean": distributed.all_reduce_mean(float(me + 1)),
        "gathered": distributed.all_gather_object({"rank": me}),
        "broadcast": distributed.broadcast_object(f"from {me}"),
    }
    distributed.barrier()
    for sync in (False, True):
        torch.manual_seed(0)
        model = distributed.wrap_model(nn.Linear(2, 1), torch.device("cpu"))
        with distributed.gradient_sync(model, sync):
            model(torch.full((1, 2), float(me + 1))).sum().backward()
        out[f"grad_sync_{sync}"] = distributed.all_gather_object(model.module.weight.grad.tolist())
    return out


def main(folder: str, backend: str) -> None:
    if backend == "ours":
        distributed.setup("cpu")
    else:
        dist.init_process_group(backend=backend)
    result = {
        "collectives": collectives(),
        "acc1": train(1),
        "acc2": train(2),
        "stop": train(1, stop_on_rank=1),
    }
    Path(folder, f"rank{distributed.rank()}.json").write_text(json.dumps(result))
    distributed.abandon()


if __name__ == "__main__":
    main(*sys.argv[1:])
