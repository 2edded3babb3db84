"""``check_pretraining``: the contract of a pretraining method (:mod:`transferkit.pretraining`).

A method is a training task the one training loop runs; what it leaves behind is a backbone
that the rest of transferkit uses like any other. So the checks build the task on 60 labelled
8 px strokes (``tiny-cnn`` with fresh weights), take one batch, and ask: the loss is finite and
its gradients reach the backbone; a few optimiser steps on that batch lower it; the same seed
gives the same losses and weights; and the backbone it keeps honours the backbone contract and
saves and loads back through ``file:`` with the same identity and outputs. The data, the
backbone and the split come through the method's own hooks (``load_data``, ``make_backbone``,
``split``), as in a run; a method that needs several sources (``min_sources``) gets as many
copies of the strokes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from transferkit.testing._common import expect, options_declared, resolve_entry, run_checks
from transferkit.testing._data import labelled_strokes

STEPS = 5  # optimiser steps on one batch: enough for any working loss to go down


def check_pretraining(method: str | type, **options: Any) -> None:
    """Check a registered pretraining method (by name or by its class); raise an
    AssertionError naming the method and the failed check. ``options`` are the method's own
    options by name (``latent_dim=16``).

    Example, for a method of one's own::

        from transferkit.pretraining import METHODS, PretrainTask
        from transferkit.testing import check_pretraining

        @METHODS.register("rotation")
        class Rotation(PretrainTask):
            def build(self): ...
            def compute_loss(self, model, batch, device): ...

        def test_my_method():
            check_pretraining("rotation")
    """
    from transferkit.pretraining import METHODS

    name, cls = resolve_entry(METHODS, method, "pretraining method")
    with tempfile.TemporaryDirectory(prefix="transferkit-check-") as tmp:
        steps = _Steps(name, cls, Path(tmp), options)
        run_checks(
            "pretraining method",
            name,
            [
                (
                    "declares its options with help and valid defaults",
                    lambda: options_declared(cls),
                ),
                ("its loss is finite and reaches the backbone", steps.backward),
                (f"{STEPS} steps on one batch lower its loss", steps.learns),
                ("gives the same losses and weights for the same seed", steps.seeded),
                ("keeps a backbone that honours the contract", steps.keeps_a_backbone),
                ("its backbone saves and loads back through file:", steps.round_trip),
            ],
        )


class _Steps:
    """Tasks of one method on the check's strokes, and the steps taken with them."""

    def __init__(self, name: str, cls: type, tmp: Path, options: dict[str, Any]) -> None:
        from transferkit.config import PretrainConfig

        self.cls, self.tmp = cls, tmp
        data = ",".join(
            labelled_strokes(tmp / f"source{k}") for k in range(max(1, cls.min_sources))
        )
        self.cfg = PretrainConfig(
            data=data, method=name, arch="tiny-cnn", image_size=8, batch_size=16, lr=1e-3,
            device="cpu", seed=0, options=dict(options),
        )  # fmt: skip
        self.dataset = cls.load_data(self.cfg)
        self.train, self.val, _ = cls.split(self.dataset, self.cfg)
        self.device = torch.device("cpu")
        self.trained = None  # the task after the first training, and its losses
        self.losses: list[float] = []

    def _task(self):
        """A fresh task (seeded fresh weights) and its first training batch."""
        torch.manual_seed(self.cfg.seed)
        backbone = self.cls.make_backbone(self.cfg, self.dataset)
        task = self.cls(backbone, self.dataset, self.train, self.val, self.cfg, self.device)
        task.on_epoch_start(0)
        return task, next(iter(task.train_batches()))

    def _loss(self, task, batch) -> torch.Tensor:
        torch.manual_seed(1)  # the same noise (a VAE's samples) for every evaluation
        task.train_mode(task.model)
        return task.loss(task.model, batch, self.device)

    def _train(self) -> tuple[Any, list[float]]:
        task, batch = self._task()
        optimiser = torch.optim.Adam(task.model.parameters(), lr=1e-3)
        losses = []
        for _ in range(STEPS):
            optimiser.zero_grad()
            loss = self._loss(task, batch)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        losses.append(self._loss(task, batch).item())
        return task, losses

    def backward(self) -> None:
        task, batch = self._task()
        loss = self._loss(task, batch)
        expect(loss.ndim == 0 and torch.isfinite(loss), f"the loss is {loss}")
        loss.backward()
        encoder = task.transferred()
        idle = [n for n, p in encoder.named_parameters() if p.grad is None or not p.grad.any()]
        expect(not idle, f"no gradient reaches the kept backbone's {idle[:3]}")

    def learns(self) -> None:
        self.trained, self.losses = self._train()
        first, last = self.losses[0], self.losses[-1]
        expect(last < first, f"the loss went from {first:.4g} to {last:.4g} in {STEPS} steps")

    def seeded(self) -> None:
        task, losses = self._train()
        expect(losses == self.losses, f"losses {self.losses}, then {losses} with the same seed")
        a, b = self.trained.model.state_dict(), task.model.state_dict()
        differ = [k for k in a if not torch.equal(a[k], b[k])]
        expect(not differ, f"two trainings with the same seed differ in {differ[:3]}")

    def keeps_a_backbone(self) -> None:
        from transferkit.testing.backbones import forward_backward_and_blocks

        forward_backward_and_blocks(self._task()[0].transferred())

    def round_trip(self) -> None:
        from transferkit.testing.backbones import inputs
        from transferkit.zoo import TransferModel, create_backbone, save_model

        encoder = self.trained.transferred().eval()
        encoder.invalidate_identity()  # it was trained since it was built
        head, classes = self.trained.source_head()
        model = TransferModel(encoder, head.out_features if head is not None else 0)
        if head is not None:
            model.head.load_state_dict(head.state_dict())
        save_model(model, self.tmp / "saved", classes or [])
        back = create_backbone(f"file:{self.tmp / 'saved'}").eval()
        expect(back.identity == encoder.identity, "it loads back with another identity")
        with torch.no_grad():
            same = torch.allclose(back(inputs(back)), encoder(inputs(encoder)), atol=1e-6)
        expect(same, "it loads back with other outputs for the same input")
