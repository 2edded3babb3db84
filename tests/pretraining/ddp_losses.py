"""Run under `torchrun --nproc-per-node 2` by test_gathered_losses.py: the contrastive and the
image-text training losses on a global batch split unevenly over two processes (5 and 3
examples), through real DDP; rank 0 prints, as JSON, the largest difference between the
DDP-averaged gradients and those of one process holding the whole batch, with the gathered
negatives and with each process's own only."""

from __future__ import annotations

import json

import torch
from torch import nn
from torch.nn import functional as F

from transferkit import distributed
from transferkit.pretraining.contrastive import nt_xent
from transferkit.pretraining.image_text_eval import gathered_infonce, symmetric_infonce

TEMPERATURE, SCALE = 0.5, 10.0
SPLIT = [slice(0, 5), slice(5, 8)]  # rank 0 holds 5 examples, rank 1 holds 3
TEXT_IDS = [torch.tensor([0, 1, 2]), torch.tensor([1, 3, 4])]  # text 1 is held by both
TEXT_GROUPS = torch.tensor([0, 1, 2, 0, 1, 2])  # the group of each of the 6 texts


class Towers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Linear(6, 4)
        self.text = nn.Embedding(6, 4)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.normalize(self.image(x), dim=1), F.normalize(self.text(ids), dim=1)


def contrastive(net: nn.Module, a, b, gather: bool) -> torch.Tensor:
    z = net(torch.cat([a, b]))
    za, zb = z[: len(a)], z[len(a) :]
    if gather:
        (za, _), (zb, _) = distributed.gather_rows(za), distributed.gather_rows(zb)
    return nt_xent(torch.cat([za, zb]), TEMPERATURE)


def image_text(towers: nn.Module, x, groups, ids, gather: bool) -> torch.Tensor:
    img, txt = towers(x, ids)
    if gather:
        return gathered_infonce(img, groups, txt, ids, TEXT_GROUPS[ids], SCALE)
    return symmetric_infonce(img, txt, groups, TEXT_GROUPS[ids], SCALE)


def ddp_grads(make, loss_of, gather: bool) -> list[torch.Tensor]:
    model = make()
    wrapped = distributed.wrap_model(model, torch.device("cpu"))
    loss_of(wrapped, distributed.rank(), gather).backward()
    return [p.grad.clone() for p in model.parameters()]


def main() -> None:
    distributed.setup("cpu")
    torch.manual_seed(1)
    a, b, x = torch.randn(8, 6), torch.randn(8, 6), torch.randn(8, 6)
    groups = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    def make_linear():
        torch.manual_seed(0)
        return nn.Linear(6, 4)

    def simclr(net, r, gather):
        return contrastive(net, a[SPLIT[r]], b[SPLIT[r]], gather)

    def clip(net, r, gather):
        return image_text(net, x[SPLIT[r]], groups[SPLIT[r]], TEXT_IDS[r], gather)

    out = {}
    for name, make, loss_of, whole in (
        ("contrastive", make_linear, simclr, lambda n: nt_xent(n(torch.cat([a, b])), TEMPERATURE)),
        (
            "image_text",
            Towers,
            clip,
            lambda t: image_text(t, x, groups, torch.tensor([0, 1, 2, 3, 4]), gather=False),
        ),
    ):
        reference = make()
        whole(reference).backward()
        for gather in (True, False):
            grads = ddp_grads(make, loss_of, gather)
            diff = max(
                float((g - p.grad).abs().max()) for g, p in zip(grads, reference.parameters())
            )
            out[f"{name}_{'gathered' if gather else 'local'}"] = diff
    if distributed.is_main():
        print(json.dumps(out))
    distributed.close()


if __name__ == "__main__":
    main()
