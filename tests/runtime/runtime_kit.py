"""Export folders for the runtime tests, built from tiny real PyTorch modules with
``torch.onnx.export`` and a config.json of the export format (format.md): real graphs and real
configs, written the way the exporter writes them, so the runtime is tested before (and apart
from) ``transferkit.export``."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

CLASSES = ["zero", "one", "two"]


class TinyImageNet(nn.Module):
    """conv -> pool -> linear -> softmax: probabilities, as an exported graph returns them."""

    def __init__(self, channels: int = 3, k: int = 3, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(channels, 6, 3, padding=1)
        self.head = nn.Linear(6, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return torch.softmax(self.head(h) * 4.0, dim=-1)


class TinyTextNet(nn.Module):
    """Masked mean of token embeddings -> linear -> softmax."""

    def __init__(self, vocab: int, k: int = 3, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, k)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.unsqueeze(-1).float()
        h = (self.embed(input_ids) * m).sum(1) / m.sum(1).clamp(min=1.0)
        return torch.softmax(self.head(h) * 4.0, dim=-1)


def _export(module: nn.Module, args: tuple, names: list[str], path: Path, seq: bool) -> None:
    axes = {n: {0: "batch", 1: "sequence"} if seq else {0: "batch"} for n in names}
    axes["probabilities"] = {0: "batch"}
    module.eval()
    with warnings.catch_warnings():  # the TorchScript-based exporter: quick for tiny modules
        warnings.simplefilter("ignore", DeprecationWarning)
        _legacy_export(module, args, names, path, axes)


def _legacy_export(module: nn.Module, args: tuple, names: list[str], path: Path, axes) -> None:
    torch.onnx.export(
        module,
        args,
        str(path),
        input_names=names,
        output_names=["probabilities"],
        dynamic_axes=axes,
        opset_version=18,
        dynamo=False,
    )


def _config(modality: str, classes: list[str], inputs: list[dict], prep: dict) -> dict:
    return {
        "format": "transferkit-export",
        "format_version": 1,
        "transferkit_version": "0.1.0",
        "model_file": "model.onnx",
        "opset": 18,
        "modality": modality,
        "classes": classes,
        "output": "probabilities",
        "quantized": None,
        "inputs": inputs,
        "preprocessing": prep,
        "members": None,
        "source": {"run": "test", "kind": "fit", "strategy": "linear", "model": "tiny"},
    }


def image_prep(
    channels: int = 3,
    size: int = 32,
    interpolation: str = "bicubic",
    crop_pct: float = 0.875,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
) -> dict:
    return {
        "input_size": [channels, size, size],
        "mean": list(mean),
        "std": list(std),
        "interpolation": interpolation,
        "crop_pct": crop_pct,
    }


def image_export(folder: Path, prep: dict | None = None, seed: int = 0) -> tuple[Path, nn.Module]:
    """An image export folder and the module it was exported from."""
    prep = prep or image_prep()
    c, h, w = prep["input_size"]
    folder.mkdir(parents=True, exist_ok=True)
    net = TinyImageNet(c, len(CLASSES), seed)
    _export(net, (torch.zeros(2, c, h, w),), ["pixel_values"], folder / "model.onnx", False)
    inputs = [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", c, h, w]}]
    cfg = _config("image", CLASSES, inputs, prep)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    return folder, net


def text_export(folder: Path, tokenizer_dir: Path, max_length: int = 16, seed: int = 0):
    """A text export folder (the tokenizer files copied from ``tokenizer_dir``) and its module."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tokenizer_dir, folder / "tokenizer")
    vocab = json.loads((folder / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    net = TinyTextNet(len(vocab), len(CLASSES), seed)
    ids = torch.ones(2, 5, dtype=torch.int64)
    names = ["input_ids", "attention_mask"]
    _export(net, (ids, torch.ones_like(ids)), names, folder / "model.onnx", True)
    inputs = [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in names]
    prep = {"tokenizer": "tokenizer", "max_length": max_length}
    (folder / "config.json").write_text(json.dumps(_config("text", CLASSES, inputs, prep)))
    return folder, net


def ensemble_export(folder: Path, weights: list[float], preps: list[dict]) -> list[nn.Module]:
    """An ensemble exported as members (``members/<i>/``), each with its own preprocessing."""
    nets = []
    for i, prep in enumerate(preps):
        _, net = image_export(folder / "members" / str(i), prep, seed=i)
        nets.append(net)
    cfg = _config("image", CLASSES, [], {})
    del cfg["model_file"]
    cfg["members"] = [{"folder": f"members/{i}", "weight": w} for i, w in enumerate(weights)]
    (folder / "config.json").write_text(json.dumps(cfg))
    return nets


def torch_probs(net: nn.Module, x: np.ndarray | dict) -> np.ndarray:
    """The module's own probabilities for preprocessed inputs (the reference)."""
    with torch.no_grad():
        if isinstance(x, dict):
            out = net(torch.from_numpy(x["input_ids"]), torch.from_numpy(x["attention_mask"]))
        else:
            out = net(torch.from_numpy(np.ascontiguousarray(x)))
    return out.numpy()
