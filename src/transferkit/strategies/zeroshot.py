"""Zero-shot and few-shot prototype classification: label descriptions with templates,
cosine similarity, prototypes; the ``zeroshot`` and ``prototypes`` strategies, and the pieces
the ``zeroshot`` command uses.

Each class name (or its description) is put into templates ("This text is about {}.", or
"a photo of a {}." for images), embedded with the text encoder - or with CLIP's text tower for
images (Radford et al., 2021, arXiv:2103.00020, where averaging over several templates is
"prompt ensembling") - and every example goes to the class of highest cosine similarity.
Sentence encoders put texts and short label descriptions in one space, which makes this work
for text too (the "label embedding" zero-shot set-up, e.g. Yin et al., 2019,
arXiv:1909.00161). With ``shots`` > 0 a few labelled examples per class join the class's
description in its prototype (the normalised sum), as in prototypical networks (Snell et al.,
2017, arXiv:1703.05175).
"""

from __future__ import annotations

from typing import Any

import torch

from transferkit.config.blocks import Descriptions
from transferkit.config.options import resolve
from transferkit.data.base import Dataset
from transferkit.data.batches import TextCollate, check_modality
from transferkit.errors import UserError
from transferkit.features.extract import extract_features
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult
from transferkit.zoo.checkpoint import TransferModel

TEMPLATES = {"text": "This text is about {}.", "image": "a photo of a {}."}
TEXT_SCALE = 20.0  # softmax temperature for cosine similarities of text encoders


def templates_of(template: str | None, modality: str) -> list[str]:
    """The ``|``-separated templates (default: the modality's), each with a ``{}``."""
    templates = [t.strip() for t in (template or TEMPLATES[modality]).split("|") if t.strip()]
    if any("{}" not in t for t in templates):
        raise UserError(f"Each --template needs a {{}} where the class goes; got {templates}.")
    return templates


def logit_scale(backbone: Any) -> float:
    return float(getattr(backbone, "logit_scale", TEXT_SCALE))


def parse_labels(labels: str | list[str] | None) -> list[tuple[str, str]] | None:
    """``"a,b"`` or ``"a=desc a,b=desc b"`` -> [(name, description)]; None when not given."""
    if labels is None:
        return None
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    pairs = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        name, _, desc = item.partition("=")
        pairs.append((name.strip(), desc.strip() or name.strip()))
    names = [n for n, _ in pairs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(
            f"--labels names {', '.join(map(repr, dupes))} more than once; give each class once."
        )
    return pairs


def too_few(pairs: list[tuple[str, str]]) -> UserError:
    return UserError(
        f"Zero-shot classification needs at least two classes; got {len(pairs)} "
        f"({', '.join(n for n, _ in pairs) or 'none'}). Give the candidate "
        "classes with --labels 'a,b,...'."
    )


def label_pairs(pairs: list[tuple[str, str]] | None, dataset: Dataset) -> list[tuple[str, str]]:
    if pairs is None:
        if not dataset.classes:
            raise UserError(
                f"{dataset.name} has no labels and no --labels were given, so there are no "
                "classes to choose from. Name them: --labels 'cat,dog' (or 'name=description' "
                "pairs)."
            )
        pairs = [(c, c.replace("_", " ")) for c in dataset.classes]
    if len(pairs) < 2:
        raise too_few(pairs)
    if dataset.labels is not None:
        names = {n.lower() for n, _ in pairs}
        unknown = [c for c in dataset.classes if c.lower() not in names]
        if unknown:
            raise UserError(
                f"The labels of {dataset.name} include {', '.join(map(repr, unknown[:5]))}, "
                f"which --labels does not name (it names {', '.join(n for n, _ in pairs)}). "
                "Add them to --labels (name=description pairs keep the data's names), or "
                "drop --labels to use the data's class names."
            )
    return pairs


@torch.no_grad()
def embed_descriptions(backbone: Any, texts: list[str], device: torch.device) -> torch.Tensor:
    """L2-normalised embeddings of label descriptions in the data's embedding space."""
    if hasattr(backbone, "encode_text"):
        return backbone.encode_text(texts, device=device)
    dc = backbone.data_config
    x = TextCollate(dc.tokenizer, dc.max_length).encode(texts)
    backbone.eval().to(device)
    f = backbone.forward_features({k: v.to(device) for k, v in x.items()}).float().cpu()
    return torch.nn.functional.normalize(f, dim=-1)


def prototypes(
    backbone: Any, pairs: list[tuple[str, str]], templates: list[str], device: torch.device
) -> torch.Tensor:
    """(K, D): per class, the normalised mean over templates of its description's embedding."""
    k = len(pairs)
    texts = [t.replace("{}", desc) for t in templates for _, desc in pairs]
    emb = embed_descriptions(backbone, texts, device).reshape(len(templates), k, -1)
    return torch.nn.functional.normalize(emb.mean(0), dim=-1)


def check_zeroshot_model(backbone: Any, dataset: Dataset, model: str) -> None:
    if dataset.modality == "image" and not hasattr(backbone, "encode_text"):
        raise UserError(
            f"{model} cannot embed label descriptions, so it cannot classify "
            f"images zero-shot. Use a CLIP model (hf:PATH to a CLIP folder)."
        )
    if dataset.modality == "text" and backbone.data_config.modality != "text":
        raise UserError(
            f"{model} is an image model; zero-shot text classification needs a "
            "text encoder such as minilm-l6 or hf:PATH."
        )
    check_modality(backbone.data_config, dataset, model)


ZeroShotOptions = Descriptions  # --labels, --template: the zeroshot command's own settings


def _description_prototypes(strategy: str, ctx: FitContext) -> torch.Tensor:
    """(K, D) prototypes of the data's classes, in the data's class order."""
    opts = resolve(STRATEGIES, strategy, ctx.config.options)
    backbone, dataset = ctx.backbone, ctx.dataset
    if (
        dataset.modality == "image"
        and not hasattr(backbone, "encode_text")
        or dataset.modality == "text"
        and backbone.data_config.modality != "text"
    ):
        raise UserError(
            f"The {strategy} strategy embeds label descriptions, which "
            f"{ctx.config.model} cannot do: use a text encoder (minilm-l6, hf:PATH) "
            "for text, a CLIP model (hf:PATH) for images."
        )
    pairs = dict((n.lower(), d) for n, d in label_pairs(parse_labels(opts.labels), dataset))
    ordered = [(c, pairs[c.lower()]) for c in dataset.classes]
    return prototypes(backbone, ordered, templates_of(opts.template, dataset.modality), ctx.device)


def _as_model(ctx: FitContext, protos: torch.Tensor) -> TransferModel:
    model = TransferModel(ctx.backbone, ctx.num_classes)
    with torch.no_grad():
        model.head.weight.copy_(logit_scale(ctx.backbone) * protos)
        model.head.bias.zero_()
    return model


@STRATEGIES.register("zeroshot")
class ZeroShot(Strategy):
    """No training: each class is the embedding of its description; an example goes to the
    class of highest cosine similarity (see the module docstring)."""

    options = ZeroShotOptions
    search_role = "cheap"
    searched_for = ("text",)
    search_order = 20
    model_needs = "describes"  # a model that embeds the class descriptions
    learns_from_labels = False  # scored on every labelled example at once by the search

    def fit(self, ctx: FitContext) -> StrategyResult:
        model = _as_model(ctx, _description_prototypes(self.name, ctx))
        return StrategyResult(
            model, [], {"classes": list(ctx.dataset.classes)}, backbone_frozen=True
        )


@STRATEGIES.register("prototypes")
class Prototypes(Strategy):
    """Few-shot prototypes: each class is the normalised sum of its description's embedding
    and its labelled training examples' embeddings (prototypical networks, Snell et al. 2017)."""

    options = ZeroShotOptions
    search_role = "cheap"
    searched_for = ("text",)
    search_order = 30
    model_needs = "describes"

    def fit(self, ctx: FitContext) -> StrategyResult:
        protos = _description_prototypes(self.name, ctx)
        train = ctx.splits.train
        feats = torch.nn.functional.normalize(
            torch.from_numpy(
                extract_features(
                    ctx.backbone,
                    ctx.dataset,
                    train,
                    device=ctx.device,
                    cache=ctx.cache,
                    batch_size=ctx.config.train.batch_size * 2,
                    description="embed",
                )
            ),
            dim=-1,
        )
        ys = torch.as_tensor(ctx.labels(train), dtype=torch.int64)
        protos = torch.nn.functional.normalize(protos.clone().index_add_(0, ys, feats), dim=-1)
        return StrategyResult(
            _as_model(ctx, protos), [], {"support": int(len(train))}, backbone_frozen=True
        )
