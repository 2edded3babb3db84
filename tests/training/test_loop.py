"""The loop in one process: its state saved as it is and resumed exactly (freeze state,
optimizer, scheduler), a loss that is not finite stops the run before it is checkpointed, and
the stop checks come at the first step of each epoch and every ``STOP_CHECK_EVERY`` steps on
GPUs (that schedule is run here on CPU), every step on CPU."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import ddp_worker
import pytest
import torch

from transferkit.errors import RunPruned, UserError
from transferkit.training import LoopSettings, TrainHooks, run
from transferkit.training.epoch import STOP_CHECK_EVERY, stop_check_every
from transferkit.training.state import LoopState

CPU = torch.device("cpu")


class FreezingTask(ddp_worker.LinearTask):
    """The linear task with its bias frozen in the first epoch: the freeze state follows the
    epoch, so a resumed run must get it right from the epoch alone."""

    def on_epoch_start(self, epoch: int) -> None:
        self.model.bias.requires_grad_(epoch > 0)


class BreakingTask(ddp_worker.LinearTask):
    """The linear task whose loss becomes nan at step ``at`` of the second epoch."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def loss(self, model, batch, device):
        loss = super().loss(model, batch, device)
        step = self.loss_calls - 1 - ddp_worker.STEPS
        return loss * float("nan") if step == self.at else loss


def _settings(**kw) -> LoopSettings:
    return LoopSettings(amp=False, patience=10, seed=3, **kw)


def _params(task) -> list[torch.Tensor]:
    return [p.detach().clone() for p in task.model.parameters()]


def _untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if "time" not in k} for e in history]


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    straight = FreezingTask()
    a = run(straight, _settings(epochs=3, checkpoint_dir=tmp_path / "a"), CPU)
    first = FreezingTask()
    run(first, _settings(epochs=1, checkpoint_dir=tmp_path / "b"), CPU)
    resumed = FreezingTask()  # fresh weights: all must come from the checkpoint
    b = run(resumed, _settings(epochs=3, checkpoint_dir=tmp_path / "b"), CPU, resume=True)
    assert resumed.loss_calls == 2 * ddp_worker.STEPS  # epochs 2 and 3 only
    assert _untimed(b.history) == _untimed(a.history)
    assert (b.best_epoch, _untimed([b.best])) == (a.best_epoch, _untimed([a.best]))
    for x, y in zip(_params(straight), _params(resumed), strict=True):
        assert torch.equal(x, y)


def test_the_loop_state_is_saved_as_it_is(tmp_path):
    run(ddp_worker.LinearTask(), _settings(epochs=2, checkpoint_dir=tmp_path), CPU)
    saved = json.loads((tmp_path / "last.json").read_text())
    assert set(saved) == {f.name for f in fields(LoopState)} | {"optimizer", "scheduler"}
    state = LoopState.from_saved(saved)
    assert asdict(state) == {k: saved[k] for k in asdict(state)}
    assert (state.epoch, state.next_epoch, len(state.history)) == (1, 2, 2)


def test_an_older_checkpoint_state_still_loads():
    """Every earlier version saved these five keys; a key this version does not know is
    ignored, and one it lacks takes its default."""
    older = {"epoch": 4, "history": [{"epoch": 5}], "best": None, "best_epoch": 2, "other": 1}
    state = LoopState.from_saved(older)
    assert (state.epoch, state.best_epoch, state.bad_epochs) == (4, 2, 0)
    assert state.history == [{"epoch": 5}]


@pytest.mark.parametrize("at", [3, ddp_worker.STEPS - 1])
def test_a_loss_that_is_not_finite_stops_before_a_checkpoint(tmp_path, at):
    """Found at the next stop check (step 8), or at the epoch's end for the last step."""
    task = BreakingTask(at)
    settings = _settings(epochs=3, checkpoint_dir=tmp_path, stop_check_every=STOP_CHECK_EVERY)
    with pytest.raises(UserError, match=r"training loss became nan in epoch 2\. Lower"):
        run(task, settings, CPU)
    checked = STOP_CHECK_EVERY if at < STOP_CHECK_EVERY else ddp_worker.STEPS
    assert task.loss_calls == ddp_worker.STEPS + checked
    assert json.loads((tmp_path / "last.json").read_text())["epoch"] == 0  # epoch 1's


def test_the_stop_checks_come_every_few_steps_on_gpus_and_every_step_on_cpu():
    assert stop_check_every(torch.device("cuda", 0)) == STOP_CHECK_EVERY == 8
    assert stop_check_every(CPU) == 1
    for every, calls in [(STOP_CHECK_EVERY, ddp_worker.STEPS + 8), (None, 3)]:
        asked = []
        stop = TrainHooks(should_stop=lambda a=asked: a.append(1) or (None if len(a) < 4 else "x"))
        task = ddp_worker.LinearTask()
        with pytest.raises(RunPruned, match="^x$"):
            run(task, _settings(epochs=3, hooks=stop, stop_check_every=every), CPU)
        # every 8: steps 0 and 8 of epoch 1, then step 0 and (stopping) step 8 of epoch 2;
        # every step: the fourth ask comes before step 4 of epoch 1
        assert task.loss_calls == calls, every
