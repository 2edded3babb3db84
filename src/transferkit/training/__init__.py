"""The one training loop (``loop.run``), its checkpoints, schedule and sampling."""

from transferkit.training.loop import (
    LoopResult,
    LoopSettings,
    Task,
    TrainHooks,
    run,
    seed_everything,
)

__all__ = ["LoopResult", "LoopSettings", "Task", "TrainHooks", "run", "seed_everything"]
