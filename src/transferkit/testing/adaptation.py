"""``check_adaptation``: the contract of a domain adaptation method
(:mod:`transferkit.adaptation`), deep or shallow.

Checked on two tiny image domains with a real shift (8 px strokes; the target dimmer and
blurrier), through the same member training the ``adapt`` workflow uses: a deep method's
transfer term is a finite scalar and its loss reaches the backbone and the method's own modules;
a short fit is seeded, scores its candidate with finite label-free numbers, saves a model that
loads back with the same outputs, and never reads target labels (the same target images with
their labels shuffled give exactly the same model and scores).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.testing._common import expect, options_declared, run_checks
from transferkit.testing._data import domains

#: The adapt settings of the checks: tiny-cnn at 8 px, one epoch of batches of 8.
SMALL = {
    "model": "tiny-cnn",
    "image_size": 8,
    "batch_size": 8,
    "epochs": 1,
    "selection_examples": 24,
    "embed_points": 0,
}


def check_adaptation(method: str | type, **options: Any) -> None:
    """Check a registered adaptation method, deep or shallow (by name or by its class); raise
    an AssertionError naming the method and the failed check. ``options`` are the methods'
    own options by name, as on the command line (``hidden=16``); each method takes those it
    declares.

    Example, for a method of one's own::

        from transferkit.adaptation import DEEP_METHODS, DeepMethod
        from transferkit.testing import check_adaptation

        @DEEP_METHODS.register("my-mmd")
        class MyMMD(DeepMethod):
            def transfer_loss(self, extra, fs, ft, ls, lt, progress):
                ...

        def test_my_method():
            check_adaptation("my-mmd")
    """
    from transferkit.adaptation import DEEP_METHODS, SHALLOW_METHODS

    name, cls = _resolve(method, DEEP_METHODS, SHALLOW_METHODS)
    deep = name in DEEP_METHODS and DEEP_METHODS.get(name) is cls
    checks = [("declares its options with help and valid defaults", lambda: options_declared(cls))]
    if deep:
        checks.append(
            ("its loss is finite and reaches the backbone", lambda: _backward(name, options))
        )
    with tempfile.TemporaryDirectory(prefix="transferkit-check-") as tmp:
        fits = _Fits(name, deep, Path(tmp), options)
        checks += [
            ("a short fit gives finite label-free scores", fits.first),
            ("gives the same model for the same seed", fits.seeded),
            ("never reads target labels", fits.label_free),
            ("its model loads back with the same outputs", fits.round_trip),
        ]
        run_checks("adaptation method", name, checks)


def _resolve(method: str | type, deep, shallow) -> tuple[str, type]:
    from transferkit.testing._common import resolve_entry

    if isinstance(method, str):
        registry = deep if method in deep else shallow
    else:
        registry = deep if getattr(method, "name", "") in deep else shallow
    return resolve_entry(registry, method, "adaptation method")


def _backward(name: str, options: dict[str, Any]) -> None:
    """One forward of source and target batches: source logits and a finite scalar transfer
    term whose gradients reach every classifier parameter and the method's own modules."""
    from transferkit.adaptation import DEEP_METHODS, AdaptationNet
    from transferkit.config.options import resolve
    from transferkit.zoo import TransferModel, create_backbone

    cls = DEEP_METHODS.get(name)
    opts = resolve(DEEP_METHODS, name, options)
    method = cls(**(dataclasses.asdict(opts) if opts is not None else {}))
    torch.manual_seed(0)
    net = AdaptationNet(TransferModel(create_backbone("tiny-cnn", image_size=8), 3), method)
    net.train()
    xs, xt = torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)
    logits, term = net(xs, xt, 0.5)
    expect(tuple(logits.shape) == (6, 3), f"source logits of shape {tuple(logits.shape)}")
    expect(term.ndim == 0 and torch.isfinite(term), f"the transfer term is {term}")
    (torch.nn.functional.cross_entropy(logits, torch.arange(6) % 3) + term).backward()
    missing = [n for n, p in net.classifier.named_parameters() if p.grad is None]
    expect(not missing, f"no gradient reaches {missing[:3]}")
    idle = [n for n, p in net.extra.named_parameters() if p.grad is None or not p.grad.any()]
    expect(not idle, f"the loss does not train the method's own modules {idle[:3]}")
    if cls.uses_target:
        expect(term.item() != 0.0, "it uses the target, but its transfer term is exactly 0")


class _Fits:
    """Short fits of one method on the check's domains (``tmp``)."""

    def __init__(self, name: str, deep: bool, tmp: Path, options: dict[str, Any]) -> None:
        self.name, self.deep, self.tmp, self.options = name, deep, tmp, options
        self.first_fit = None

    def _fit(self, shuffled: bool, tag: str):
        from transferkit.config import AdaptConfig
        from transferkit.runs.adapt.domains import load_domains, seed_indices
        from transferkit.runs.adapt.members import fit_shallow, raw_features, train_deep
        from transferkit.zoo import create_backbone

        source, target = domains(self.tmp / f"data-{shuffled}", shuffle_target_labels=shuffled)
        cfg = AdaptConfig(source=source, target=target, options=dict(self.options), **SMALL)
        data = load_domains(cfg)
        idx = seed_indices(data, cfg, 0)
        backbone = create_backbone("tiny-cnn", image_size=8)
        cpu = torch.device("cpu")
        if self.deep:
            return train_deep(backbone, 3, data, idx, cfg, self.name, 1.0, 0, cpu, self.tmp / tag)
        feats = raw_features(backbone, data, idx, cfg, cpu, None)
        return fit_shallow(backbone, 3, data, idx, feats, cfg, self.name, 0)

    def first(self) -> None:
        self.first_fit = out = self._fit(False, "a")
        expect(np.isfinite(out.scores["risk"]), f"the selection risk is {out.scores['risk']}")
        acc = out.scores["source_val_accuracy"]
        expect(0.0 <= acc <= 1.0, f"source validation accuracy {acc} is not in [0, 1]")

    def _same(self, other, why: str) -> None:
        a = self.first_fit.model.state_dict()
        b = other.model.state_dict()
        differ = [k for k in a if not torch.equal(a[k], b[k])]
        expect(not differ, f"{why}: the weights {differ[:3]} differ")
        expect(
            self.first_fit.scores == other.scores,
            f"{why}: scores {self.first_fit.scores} and {other.scores}",
        )

    def seeded(self) -> None:
        self._same(self._fit(False, "b"), "two fits with seed 0 differ")

    def label_free(self) -> None:
        self._same(self._fit(True, "c"), "shuffling the target's labels changed the result")

    def round_trip(self) -> None:
        from transferkit.zoo import load_model, save_model

        model = self.first_fit.model.eval()
        save_model(model, self.tmp / "saved", ["h", "v", "d"])
        loaded, classes = load_model(self.tmp / "saved")
        x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            expect(torch.allclose(model(x), loaded.eval()(x), atol=1e-6), "other outputs")
        expect(classes == ["h", "v", "d"], f"it loads back with classes {classes}")
