"""Making one's own source model: supervised, autoencoder, VAE, contrastive (one file each).

``transferkit.pretrain`` is both this package and the API function: importing a sub-module
of a package always rebinds the package's attribute of that name to the module, so the
module itself is made callable and forwards to :func:`transferkit.pretrain.run.pretrain`.
``transferkit.pretrain(...)`` and ``from transferkit.pretrain import pretrain`` both work.
"""

import sys
import types

from transferkit.pretrain import autoencoder, contrastive, supervised, vae  # noqa: F401
from transferkit.pretrain.base import METHODS, PretrainConfig, PretrainTask
from transferkit.pretrain.run import PretrainResult, pretrain

__all__ = ["METHODS", "PretrainConfig", "PretrainResult", "PretrainTask", "pretrain"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs) -> PretrainResult:
        return pretrain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
