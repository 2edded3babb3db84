"""Plug-ins a user writes outside the package (read by ``test_user_plugins.py``, which runs
this file in a subprocess: registering adds to transferkit's global registries, and the other
tests must not see these entries). Each has a working and a broken twin; the checks must
pass the first and fail the second, naming it and the check that failed. Prints one JSON
object: ``{name: "ok" or the failure's message}``."""

from __future__ import annotations

import json

import numpy as np
import torch

from transferkit.adaptation import DEEP_METHODS, DeepMethod
from transferkit.explanation.methods import METHODS, Attribution, Method
from transferkit.features.extract import extract_features
from transferkit.strategies import STRATEGIES, Strategy, StrategyResult
from transferkit.testing import check_adaptation, check_explanation, check_score, check_strategy
from transferkit.transferability import SCORES, Score
from transferkit.zoo import TransferModel


@STRATEGIES.register("centroids")
class Centroids(Strategy):
    """Nearest class mean on the frozen backbone's features: logits 2 m.x - |m|^2."""

    def class_means(self, ctx) -> np.ndarray:
        x = extract_features(ctx.backbone, ctx.dataset, ctx.splits.train, device=ctx.device)
        y = ctx.labels(ctx.splits.train)
        return np.stack([x[y == k].mean(0) for k in range(ctx.num_classes)])

    def fit(self, ctx) -> StrategyResult:
        means = torch.as_tensor(self.class_means(ctx), dtype=torch.float32)
        model = TransferModel(ctx.backbone, ctx.num_classes)
        with torch.no_grad():
            model.head.weight.copy_(2 * means)
            model.head.bias.copy_(-(means * means).sum(1))
        return StrategyResult(model, backbone_frozen=True)


@STRATEGIES.register("jittered-centroids")
class JitteredCentroids(Centroids):
    """Broken: jitters the means with noise from an unseeded generator."""

    def class_means(self, ctx) -> np.ndarray:
        means = super().class_means(ctx)
        return means + np.random.default_rng().normal(0, 1.0, means.shape)


@SCORES.register("centroid-gap")
class CentroidGap(Score):
    """Between-class over within-class spread of the features (a Fisher-style ratio)."""

    def _score(self, inputs) -> float:
        x, y = inputs.features, inputs.labels
        means = np.stack([x[y == k].mean(0) for k in range(inputs.num_classes)])
        within = np.mean(np.sum((x - means[y]) ** 2, axis=1))
        return float(np.sum((means - x.mean(0)) ** 2) / inputs.num_classes / within)


@SCORES.register("first-row")
class FirstRow(Score):
    """Broken: reads the first example's first feature, whatever the labels say."""

    def _score(self, inputs) -> float:
        return float(inputs.features[0, 0])


@DEEP_METHODS.register("idle-critic")
class IdleCritic(DeepMethod):
    """Broken: builds a domain critic and forgets it; the term is a plain mean gap."""

    def build(self, num_features: int, num_classes: int) -> torch.nn.Module:
        return torch.nn.ModuleDict({"critic": torch.nn.Linear(num_features, 1)})

    def transfer_loss(self, extra, fs, ft, ls, lt, progress) -> torch.Tensor:
        return (fs.mean(0) - ft.mean(0)).square().sum()


@METHODS.register("row-saliency")
class RowSaliency(Method):
    """Broken: one score per image row, not a map over the image."""

    def attribute(self, model, x, targets, settings) -> Attribution:
        return Attribution([row.abs().mean(dim=(0, 2)).numpy() for row in x])


def outcome(check, name: str) -> str:
    try:
        check(name)
    except AssertionError as e:
        return str(e)
    return "ok"


if __name__ == "__main__":
    results = {
        "centroids": outcome(check_strategy, "centroids"),
        "jittered-centroids": outcome(check_strategy, "jittered-centroids"),
        "centroid-gap": outcome(check_score, "centroid-gap"),
        "first-row": outcome(check_score, "first-row"),
        "idle-critic": outcome(check_adaptation, "idle-critic"),
        "row-saliency": outcome(check_explanation, "row-saliency"),
    }
    print(json.dumps(results))
