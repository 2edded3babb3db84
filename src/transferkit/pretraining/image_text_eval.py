"""The image-text loss and its validation numbers: symmetric InfoNCE with a learned scale,
retrieval recall@k both ways, zero-shot accuracy and confusion over classes.

CLIP's loss (Radford et al., 2021, arXiv:2103.00020, Fig. 3) over a batch of N images and
texts with L2-normalised embeddings ``I``, ``T`` and a learned scale ``s = exp(t)``::

    logits = s * I T^T
    loss = (CE(logits, targets) + CE(logits^T, targets)) / 2

where the target of image i is text i. Here texts are deduplicated within the batch and the
target of an image is spread evenly over every text of its group (its class, or the same
text), and the target of a text over every image of its group. With one text per pair and no
shared groups this is exactly CLIP's loss; with class descriptions it keeps two images of one
class from being pushed apart (a multi-positive InfoNCE, as in Khosla et al., 2020,
arXiv:2004.11362). Under torchrun the training loss is taken over the global batch
(:func:`gathered_infonce`): every process's images and texts are gathered, so the negatives
and the gradients are those of one process holding the whole batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from transferkit import distributed


def group_targets(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(R, C) target distribution: row r spread evenly over the columns of its group."""
    same = (rows[:, None] == cols[None, :]).float()
    return same / same.sum(1, keepdim=True).clamp(min=1.0)


def symmetric_infonce(
    images: torch.Tensor,
    texts: torch.Tensor,
    image_groups: torch.Tensor,
    text_groups: torch.Tensor,
    scale: torch.Tensor | float,
) -> torch.Tensor:
    """Mean of the image->text and text->image cross-entropies (see the module docstring)."""
    logits = scale * images.float() @ texts.float().t()
    i2t = -(group_targets(image_groups, text_groups) * F.log_softmax(logits, 1)).sum(1)
    t2i = -(group_targets(text_groups, image_groups) * F.log_softmax(logits.t(), 1)).sum(1)
    return (i2t.mean() + t2i.mean()) / 2


def gathered_infonce(
    images: torch.Tensor,
    image_groups: torch.Tensor,
    texts: torch.Tensor,
    text_ids: torch.Tensor,
    text_groups: torch.Tensor,
    scale: torch.Tensor | float,
) -> torch.Tensor:
    """:func:`symmetric_infonce` over every process's images and texts (one process: over its
    own); a text that several processes hold (one class sentence, say) is counted once, so the
    targets are those of one process holding the whole batch."""
    images, _ = distributed.gather_rows(images)
    image_groups, _ = distributed.gather_rows(image_groups)
    texts, _ = distributed.gather_rows(texts)
    text_ids, _ = distributed.gather_rows(text_ids)
    text_groups, _ = distributed.gather_rows(text_groups)
    unique, inverse = torch.unique(text_ids, return_inverse=True)
    order = torch.arange(len(text_ids), device=text_ids.device)
    first = torch.full_like(unique, len(text_ids)).scatter_reduce(0, inverse, order, "amin")
    return symmetric_infonce(images, texts[first], image_groups, text_groups[first], scale)


def recall_at(
    sim: torch.Tensor, row_groups: torch.Tensor, col_groups: torch.Tensor, k: int
) -> float:
    """Share of rows whose ``k`` most similar columns include one of the row's group."""
    k = min(k, sim.shape[1])
    top = sim.topk(k, dim=1).indices
    hit = (col_groups[top] == row_groups[:, None]).any(1)
    return float(hit.float().mean())


def retrieval_metrics(
    images: torch.Tensor,
    texts: torch.Tensor,
    image_groups: torch.Tensor,
    text_groups: torch.Tensor,
) -> dict[str, float]:
    """Image->text and text->image recall@1 and @5 (a hit: a text / image of the same group)."""
    sim = images.float() @ texts.float().t()
    out = {}
    for k in (1, 5):
        out[f"val_i2t_r{k}"] = recall_at(sim, image_groups, text_groups, k)
        out[f"val_t2i_r{k}"] = recall_at(sim.t(), text_groups, image_groups, k)
    return out


def class_prototypes(texts: torch.Tensor, text_classes: torch.Tensor, k: int) -> torch.Tensor:
    """(K, D): per class, the normalised mean of its sentences' embeddings."""
    protos = torch.zeros(k, texts.shape[1])
    protos.index_add_(0, text_classes.cpu(), texts.float().cpu())
    return F.normalize(protos, dim=-1)


def zeroshot_confusion(
    images: torch.Tensor, labels: torch.Tensor, protos: torch.Tensor
) -> tuple[float, np.ndarray]:
    """Accuracy and (K, K) confusion counts (rows: true class) of nearest-prototype labels."""
    pred = (images.float().cpu() @ protos.t()).argmax(1)
    k = protos.shape[0]
    y = labels.cpu()
    conf = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    return float((pred == y).float().mean()), conf.numpy()
