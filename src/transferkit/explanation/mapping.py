"""Which source knowledge the target classes use: for each target class, the source classes
its examples are predicted as by the source model's own head (an ImageNet classifier, say).

The table is read off the empirical joint distribution P^(y, z) of target labels y and source
classes z that LEEP builds (Nguyen et al., ICML 2020;
:func:`transferkit.transferability.leep.empirical_joint`): row y, normalised, is P^(z | y),
the share of the source head's probability mass that examples of class y put on each z.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.transferability.leep import empirical_joint


def source_class_table(
    source_probs: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    source_classes: list[str],
    top: int = 3,
) -> list[dict[str, Any]]:
    """One row per target class with examples: its name, the number of examples, and its
    ``top`` source classes as ``[name, P^(z | y)]`` pairs, most used first."""
    labels = np.asarray(labels, dtype=np.int64)
    joint = empirical_joint(np.asarray(source_probs, dtype=np.float64), labels, len(classes))
    p_y = joint.sum(axis=1)
    rows = []
    for y, name in enumerate(classes):
        if p_y[y] <= 0:
            continue
        cond = joint[y] / p_y[y]
        best = np.argsort(-cond, kind="stable")[:top]
        rows.append(
            {
                "class": name,
                "examples": int((labels == y).sum()),
                "sources": [[str(source_classes[z]), float(cond[z])] for z in best],
            }
        )
    return rows
