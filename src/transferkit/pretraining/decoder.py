"""A convolutional decoder from a feature vector back to an image, for the autoencoder and
the VAE: a linear map to a 4x4 grid, transposed-convolution upsampling (x2 per stage) until
the grid covers the input size, then resizing to the exact input size."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Decoder(nn.Module):
    def __init__(self, latent_dim: int, out_shape: tuple[int, int, int], width: int = 256) -> None:
        super().__init__()
        c, h, w = out_shape
        self.out_hw = (h, w)
        stages = max(1, math.ceil(math.log2(max(h, w) / 4)))
        self.start = width
        self.fc = nn.Linear(latent_dim, width * 16)
        layers: list[nn.Module] = []
        ch = width
        for i in range(stages):
            last = i == stages - 1
            nxt = c if last else max(16, ch // 2)
            layers.append(nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1))
            if not last:
                layers += [nn.BatchNorm2d(nxt), nn.ReLU(inplace=True)]
            ch = nxt
        self.up = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z)).view(len(z), self.start, 4, 4)
        x = self.up(x)
        if x.shape[-2:] != self.out_hw:
            x = F.interpolate(x, size=self.out_hw, mode="bilinear", align_corners=False)
        return x
