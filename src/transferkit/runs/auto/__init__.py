"""The ``auto`` workflow (:mod:`~.workflow`) over the state every stage shares
(:mod:`~.search`): rank the candidates (:mod:`~.rank`), the cheap strategies (:mod:`~.cheap`),
successive halving over fine-tuning recipes (:mod:`~.trials`), the chosen run tested once
(:mod:`~.final`); a worker joins a shared study from another machine (:mod:`~.worker`). The
search's rules live in :mod:`transferkit.search`."""

from transferkit.runs.auto.workflow import AutoResult, auto, auto_fit

__all__ = ["AutoResult", "auto", "auto_fit"]
