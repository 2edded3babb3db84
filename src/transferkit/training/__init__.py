"""The one training loop (``loop.run``), its epochs, checkpoints, schedule and sampling."""

from transferkit.training.epoch import seed_everything
from transferkit.training.loop import run
from transferkit.training.task import LoopResult, LoopSettings, Task, TrainHooks

__all__ = ["LoopResult", "LoopSettings", "Task", "TrainHooks", "run", "seed_everything"]
