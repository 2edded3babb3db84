"""What every zoo adapter shares: the registry entry type, block grouping and weight files.

Adapters wrap a library model (timm, torchvision, efficientnet-lite) into the
:class:`~transferkit.zoo.base.Backbone` contract. Three chores are the same for all of them and
live here: splitting a model into ordered blocks that cover every parameter, reading a local
weight file without executing code from it, and remembering the source classifier (the head the
weights were trained with) for transferability scores such as LEEP and NCE.
"""

from __future__ import annotations

import collections.abc
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.registry import Registry
from transferkit.zoo.base import Backbone, BackboneSpec


@dataclass
class ZooEntry:
    """One registered source model.

    ``factory(pretrained)`` builds it (``pretrained=False``: same architecture, fresh weights,
    never a download); ``available()`` says whether the pretrained weights can be had right now
    and, if not, why. ``params`` / ``num_features`` / ``input_size`` are static facts for
    ``transferkit zoo`` so that listing never instantiates a model.
    """

    name: str
    modality: str
    description: str
    factory: Callable[[bool], Backbone]
    available: Callable[[], tuple[bool, str]]
    params: int | None = None
    num_features: int = 0
    input_size: int = 224
    head_keys: tuple[str, str] | None = None
    searchable: bool = True  # offered to the automatic search (False: models for tests)
    licence: str = ""  # the pretrained weights' licence, for model cards ("" when unknown)


BACKBONES: Registry[ZooEntry] = Registry("backbone", package="transferkit.zoo")


@dataclass
class Source:
    """A family of backbones named ``PREFIX:REST`` (``timm:resnet18``, ``hf:PATH``, ``run:ID``).

    ``create(rest, pretrained=, weights=, image_size=)`` gives a ready backbone; ``build(spec,
    data_config)`` rebuilds a saved architecture with fresh weights (for the specs ``owns``
    says are this source's); ``listing(pattern)`` gives ``transferkit zoo`` rows; ``example``
    completes the message for a bare ``PREFIX:``."""

    description: str
    create: Callable[..., Backbone] | None = None
    build: Callable[..., Backbone] | None = None
    owns: Callable[[BackboneSpec], bool] | None = None
    listing: Callable[[str], list] | None = None
    example: str = "NAME"


SOURCES: Registry[Source] = Registry("backbone source", package="transferkit.zoo")

# Children with these names hold the repeated units of a network (timm: blocks / layers /
# stages, torchvision: features / layerN); blocks() lists their elements one by one.
CONTAINER_NAME = re.compile(r"^_?(blocks|layers|stages|features|layer\d+)$")


class Group(nn.Module):
    """A view that groups some modules (and loose parameters) of a model into one block.

    Built on demand by ``blocks()``; it is never registered on the backbone, so the backbone's
    state dict is unchanged. Freezing a group or switching it to eval mode acts on the real
    modules and parameters it holds.
    """

    def __init__(self, modules: Iterable[nn.Module], params: Iterable[nn.Parameter] = ()) -> None:
        super().__init__()
        self.parts = nn.ModuleList(modules)
        for i, p in enumerate(params):
            self.register_parameter(f"loose_{i}", p)


def _has_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters())


def ordered_blocks(
    model: nn.Module, container: re.Pattern[str] = CONTAINER_NAME
) -> list[nn.Module]:
    """Split ``model`` into ordered blocks, input to output, covering each parameter once.

    Top-level children are taken in registration order (which is forward order for timm,
    torchvision and efficientnet models). A child whose name matches ``container`` and that is
    a Sequential / ModuleList is expanded into its elements; a child that itself holds such a
    container (torchvision ViT's ``encoder``) is searched the same way. Consecutive other
    children with parameters are merged into one block (the stem, the final norm), and
    parameters held directly by a module (ViT's ``cls_token``) join the block that precedes
    them, or the first block.
    """
    blocks: list[nn.Module] = []
    pending: list[nn.Module] = []
    loose: list[nn.Parameter] = []

    def flush() -> None:
        if pending or loose:
            blocks.append(Group(list(pending), list(loose)))
            pending.clear()
            loose.clear()

    def walk(module: nn.Module) -> None:
        loose.extend(module.parameters(recurse=False))
        for name, child in module.named_children():
            if not _has_params(child):
                continue
            is_list = isinstance(child, (nn.Sequential, nn.ModuleList))
            if container.match(name) and is_list:
                flush()
                blocks.extend(e for e in child if _has_params(e))
            elif any(container.match(n) for n, _ in child.named_children()):
                walk(child)
            else:
                pending.append(child)

    walk(model)
    flush()
    return blocks


class LazyClasses(collections.abc.Sequence):
    """Class names read on first use (ImageNet's come from torchvision: 1.5 s of imports that
    a fit, which never reads them, should not pay)."""

    def __init__(self, load: Callable[[], list[str]]) -> None:
        self._load, self._names = load, None

    def _list(self) -> list[str]:
        if self._names is None:
            self._names = list(self._load())
        return self._names

    def __getitem__(self, i):
        return self._list()[i]

    def __len__(self) -> int:
        return len(self._list())


def attach_source_head(
    backbone: Backbone,
    head: nn.Linear | None,
    classes: list[str] | Callable[[], list[str]] | None,
) -> None:
    """Remember the classifier the weights were trained with (for LEEP / NCE).

    Stored as plain attributes, not submodules, so that the backbone's state dict, blocks and
    optimiser parameters are those of the feature extractor alone. ``backbone.to(device)`` does
    not move it: move ``backbone.source_head`` yourself when you use it. ``classes`` may be a
    function returning the names, called on first use.
    """
    if head is not None:
        head = head.eval()
        for p in head.parameters():
            p.requires_grad_(False)
    names = (
        None if classes is None else (LazyClasses(classes) if callable(classes) else list(classes))
    )
    object.__setattr__(backbone, "source_head", head)
    object.__setattr__(backbone, "source_classes", names)


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k class names in the standard order (shipped inside torchvision)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file, never running code from it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(
            f"Weight file {path} does not exist. Pass the path of a .safetensors or .pth file."
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickle with code in it, wrong format
        raise UserError(
            f"Could not read weights from {path} ({type(e).__name__}: {e}). Use a safetensors file "
            "or a plain PyTorch state dict; files that need code to unpickle are refused."
        ) from e
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a state dict (a mapping of names to tensors).")
    return state


def load_weights_file(
    backbone: Backbone,
    path: str | Path,
    head_keys: tuple[str, str] | None = None,
    prefix: str = "model.",
) -> dict[str, torch.Tensor]:
    """Load a local weight file into ``backbone`` strictly; return the source-head tensors.

    The file may use the backbone's own keys or those of the wrapped library model (without
    ``prefix``). ``head_keys`` (weight, bias names in library terms) name the classifier the
    adapter removed: those tensors are returned, not loaded, so the caller can keep them as the
    source head.
    """
    own = set(backbone.state_dict())
    head_names = set(head_keys or ())
    state: dict[str, torch.Tensor] = {}
    head: dict[str, torch.Tensor] = {}
    for key, tensor in read_state_dict(path).items():
        bare = key.removeprefix(prefix)
        if bare in head_names:
            head[bare] = tensor
        elif key not in own and prefix + key in own:
            state[prefix + key] = tensor
        else:
            state[key] = tensor  # unknown keys are reported below
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatch
        raise UserError(f"The weights in {path} do not fit {backbone.spec.name}: {e}") from e
    if missing or unexpected:
        raise UserError(
            f"The weights in {path} do not match {backbone.spec.name}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]}). "
            "Check that the file was saved from this architecture."
        )
    backbone.invalidate_identity()
    return head


def linear_from(tensors: dict[str, torch.Tensor], weight: str, bias: str) -> nn.Linear | None:
    """An ``nn.Linear`` holding ``tensors[weight]`` / ``tensors[bias]``, or None if absent."""
    if weight not in tensors:
        return None
    w = tensors[weight]
    lin = nn.Linear(w.shape[1], w.shape[0], bias=bias in tensors)
    with torch.no_grad():
        lin.weight.copy_(w)
        if bias in tensors:
            lin.bias.copy_(tensors[bias])
    return lin
