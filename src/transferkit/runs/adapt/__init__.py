"""The ``adapt`` workflow (:mod:`~.workflow`) and its parts: loading and checking the two
domains (:mod:`~.domains`), training and scoring one method per seed (:mod:`~.members`), every
member recorded as its own run (:mod:`~.member_runs`), and the summary that chooses among them
without target labels (:mod:`~.summary`)."""

from transferkit.runs.adapt.workflow import AdaptResult, adapt

__all__ = ["AdaptResult", "adapt"]
