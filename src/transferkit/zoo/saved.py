"""``file:PATH`` and ``run:ID``: a model saved by transferkit, reused as a source backbone.

The folder is one written by :func:`transferkit.zoo.checkpoint.save_model` (``fit``,
``pretrain``). Its backbone comes back with the weights it was saved with, and its head comes
along as ``source_head`` / ``source_classes`` (what LEEP and NCE need). The backbone's ``spec``
stays the inner architecture (say ``tiny-cnn`` or ``timm:resnet18``), so a fine-tuned copy can be
saved and reloaded without the original folder; ``origin`` records where it came from.
"""

from __future__ import annotations

from pathlib import Path

from transferkit.errors import UserError
from transferkit.zoo.base import Backbone
from transferkit.zoo.checkpoint import META, load_model, read_meta, saved_data_config
from transferkit.zoo.common import SOURCES, Source, attach_source_head


def resolve_file(path: str | Path) -> Path:
    """The saved-model folder named by ``file:PATH`` (the folder, or its ``model.json``)."""
    folder = Path(path).expanduser()
    if folder.is_file() and folder.name == META:
        folder = folder.parent
    if not folder.exists():
        raise UserError(
            f"file:{path}: no such folder. Give the folder of a saved transferkit model "
            "(it holds model.json and model.safetensors)."
        )
    return folder


def resolve_run(run_id: str) -> Path:
    """The saved-model folder of run ``run_id`` in the run store."""
    from transferkit.store import RunStore  # the store imports much; only needed here

    folder = Path(RunStore().artifact_dir(run_id))
    for candidate in (folder, folder / "model"):
        if (candidate / META).is_file():
            return candidate
    raise UserError(
        f"Run {run_id} has no saved model in {folder}. Only finished `fit` / `pretrain` runs "
        f"save one; see `transferkit runs show {run_id}`."
    )


def load_saved(
    folder: Path, pretrained: bool = True, image_size: int | None = None, origin: str = ""
) -> Backbone:
    """The saved backbone (``pretrained=False``: its architecture with fresh weights)."""
    if not pretrained:
        from transferkit.zoo.base import BackboneSpec, DataConfig
        from transferkit.zoo.factory import build_from_spec

        meta = read_meta(folder)
        spec = BackboneSpec(meta["backbone"]["name"], dict(meta["backbone"].get("kwargs", {})))
        backbone = build_from_spec(spec, DataConfig.from_dict(saved_data_config(meta, folder)))
        head, classes = None, None
    else:
        read_meta(folder)  # an ensemble has no backbone of its own: refused, naming its members
        model, classes = load_model(folder)
        backbone, head = model.backbone, model.head
        if head.out_features == 0:  # an encoder pretrained without labels has no source head
            head, classes = None, None
    backbone.data_config = backbone.data_config.with_size(image_size)
    attach_source_head(backbone, head, classes)
    object.__setattr__(backbone, "origin", origin or str(folder))
    return backbone


def _saved_source(resolve):
    def create(
        rest: str,
        *,
        pretrained: bool = True,
        weights: str | None = None,
        image_size: int | None = None,
    ) -> Backbone:
        if weights is not None:
            raise UserError(f"{rest} already holds its weights; drop --weights.")
        return load_saved(
            resolve(rest),
            pretrained=pretrained,
            image_size=image_size,
            origin=f"{resolve.__name__.removeprefix('resolve_')}:{rest}",
        )

    return create


SOURCES.register(
    "file",
    Source(
        "a model transferkit saved (a model folder)",
        create=_saved_source(resolve_file),
        example="/path/to/model",
    ),
)
SOURCES.register(
    "run",
    Source(
        "the model a transferkit run saved (fit, pretrain, adapt)",
        create=_saved_source(resolve_run),
        example="RUN_ID",
    ),
)
