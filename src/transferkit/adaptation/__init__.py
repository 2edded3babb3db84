"""Domain adaptation: labelled source + unlabelled target.

Deep methods (one file each, registered in :data:`METHODS`): ``source-only``, ``adabn``,
``dann``, ``cdan``, ``dan``, ``coral``, ``mcc``; they share the gradient reversal layer, the domain
discriminator (``modules``) and the losses (``losses``), and train on the project's one loop
through :class:`~transferkit.adaptation.task.AdaptTask`. Shallow methods on cached features:
``shallow-coral``, ``subspace-alignment``, ``importance-weighting`` and the
``shallow-source-only`` baseline. Model selection that never reads target labels is in
``selection``. ``transferkit.adapt`` (the API) runs and records them.
"""

from transferkit.adaptation import (  # noqa: F401  (each registers itself)
    adabn,
    cdan,
    coral,
    dan,
    dann,
    importance_weighting,
    mcc,
    shallow_coral,
    shallow_source_only,
    source_only,
    subspace_alignment,
)
from transferkit.adaptation.base import METHODS, AdaptationNet, DeepMethod, ShallowMethod

DEEP = tuple(n for n in METHODS if METHODS.get(n).deep)
SHALLOW = tuple(n for n in METHODS if not METHODS.get(n).deep)

__all__ = ["DEEP", "METHODS", "SHALLOW", "AdaptationNet", "DeepMethod", "ShallowMethod"]
