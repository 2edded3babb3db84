"""LoRA's own options (``--lora-rank``, ``--lora-alpha``, ``--lora-dropout``, ``--lora-targets``)."""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config import opt


@dataclass
class LoRAOptions:
    rank: int = opt(8, "lora: rank r of the low-rank update matrices.", min=1)
    alpha: float = opt(16.0, "lora: scaling alpha (the update is scaled by alpha / r).", gt=0)
    dropout: float = opt(0.1, "lora: dropout on the adapters' input.", min=0, lt=1)
    targets: str | None = opt(
        None,
        "lora: comma-separated names of the layers to adapt (default: detected, e.g. "
        "query,value for BERT-like models).",
    )

    def target_list(self) -> list[str] | None:
        return [t.strip() for t in (self.targets or "").split(",") if t.strip()] or None
