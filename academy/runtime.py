"""Seeds, device choice and project paths: the small decisions every notebook makes the same way."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch so a CPU run is repeatable bit for bit.

    Returns a torch Generator seeded the same way, for DataLoader shuffling that does not
    depend on how many random numbers other code drew before.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(preference: str | None = "auto") -> torch.device:
    """Pick the device: an explicit choice wins, then the ``DEVICE`` variable, then cuda → mps → cpu."""
    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        choice = os.environ.get("DEVICE", "auto").strip().lower() or "auto"
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE={choice!r} was asked for but CUDA is not available; use DEVICE=auto or cpu")
    if choice == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("DEVICE='mps' was asked for but MPS is not available; use DEVICE=auto or cpu")
    return torch.device(choice)


def build_dir() -> Path:
    """Where executed notebooks, metrics and screenshots go (``ACADEMY_BUILD`` or ./build)."""
    return Path(os.environ.get("ACADEMY_BUILD", REPO_ROOT / "build"))


def record_metrics(track: str, stage: str, metrics: dict) -> Path:
    """Write a notebook's measured numbers to ``build/metrics/<track>/<stage>.json``.

    Tests and benchmarks read these files instead of scraping notebook output.
    """
    path = build_dir() / "metrics" / track / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=float) + "\n")
    return path
