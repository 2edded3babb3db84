"""Export folders for the serve tests until ``transferkit.export`` lands: a tiny real PyTorch
module exported with ``torch.onnx.export`` and a config.json of the export format."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

CLASSES = ["zero", "one", "two"]


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(torch.relu(self.conv(x)).mean(dim=(2, 3))) * 4, dim=-1)


def image_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    net = _Tiny().eval()
    torch.onnx.export(
        net,
        (torch.zeros(2, 3, 32, 32),),
        str(folder / "model.onnx"),
        input_names=["pixel_values"],
        output_names=["probabilities"],
        dynamic_axes={"pixel_values": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=18,
        dynamo=False,
    )
    config = {
        "format": "transferkit-export",
        "format_version": 1,
        "transferkit_version": "0.1.0",
        "model_file": "model.onnx",
        "opset": 18,
        "modality": "image",
        "classes": CLASSES,
        "output": "probabilities",
        "quantized": None,
        "inputs": [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, 32, 32]}],
        "preprocessing": {
            "input_size": [3, 32, 32],
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "interpolation": "bicubic",
            "crop_pct": 0.875,
        },
        "members": None,
        "source": {"run": "test", "kind": "fit", "strategy": "linear", "model": "tiny"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "README.md").write_text("# tiny\n\n## Intended use\n\nTests only.\n")
    return folder
