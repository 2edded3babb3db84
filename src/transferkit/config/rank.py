"""Settings of ``rank`` and ``similarity``: transferability without training (the scores'
own options, such as ``knn_k``, arrive in ``options``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transferkit.config.blocks import Batching, Columns, ImageInput, Runtime, Seeded
from transferkit.config.fields import Default, Stored, defaults, opt


@dataclass
@defaults(
    batch_size=64,
    image_size=Default(None, "Input size for every candidate."),
    seed=Default(0, "Seed of fit's split whose labelled part is scored."),
)
class RankConfig(Stored, Seeded, Batching, Runtime, Columns, ImageInput):
    """Rank candidate source models for labelled target data without training them."""

    data: str = opt(
        "", "Labelled target data (folder, manifest, builtin:NAME, text table).", required=True
    )
    models: str = opt(
        "",
        "Comma-separated candidates; shell patterns such as 'effnet*' or "
        "'timm:resnet*' are expanded.",
        required=True,
    )
    scores: list[str] = opt(
        [],
        "Comma-separated scores (default: logme,leep,nce,hscore,knn); the first orders the table.",
        registry="score",
    )
    score: str | None = opt(None, "Rank by this score only (with --scores: rank by it first).")
    max_examples: int | None = opt(None, "Score a stratified sample of this size.", min=1)
    labels_per_class: int | None = opt(
        None, "Use fit's labelled examples for this label budget.", min=1
    )
    options: dict[str, Any] = opt({}, "The scores' own options (e.g. knn_k), by name.", cli=False)


@dataclass
@defaults(batch_size=64)
class SimilarityConfig(Stored, Seeded, Batching, Runtime, Columns, ImageInput):
    """How far a source dataset is from a target one in a backbone's feature space."""

    source: str = opt("", "One dataset.", required=True)
    target: str = opt("", "The other dataset.", required=True)
    model: str = opt("", "The backbone whose features are compared.", required=True)
    max_examples: int = opt(2000, "Examples per side.", min=2)
    permutations: int = opt(200, "Permutations for the MMD p-value.", min=1)
