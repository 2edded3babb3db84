"""Image-text pretraining, CLIP-style (Radford et al., 2021, arXiv:2103.00020): an image
encoder and a text encoder trained into one embedding space with the symmetric InfoNCE loss
and a learned temperature, on (image, text) pairs.

Pairs come from a manifest (``--data pairs.csv``: path,text) or from a labelled image source
and ``--descriptions FILE`` (class -> sentences; :mod:`transferkit.pretraining.pairs`). Either
tower may start from a zoo model (``--image-model effnet-lite0``, ``--text-model minilm-l6``);
the text encoder is frozen (its features are computed once; only its projection trains),
LoRA-tuned (Hu et al., 2021, arXiv:2106.09685) or fully trained (``--text-tuning``). The
logit scale starts at 1 / ``--init-temperature`` and is learned in log space, clamped at 100
as CLIP does. Validation reports retrieval recall@1/@5 both ways and, when the pairs have
classes, zero-shot accuracy on the validation images (its confusion matrix is kept in the
run). What transfers is an :class:`~transferkit.zoo.image_text.ImageTextBackbone`: an image
backbone whose ``encode_text`` embeds label descriptions, so ``zeroshot``, ``rank``, ``fit``
and ``auto`` take it as they take a CLIP folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transferkit import distributed, progress
from transferkit.config import PretrainConfig, opt
from transferkit.config.options import resolve
from transferkit.data.transforms import ImageTorchDataset
from transferkit.errors import UserError
from transferkit.pretraining import image_text_eval as ev
from transferkit.pretraining.base import METHODS, PretrainTask, data_sources, load_image_source
from transferkit.pretraining.image_text_model import ImageTextModule, PairExamples, add_text_lora
from transferkit.pretraining.pairs import (
    ImageTextPairs,
    is_manifest,
    pairs_from_classes,
    read_descriptions,
    read_pairs_manifest,
)
from transferkit.training.schedule import adamw_warmup_cosine
from transferkit.zoo import create_backbone
from transferkit.zoo.image_text import ImageTextBackbone


@dataclass
class ImageTextOptions:
    prefix = ""
    image_model: str = opt(
        "", "Image-text: the image tower, started from this zoo model's weights (default: --arch)."
    )
    text_model: str = opt("minilm-l6", "Image-text: the text tower (a zoo text encoder).")
    descriptions: str = opt(
        "",
        "Image-text: JSON/YAML file, class -> sentences, pairing each image of a labelled --data "
        "with its class's sentences (without it: a CSV/JSONL --data is a pairs manifest, "
        "path,text; labelled images are described by their class names).",
    )
    text_tuning: str = opt(
        "frozen",
        "Image-text: the text encoder frozen, LoRA-tuned or fully trained.",
        choices=("frozen", "lora", "full"),
    )
    embed_dim: int = opt(256, "Image-text: size of the joint embedding space.", min=1)
    init_temperature: float = opt(
        0.07, "Image-text: initial softmax temperature (learned).", gt=0, max=1
    )
    text_lr_scale: float = opt(
        0.1, "Image-text: the text encoder's learning rate as a share of --lr (full tuning).", gt=0
    )
    text_lora_rank: int = opt(8, "Image-text: LoRA rank of the text encoder (lora).", min=1)


@METHODS.register("image-text")
class ImageTextTask(PretrainTask):
    options = ImageTextOptions
    monitor = "val_score"

    # -- preparing the run ---------------------------------------------------------------------
    @classmethod
    def check(cls, cfg: PretrainConfig) -> None:
        if cfg.batch_size < 2:
            raise UserError(
                "Image-text pretraining needs a batch size of at least 2 (each pair is "
                "contrasted with the others in its batch); use 64 or more."
            )

    @classmethod
    def load_data(cls, cfg: PretrainConfig) -> ImageTextPairs:
        opts = resolve(METHODS, cls.name, cfg.options)
        sources = data_sources(cfg.data)
        if len(sources) != 1:
            raise UserError(
                "Image-text pretraining reads one --data: a pairs manifest (CSV/JSONL with "
                "path,text) or a labelled image source with --descriptions FILE."
            )
        if not opts.descriptions and is_manifest(sources[0]):
            return read_pairs_manifest(sources[0], strict=cfg.strict)
        images = load_image_source(cfg, sources[0], needs_labels=True)
        if not opts.descriptions:
            progress.info(
                f"No --descriptions: each class of {images.name} is described by its name alone "
                "(write sentences per class in a JSON/YAML file for a better text side)."
            )
            names = {c: [f"a photo of a {c.replace('_', ' ')}."] for c in images.classes}
            return pairs_from_classes(images, names, "the class names")
        return pairs_from_classes(images, read_descriptions(opts.descriptions), opts.descriptions)

    @classmethod
    def trained_model(cls, cfg: PretrainConfig) -> str:
        opts = resolve(METHODS, cls.name, cfg.options)
        return f"{opts.image_model or cfg.arch} + {opts.text_model}"

    @classmethod
    def make_backbone(cls, cfg: PretrainConfig, data: Any) -> ImageTextBackbone:
        opts = resolve(METHODS, cls.name, cfg.options)
        image = create_backbone(
            opts.image_model or cfg.arch,
            pretrained=bool(opts.image_model) or cfg.from_pretrained,
            weights=cfg.weights,
            image_size=cfg.image_size,
        )
        text = create_backbone(opts.text_model)
        for model, want, flag in (
            (image, "image", "--image-model"),
            (text, "text", "--text-model"),
        ):
            if model.data_config.modality != want:
                raise UserError(
                    f"{flag} {model.name} is a {model.data_config.modality} model; the "
                    f"{want} tower needs a {want} model (see `transferkit zoo`)."
                )
        if opts.text_tuning == "lora":
            add_text_lora(text, opts.text_lora_rank)
        return ImageTextBackbone(image, text, opts.embed_dim)

    # -- the task ------------------------------------------------------------------------------
    def build(self) -> nn.Module:
        pairs = self.dataset
        self.vocab = list(dict.fromkeys(t for ts in pairs.texts for t in ts))
        where = {t: k for k, t in enumerate(self.vocab)}
        self.text_ids = [[where[t] for t in ts] for ts in pairs.texts]
        self.vocab_groups = torch.zeros(len(self.vocab), dtype=torch.int64)
        for i, ids in enumerate(self.text_ids):
            self.vocab_groups[ids] = int(pairs.groups[i])
        self.backbone.text_in_state = False  # the module's state dict holds the text tower
        model = ImageTextModule(self.backbone, self.opts.init_temperature)
        encoder = model.text.encoder
        if self.opts.text_tuning == "frozen":
            encoder.requires_grad_(False)
        self.truncation = self._count_truncated()
        self.cached = (
            self._cache_text_features(model) if self.opts.text_tuning == "frozen" else None
        )
        return model

    def _count_truncated(self) -> dict[str, int]:
        tok = self.backbone.tokenizer()
        limit = self.backbone.text_limit
        lengths = [len(ids) for ids in tok(self.vocab, truncation=False)["input_ids"]]
        cut = int(sum(n > limit for n in lengths))
        if cut:
            progress.info(
                f"{cut} of the {len(self.vocab)} texts are longer than the {limit} tokens "
                f"{self.opts.text_model} reads; their ends are cut off (counted in the run)."
            )
        return {"truncated": cut, "texts": len(self.vocab), "max_length": limit}

    @torch.no_grad()
    def _cache_text_features(self, model: ImageTextModule) -> torch.Tensor:
        """The frozen text encoder's features of every distinct text, computed once."""
        encoder = model.text.encoder.to(self.device).eval()
        out = []
        for start in range(0, len(self.vocab), 256):
            tokens, _ = self.backbone.tokenize(self.vocab[start : start + 256])
            out.append(encoder.forward_features({k: v.to(self.device) for k, v in tokens.items()}))
        return torch.cat(out).float()

    def make_examples(self, indices):
        return PairExamples(self.dataset, indices, self.train_transform, self.text_ids)

    def configure(self, steps_per_epoch: int, epochs: int):
        m, lr = self.model, self.cfg.lr
        text_lr = lr * (self.opts.text_lr_scale if self.opts.text_tuning == "full" else 1.0)
        parts = [(m.backbone, lr), (m.text.projection, lr), ([m.log_scale], lr)]
        if self.opts.text_tuning != "frozen":
            parts.append((m.text.encoder, text_lr))
        return adamw_warmup_cosine(
            parts,
            weight_decay=self.cfg.weight_decay,
            warmup_epochs=self.cfg.warmup_epochs,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            trainable_only=True,
        )

    def train_mode(self, model: nn.Module) -> None:
        model.train()
        if self.opts.text_tuning == "frozen":
            distributed.unwrap(model).text.encoder.eval()

    def text_input(self, ids: torch.Tensor, device: torch.device) -> Any:
        """What the text tower takes for the texts ``ids``: cached features or tokens."""
        if self.cached is not None:
            return self.cached.to(device)[ids.to(device)]
        tokens, _ = self.backbone.tokenize([self.vocab[int(i)] for i in ids])
        return {k: v.to(device) for k, v in tokens.items()}

    def compute_loss(self, model, batch, device) -> torch.Tensor:
        x, ids, groups = batch
        unique = torch.unique(ids)
        img, txt, scale = model(x.to(device), self.text_input(unique, device))
        unique = unique.to(device)
        return ev.gathered_infonce(
            img, groups.to(device), txt, unique, self.vocab_groups.to(device)[unique], scale
        )

    # -- validation ----------------------------------------------------------------------------
    @torch.no_grad()
    def embed_texts(self, net: ImageTextModule, ids: torch.Tensor, device) -> torch.Tensor:
        out = []
        for s in range(0, len(ids), 256):
            out.append(net.embed_text(self.text_input(ids[s : s + 256], device)))
        return torch.cat(out).float().cpu()

    @torch.no_grad()
    def numbers(self, net: ImageTextModule, device) -> tuple[dict[str, float], np.ndarray | None]:
        """This process's validation numbers, and the zero-shot confusion (pairs with classes)."""
        loader = DataLoader(
            ImageTorchDataset(self.dataset, self.val_idx, self.eval_transform),
            batch_size=self.cfg.batch_size,
            num_workers=self.cfg.num_workers,
        )
        images = torch.cat(
            [net.backbone.forward_features(x.to(device)).float().cpu() for x, _ in loader]
        )
        groups = torch.as_tensor(self.dataset.groups[self.val_idx])
        ids = torch.tensor(sorted({k for i in self.val_idx for k in self.text_ids[int(i)]}))
        texts, tgroups = self.embed_texts(net, ids, device), self.vocab_groups[ids]
        out = ev.retrieval_metrics(images, texts, groups, tgroups)
        scale = net.scale().detach().float().cpu()
        out["val_loss"] = float(ev.symmetric_infonce(images, texts, groups, tgroups, scale))
        out["val_score"] = (out["val_i2t_r1"] + out["val_t2i_r1"]) / 2
        out["logit_scale"] = float(scale)
        conf = None
        if self.dataset.from_classes:
            protos = ev.class_prototypes(texts, tgroups, len(self.dataset.classes))
            out["val_zeroshot_accuracy"], conf = ev.zeroshot_confusion(images, groups, protos)
        return out, conf

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        if len(self.val_idx) == 0:
            return {"val_loss": 0.0, "val_score": 0.0}
        net = distributed.unwrap(model)
        was = net.training
        net.eval()
        out, _ = self.numbers(net, device)
        if was:
            self.train_mode(model)
        # rank 0's numbers on every rank, so the ranks agree on the best epoch
        return distributed.broadcast_object(out)

    # -- what is kept --------------------------------------------------------------------------
    def transferred(self) -> ImageTextBackbone:
        backbone = self.model.backbone
        backbone.text_tower.logit_scale.fill_(float(self.model.scale().detach()))
        backbone.text_in_state = True
        backbone.invalidate_identity()
        return backbone

    def save_artifacts(self, rec: Any) -> None:
        if not distributed.is_main() or len(self.val_idx) == 0:
            return
        net = self.model
        was = net.training
        net.eval()
        out, conf = self.numbers(net, next(net.parameters()).device)  # the best weights'
        net.train(was)
        self.best_numbers = {k: v for k, v in out.items() if k.startswith("val_")}
        rec.write_json("retrieval.json", self.best_numbers)
        if conf is not None:
            self.best_confusion = {"classes": list(self.dataset.classes), "matrix": conf.tolist()}
            rec.write_json("zeroshot_confusion.json", self.best_confusion)

    def record_extras(self) -> dict[str, Any]:
        """What the record keeps: texts cut, the pairs, the descriptions, and the best
        weights' retrieval and zero-shot confusion on the validation pairs (for the report)."""
        extras = {"text_truncation": self.truncation, "pairs": self.dataset.summary()}
        extras["retrieval"] = getattr(self, "best_numbers", None)
        extras["zeroshot_confusion"] = getattr(self, "best_confusion", None)
        if self.dataset.descriptions is not None:
            extras["descriptions"] = self.dataset.descriptions
        return extras
