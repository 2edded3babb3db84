"""What every adaptation method shares: the registry and the two kinds of method.

* A :class:`DeepMethod` trains the backbone and its head on labelled source batches paired
  with unlabelled target batches. It may add modules (a domain discriminator) and defines the
  transfer term of the loss; :class:`AdaptationNet` runs it inside ``forward`` so that under
  DDP every trained parameter is reached by the wrapped forward. The training loop is the
  project's one loop (:mod:`transferkit.training.loop`), driven by
  :class:`transferkit.adaptation.task.AdaptTask`.
* A :class:`ShallowMethod` works on fixed (cached) backbone features: it maps source and target
  features into a space where a logistic-regression head trained on source labels fits the
  target, and folds the target map into an ordinary linear head, so the result is a plain
  backbone + head like any transferkit model.

Deep methods register themselves in :data:`DEEP_METHODS`, shallow ones in :data:`SHALLOW_METHODS`
(one contract each); each registry imports every module of this package on first use, so adding
a method is adding one file. A method's own settings (the discriminator's width, CORAL's
regulariser) are a dataclass in its ``options`` attribute; the constructor takes them by name.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from transferkit.registry import Registry
from transferkit.zoo.checkpoint import TransferModel


class DeepMethod:
    """Base of the deep methods. ``trade_off`` weighs the transfer term against the source
    cross-entropy: loss = CE(source) + trade_off * transfer."""

    name = "base"
    uses_target = True  # False: training batches are source only (source-only, adabn)
    uses_trade_off = True
    needs_batchnorm = False  # True: refused for backbones without BatchNorm layers
    options: type | None = None

    def __init__(self, trade_off: float = 1.0, seed: int = 0, **options) -> None:
        self.trade_off, self.seed = float(trade_off), int(seed)
        self.opts = _options(type(self), options)

    def build(self, num_features: int, num_classes: int) -> nn.Module:
        """Modules trained with the model (a discriminator); an empty ModuleDict by default."""
        return nn.ModuleDict()

    def transfer_loss(
        self,
        extra: nn.Module,
        fs: torch.Tensor,
        ft: torch.Tensor,
        ls: torch.Tensor,
        lt: torch.Tensor,
        progress: float,
    ) -> torch.Tensor:
        """The transfer term from source / target features ``fs`` / ``ft`` and logits
        ``ls`` / ``lt``; ``progress`` runs from 0 to 1 over training."""
        raise NotImplementedError

    def norm_domains(self) -> tuple[str, ...]:
        """The domains whose training images give the BatchNorm statistics before validation
        (and so those of the saved model): the ones training saw, by default."""
        return ("source", "target") if self.uses_target else ("source",)

    def describe(self) -> dict:
        return {"method": self.name, "trade_off": self.trade_off if self.uses_trade_off else None}


class AdaptationNet(nn.Module):
    """The classifier (backbone + head, what is saved) and the method's extra modules.

    ``forward(xs, xt, progress)`` returns the source logits and the transfer term; source and
    target go through the backbone as one batch (BatchNorm sees both domains, as in DANN / CDAN
    implementations)."""

    def __init__(self, classifier: TransferModel, method: DeepMethod) -> None:
        super().__init__()
        self.classifier = classifier
        self.method = method
        self.extra = method.build(classifier.backbone.num_features, classifier.head.out_features)

    @property
    def data_config(self):
        return self.classifier.data_config

    def forward(
        self, xs: torch.Tensor, xt: torch.Tensor | None = None, progress: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        backbone, head = self.classifier.backbone, self.classifier.head
        if xt is None or not self.method.uses_target:
            logits = head(backbone.forward_features(xs))
            return logits, logits.new_zeros(())
        if isinstance(xs, dict):
            # text: each domain's batch is padded to its own length; LayerNorm models see
            # no difference between one joint forward and two
            fs = backbone.forward_features(xs)
            f = torch.cat([fs, backbone.forward_features(xt)])
            n = fs.shape[0]
        else:
            # images: one forward, so BatchNorm normalises with statistics of both domains
            f = backbone.forward_features(torch.cat([xs, xt]))
            n = xs.shape[0]
        logits = head(f)
        term = self.method.transfer_loss(
            self.extra,
            f[:n].float(),
            f[n:].float(),
            logits[:n].float(),
            logits[n:].float(),
            progress,
        )
        return logits[:n], term


class ShallowMethod:
    """Base of the shallow methods. ``fit`` learns the maps from source-train and target
    features; ``source_map`` / ``target_affine`` say where the head is trained and applied;
    ``sample_weights`` lets a method weigh the source examples."""

    name = "base"
    uses_trade_off = False
    options: type | None = None

    def __init__(self, seed: int = 0, c: float = 1.0, **options) -> None:
        self.seed, self.c = int(seed), float(c)
        self.opts = _options(type(self), options)

    def fit(self, fs: np.ndarray, ft: np.ndarray) -> ShallowMethod:
        return self

    def source_map(self, x: np.ndarray) -> np.ndarray:
        return x

    def target_affine(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(A, c) with target_map(x) = x @ A + c; identity by default."""
        return np.eye(dim), np.zeros(dim)

    def target_map(self, x: np.ndarray) -> np.ndarray:
        a, c = self.target_affine(x.shape[1])
        return x @ a + c

    def sample_weights(self, fs_mapped: np.ndarray, ft_mapped: np.ndarray) -> np.ndarray | None:
        return None

    def describe(self) -> dict:
        return {"method": self.name, "trade_off": None}


def _options(cls: type, given: dict):
    if cls.options is None:
        if given:
            raise TypeError(f"{cls.__name__} takes no options, got {sorted(given)}")
        return None
    return cls.options(**given)


DEEP_METHODS: Registry[type[DeepMethod]] = Registry(
    "deep adaptation method", package="transferkit.adaptation"
)
SHALLOW_METHODS: Registry[type[ShallowMethod]] = Registry(
    "shallow adaptation method", package="transferkit.adaptation"
)


def method_class(name: str) -> type:
    """The deep or shallow method ``name``; a UserError naming both kinds when unknown."""
    from transferkit.errors import UserError, suggest

    for registry in (DEEP_METHODS, SHALLOW_METHODS):
        if name in registry:
            return registry.get(name)
    known = [*DEEP_METHODS.list(), *SHALLOW_METHODS.list()]
    raise UserError(
        f"Unknown adaptation method {name!r}.{suggest(str(name).lower(), known)} "
        f"Deep methods: {DEEP_METHODS.names()}; shallow methods (on cached "
        f"features): {SHALLOW_METHODS.names()}."
    )
