"""The architecture table: the only classes the registry will ever build from a card."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from academy.models.cnn import DigitsCNN, DigitsCNNConfig
from academy.models.config import ConfigError, config_from_dict


@dataclass(frozen=True)
class Architecture:
    model: type[nn.Module]
    config: type
    task: str            # what the serving layer does with it ("digits", later "names", ...)


ARCHITECTURES: dict[str, Architecture] = {
    "digits_cnn": Architecture(DigitsCNN, DigitsCNNConfig, task="digits"),
}


def build(architecture: str, config: dict) -> nn.Module:
    """A fresh model from a table key and a plain config dict (validated)."""
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    arch = ARCHITECTURES[architecture]
    return arch.model(config_from_dict(arch.config, config))


def architecture_of(model: nn.Module) -> str:
    for key, arch in ARCHITECTURES.items():
        if type(model) is arch.model:
            return key
    raise ConfigError(f"{type(model).__name__} is not in the architecture table; add it to ARCHITECTURES")


__all__ = ["ARCHITECTURES", "Architecture", "ConfigError", "DigitsCNN", "DigitsCNNConfig", "architecture_of",
           "build"]
