"""The ``auto`` workflow (:mod:`~.workflow`): the search's stages over the run store
(:mod:`~.stages`), a worker that joins a shared study (:mod:`~.worker`), and the one reading
of the test split at the end (:mod:`~.final`). The search's rules live in
:mod:`transferkit.search`."""

from transferkit.runs.auto.workflow import AutoResult, auto

__all__ = ["AutoResult", "auto"]
