"""Making backbones from names: registered models, ``PREFIX:`` sources (through
:data:`~transferkit.zoo.common.SOURCES`), models made by ``pretrain`` (by their ``--name``), and
saved architectures rebuilt from their spec; the rows of ``transferkit zoo``."""

from __future__ import annotations

import fnmatch
from typing import Any

from transferkit.errors import UserError, suggest
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import (
    BACKBONES,
    SOURCES,
    ZooEntry,
    attach_source_head,
    linear_from,
    load_weights_file,
)


def _unknown(name: str) -> UserError:
    _, sep, rest = name.partition(":")
    sources = [n for n in SOURCES.list() if SOURCES.get(n).create is not None]
    choices = list(BACKBONES) + ([f"{p}:{rest}" for p in sources] if sep else [])
    listed = "; ".join(
        f"{p}:{SOURCES.get(p).example} - {SOURCES.get(p).description}" for p in sources
    )
    return UserError(
        f"Unknown backbone {name!r}.{suggest(name.lower(), choices)} Run `transferkit zoo` to "
        f"list the available models; other sources are {listed}."
    )


def _entry(name: str) -> ZooEntry:
    if name.lower() not in BACKBONES:
        raise _unknown(name)
    return BACKBONES.get(name)


def _named_run(name: str) -> str | None:
    """The id of the newest finished pretrain run given this ``--name``, if any."""
    from transferkit.store import RunStore

    for rec in RunStore().list(kind="pretrain", status="done", limit=None):
        if rec.name == name:
            return rec.id
    return None


def create_backbone(
    name: str,
    *,
    pretrained: bool = True,
    weights: str | None = None,
    image_size: int | None = None,
    max_length: int | None = None,
) -> Backbone:
    """The backbone named ``name``, with pretrained weights unless ``pretrained=False``.

    ``weights`` is a local ``.safetensors`` / ``.pth`` state dict to use instead of downloaded
    weights (the way to use hub models offline). ``pretrained=False`` always means the same
    architecture with fresh weights, so ``weights`` is then ignored (the ``scratch`` baseline
    runs with the same model arguments as the others). ``image_size`` overrides the input size
    of the data config (these backbones pool globally, so small sizes work); ``max_length``
    the most tokens a text model reads (at most what it was built for). Each is ignored by
    models of the other modality.
    """
    backbone = _create(name, pretrained=pretrained, weights=weights, image_size=image_size)
    if max_length and backbone.data_config.modality == "text":
        limit = int(backbone.data_config.input_size[-1])
        if max_length > limit:
            raise UserError(
                f"--max-length {max_length} is more than {name} reads ({limit} "
                f"tokens); use at most {limit}."
            )
        backbone.data_config = backbone.data_config.with_max_length(max_length)
    return backbone


def _create(
    name: str, *, pretrained: bool, weights: str | None, image_size: int | None
) -> Backbone:
    if not pretrained:
        weights = None
    prefix, sep, rest = name.partition(":")
    if sep:
        source = SOURCES.get(prefix.lower()) if prefix.lower() in SOURCES else None
        if source is None or source.create is None:
            raise _unknown(name)
        if not rest:
            raise UserError(f"{name!r} names no model; write e.g. {prefix}:{source.example}.")
        return source.create(rest, pretrained=pretrained, weights=weights, image_size=image_size)
    if name.lower() not in BACKBONES:
        run_id = _named_run(name)
        if run_id is not None:
            return create_backbone(f"run:{run_id}", pretrained=pretrained, image_size=image_size)
    entry = _entry(name)
    backbone = entry.factory(pretrained and weights is None)
    if weights is not None:
        keys = entry.head_keys
        head = load_weights_file(backbone, weights, head_keys=keys)
        lin = linear_from(head, *keys) if keys else None
        if lin is not None:
            attach_source_head(backbone, lin, [str(i) for i in range(lin.out_features)])
    backbone.data_config = backbone.data_config.with_size(image_size)
    return backbone


def build_from_spec(spec: BackboneSpec, data_config: DataConfig | None = None) -> Backbone:
    """The architecture of ``spec`` with fresh random weights; never downloads anything.

    Used to reload saved models (weights then come from the file) and by the ``scratch``
    strategy (same architecture, fresh weights). ``data_config`` replaces the default one, so
    a saved model keeps the preprocessing it was trained with.
    """
    name = spec.name
    for source in (SOURCES.get(n) for n in SOURCES.list()):
        if source.owns is not None and source.owns(spec):
            return source.build(spec, data_config)
    if name.startswith(("file:", "run:")):
        raise UserError(f"A backbone spec names an architecture, not a saved model ({name}).")
    backbone = _entry(name).factory(False)
    if data_config is not None:
        backbone.data_config = data_config
    return backbone


def list_zoo(pattern: str = "*") -> list[dict[str, Any]]:
    """Rows for ``transferkit zoo``: name, modality, params, features, input_size, offline, note.

    ``pattern`` is shell-style. ``timm:PATTERN`` / ``torchvision:PATTERN`` list those libraries'
    models instead of the registered ones (``offline`` is true only if the weights are already
    on this machine; ``params`` / ``features`` are None when many models match, as computing
    them means building each model).
    """
    prefix, sep, rest = pattern.partition(":")
    if sep and prefix.lower() in SOURCES and SOURCES.get(prefix.lower()).listing is not None:
        return SOURCES.get(prefix.lower()).listing(rest)
    rows = []
    for name in BACKBONES:
        if not fnmatch.fnmatch(name, pattern.lower()):
            continue
        entry = BACKBONES.get(name)
        ok, why = entry.available()
        rows.append(
            dict(
                name=name,
                modality=entry.modality,
                params=entry.params,
                features=entry.num_features,
                input_size=entry.input_size,
                offline=ok,
                searchable=entry.searchable,
                note=entry.description if ok else f"{entry.description}; {why}",
            )
        )
    return rows + _pretrained_rows(pattern)


def _pretrained_rows(pattern: str) -> list[dict[str, Any]]:
    """Source models made by ``transferkit pretrain`` (finished runs in the store)."""
    from transferkit.store import RunStore

    rows = []
    try:
        records = RunStore().list(kind="pretrain", status="done", limit=None)
    except UserError:
        return rows
    for rec in records:
        names = [f"run:{rec.id}"] + ([rec.name] if rec.name else [])
        if not any(fnmatch.fnmatch(n.lower(), pattern.lower()) for n in names):
            continue
        info = rec.extra.get("backbone_info", {})
        c = rec.config
        rows.append(
            dict(
                name=rec.name or f"run:{rec.id}",
                modality=info.get("modality", "image"),
                params=info.get("params"),
                features=info.get("features"),
                input_size=info.get("input_size"),
                offline=True,
                searchable=True,
                note=f"run:{rec.id}: {c.get('method')} pretraining of {c.get('arch')} on "
                f"{c.get('data')}",
            )
        )
    return rows
