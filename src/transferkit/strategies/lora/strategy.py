"""The ``lora`` strategy: low-rank adapters on a frozen transformers encoder, plus a new head.

LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models",
arXiv:2106.09685) freezes the pretrained weights W and learns, for chosen projections, an
update of rank r:  h = W x + (alpha / r) * B A x,  with A (r x d) random and B (k x r) zero at
the start, so training begins from exactly the source model. Only A, B and the new head train
- typically under 1-2% of the parameters. The adapters come from the ``peft`` library
(``LoraConfig``, ``get_peft_model``); the target projections are detected per model type
(query and value for BERT-like encoders, as in the paper) or named with ``--lora-targets``.

The head starts from a linear probe on the source features (as LP-FT in ``finetune``; with
B = 0 the features are unchanged). Training is the shared loop with the finetune task's data,
loss and validation. The saved model holds the base weights, the adapters and the head, with
the LoRA settings in its spec, so ``transferkit predict --run ID`` needs nothing else; the
adapters alone are also written in peft's format (``model/adapter``) for use with peft.
"""

from __future__ import annotations

import torch

from transferkit import distributed
from transferkit.errors import UserError
from transferkit.strategies.base import STRATEGIES, FitContext, Strategy, StrategyResult
from transferkit.strategies.finetune import FineTuneTask
from transferkit.strategies.linear import probe_start
from transferkit.strategies.lora.adapters import add_lora
from transferkit.strategies.lora.options import LoRAOptions
from transferkit.training.schedule import adamw_warmup_cosine
from transferkit.zoo.checkpoint import TransferModel


class LoRATask(FineTuneTask):
    """The finetune task with nothing frozen or unfrozen per epoch: adapters and head train."""

    def __init__(self, model: TransferModel, ctx: FitContext, lr: float) -> None:
        super().__init__(model, ctx, layer_decay=False, lr=lr)

    def on_epoch_start(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.examples.epoch = epoch

    def train_mode(self, model: torch.nn.Module) -> None:
        model.train()

    def configure(self, steps_per_epoch: int, epochs: int):
        return adamw_warmup_cosine(
            [(self.model, self.lr)],
            weight_decay=self.opts.weight_decay,
            warmup_epochs=self.opts.warmup_epochs,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            trainable_only=True,
        )


def parameter_counts(model: TransferModel) -> dict[str, float]:
    """Trainable (adapters + head) and total parameters, and the trainable fraction."""
    total = sum(p.numel() for p in model.parameters())
    adapters = sum(p.numel() for n, p in model.backbone.named_parameters() if "lora_" in n)
    head = sum(p.numel() for p in model.head.parameters())
    return {
        "trainable_params": adapters + head,
        "adapter_params": adapters,
        "head_params": head,
        "total_params": total,
        "trainable_fraction": (adapters + head) / total,
    }


@STRATEGIES.register("lora")
class LoRA(Strategy):
    """LoRA adapters (peft) on the frozen encoder and a new head (see module docstring)."""

    default_lr = {"image": 1e-3, "text": 5e-4}
    options = LoRAOptions
    trains_backbone = True  # the adapters change what the encoder computes
    search_role = "trained"
    searched_for = ("text",)
    search_order = 50
    search_lr = {"image": (1e-4, 3e-3), "text": (1e-4, 3e-3)}
    model_needs = "adapters"
    search_ranks = (4, 8, 16)

    @classmethod
    def search_options(cls, trial, modality: str) -> dict:
        """The learning rate, then the rank r of the adapters (``search_ranks``)."""
        params = super().search_options(trial, modality)
        params["lora_rank"] = trial.suggest_categorical("lora_rank", list(cls.search_ranks))
        return params

    @classmethod
    def search_overrides(cls, params: dict) -> dict:
        return {"lora_rank": int(params["lora_rank"])} if "lora_rank" in params else {}

    def fit(self, ctx: FitContext) -> StrategyResult:
        o, lo = ctx.config.train, self.opts(ctx)
        backbone = ctx.backbone
        if not hasattr(backbone, "add_adapters"):
            raise UserError(
                f"lora needs a transformers text encoder (minilm-l6, hf:PATH); "
                f"{ctx.config.model} is not one. Use finetune, or --unfreeze K to "
                "train only the top blocks."
            )
        head_info: dict = {}
        if o.head_init == "linear":
            model, head_info = probe_start(ctx)
        else:
            torch.manual_seed(ctx.config.seed)
            model = TransferModel(backbone, ctx.num_classes)
        torch.manual_seed(ctx.config.seed)  # the adapters' A matrices
        settings = add_lora(backbone, lo.rank, lo.alpha, lo.dropout, lo.target_list())
        counts = parameter_counts(model)
        task = LoRATask(model, ctx, lr=self.learning_rate(ctx))
        result = self.train(task, ctx)
        backbone.invalidate_identity()
        if ctx.run_dir is not None and distributed.is_main():
            backbone.model.save_pretrained(str(ctx.run_dir / "model" / "adapter"))
        info = {
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "train_seconds": result.seconds,
            "lr": task.lr,
            "lora": settings,
            **counts,
            **head_info,
        }
        return StrategyResult(model, result.history, info, backbone_frozen=False)
