"""The ``explain`` workflow (:mod:`~.workflow`): reading the inputs to explain
(:mod:`~.inputs`), attributing predictions to them batch by batch (:mod:`~.attribution`) and
what transfer changed in the source model (:mod:`~.transfer`). The methods live in
:mod:`transferkit.explanation`."""

from transferkit.runs.explain.workflow import ExplainResult, explain

__all__ = ["ExplainResult", "explain"]
