"""``lora``: low-rank adapters (peft) on a frozen transformers encoder, plus a new head.

One folder: the options (:mod:`~.options`), which layers take adapters and the peft config
(:mod:`~.adapters`), and the strategy with its training task (:mod:`~.strategy`).
"""

from transferkit.strategies.lora.adapters import add_lora, lora_targets
from transferkit.strategies.lora.options import LoRAOptions
from transferkit.strategies.lora.strategy import LoRA, LoRATask, parameter_counts

__all__ = ["LoRA", "LoRAOptions", "LoRATask", "add_lora", "lora_targets", "parameter_counts"]
