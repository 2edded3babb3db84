"""Domain adaptation: labelled source + unlabelled target.

Deep methods (one file each, registered in :data:`DEEP_METHODS`): ``source-only``, ``adabn``,
``dann``, ``cdan``, ``dan``, ``coral``, ``mcc``; they share the gradient reversal layer, the domain
discriminator (``modules``) and the losses (``losses``), and train on the project's one loop
through :class:`~transferkit.adaptation.task.AdaptTask`. Shallow methods on cached features
(registered in :data:`SHALLOW_METHODS`): ``shallow-coral``, ``subspace-alignment``,
``importance-weighting`` and the ``shallow-source-only`` baseline. Model selection that never
reads target labels, with its registered rules, is in ``selection`` (the importance-weighted
risk estimates in ``risk_estimates``, the target-side scores in ``target_scores``). The
``adapt`` workflow that runs and records them is :mod:`transferkit.runs.adapt`. Each registry
imports every module of this package on first use: a new method is one new file.
"""

from transferkit.adaptation.base import (
    DEEP_METHODS,
    SHALLOW_METHODS,
    AdaptationNet,
    DeepMethod,
    ShallowMethod,
    method_class,
)

__all__ = [
    "DEEP_METHODS",
    "SHALLOW_METHODS",
    "AdaptationNet",
    "DeepMethod",
    "ShallowMethod",
    "method_class",
]
