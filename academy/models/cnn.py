"""The digits CNN: three 3×3 convolutions, two poolings, a small MLP head. Sized for 8×8 inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from academy.models.config import ConfigError


@dataclass(frozen=True)
class DigitsCNNConfig:
    in_channels: int = 1
    channels: tuple[int, ...] = (32, 64, 128)   # conv1, conv2, conv3
    hidden: int = 128
    n_classes: int = 10
    dropout: float = 0.25
    batchnorm: bool = True

    def validate(self) -> None:
        if len(self.channels) != 3 or any(not 1 <= c <= 1024 for c in self.channels):
            raise ConfigError("channels must be three integers in 1..1024")
        if not (1 <= self.in_channels <= 4 and 1 <= self.hidden <= 4096 and 2 <= self.n_classes <= 1000):
            raise ConfigError("in_channels 1..4, hidden 1..4096, n_classes 2..1000")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must be in [0, 1)")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


class ConvBlock(nn.Module):
    """3×3 conv (same padding) → optional BatchNorm → ReLU. Keeps H×W."""

    def __init__(self, c_in: int, c_out: int, batchnorm: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=not batchnorm)
        self.norm = nn.BatchNorm2d(c_out) if batchnorm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DigitsCNN(nn.Module):
    def __init__(self, config: DigitsCNNConfig | None = None):
        super().__init__()
        self.config = cfg = config or DigitsCNNConfig()
        c1, c2, c3 = cfg.channels
        self.block1 = ConvBlock(cfg.in_channels, c1, cfg.batchnorm)
        self.block2 = ConvBlock(c1, c2, cfg.batchnorm)
        self.block3 = ConvBlock(c2, c3, cfg.batchnorm)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c3 * 2 * 2, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.n_classes)

    @property
    def first_conv(self) -> nn.Conv2d:
        """The layer whose filters and feature maps the notebooks and the app draw."""
        return self.block1.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, 8, 8)
        x = self.block1(x)                          # (B, c1, 8, 8)
        x = F.max_pool2d(self.block2(x), 2)         # (B, c2, 4, 4)
        x = F.max_pool2d(self.block3(x), 2)         # (B, c3, 2, 2)
        x = self.drop(x.flatten(1))                 # (B, c3*4)
        x = self.drop(F.relu(self.fc(x)))           # (B, hidden)
        return self.head(x)                         # (B, n_classes) logits

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c1, 8, 8) activations after the first conv block."""
        return self.block1(x)
