"""The one training loop every notebook uses: seeded, device-aware, with progress bars and history.

Progress bars: ``tqdm.auto`` gives a widget in JupyterLab and text in a terminal. Under papermill
a widget would leave nothing readable in the log, so the harness sets ``ACADEMY_PROGRESS=text``
(plain text bars on stderr, updated at most every few seconds); ``off`` silences them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from academy.runtime import resolve_device, seed_everything

StepFn = Callable[[nn.Module, tuple, torch.optim.Optimizer], torch.Tensor]


def progress(iterable=None, nested: bool = False, **kwargs):
    """A tqdm bar that suits where we run (see the module docstring).

    ``nested`` bars (per batch inside per epoch) are dropped in text mode: a log file cannot redraw
    two lines, and the epoch bar already says how far training is.
    """
    mode = os.environ.get("ACADEMY_PROGRESS", "auto")
    if mode == "off" or (mode == "text" and nested):
        kwargs["disable"] = True
    if mode == "text":
        from tqdm.std import tqdm
        kwargs.setdefault("file", sys.stderr)
        kwargs.setdefault("mininterval", 5.0)
        kwargs.setdefault("ascii", True)
        return tqdm(iterable, **kwargs)
    from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


@dataclass
class History:
    """One dict per epoch: epoch, train_loss, lr, val_loss, val_accuracy (with a val loader), seconds."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None

    def series(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs if key in e]

    @property
    def last(self) -> dict:
        return self.epochs[-1] if self.epochs else {}

    @property
    def seconds(self) -> float:
        return sum(e["seconds"] for e in self.epochs)

    def to_dict(self) -> dict:
        return asdict(self)


def classification_step(model: nn.Module, batch: tuple, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """Forward, cross-entropy, backward, update. Returns the batch loss (a learner can supply their own)."""
    x, y = batch
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None) -> dict:
    """Mean cross-entropy and accuracy over a loader of (x, y) batches, in eval mode."""
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluate() got an empty loader")
    return {"loss": loss_sum / total, "accuracy": correct / total, "n": total}


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, n_classes) logits for every batch of a loader, on the CPU."""
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    was_training = model.training
    model.eval()
    out = torch.cat([model(batch[0].to(device)).cpu() for batch in loader])
    model.train(was_training)
    return out


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: str | None = "onecycle",
    step: StepFn = classification_step,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: str | torch.device | None = "auto",
    seed: int | None = 0,
    checkpoint_dir: str | Path | None = None,
    restore_best: bool = False,
    max_seconds: float | None = None,
) -> History:
    """Train ``model`` in place and return its History.

    ``step`` does one optimisation step on a batch; ``augment`` transforms training inputs only;
    ``scheduler``: "onecycle" or None. With ``checkpoint_dir`` the best weights by validation
    accuracy are written as ``best.safetensors`` (plus ``history.json``) each time they improve;
    ``restore_best`` loads them back at the end. ``max_seconds`` stops after the epoch in which
    the budget ran out. Same seed on the same CPU ⇒ same history.
    """
    if epochs < 1:
        raise ValueError("epochs must be ≥ 1")
    if seed is not None:
        seed_everything(seed)
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = None
    if scheduler == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                    steps_per_epoch=max(1, len(train_loader)))
    elif scheduler is not None:
        raise ValueError(f"unknown scheduler {scheduler!r}; use 'onecycle' or None")
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    if ckpt:
        ckpt.mkdir(parents=True, exist_ok=True)
    history, best, best_state = History(), -1.0, None
    started = time.perf_counter()
    bar = progress(range(1, epochs + 1), desc="epochs", unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        loss_sum, seen = 0.0, 0
        for batch in progress(train_loader, nested=True, desc=f"epoch {epoch}", leave=False, unit="batch"):
            x, y = (t.to(device) for t in batch)
            if augment is not None:
                x = augment(x)
            loss = step(model, (x, y), optimizer)
            if sched is not None:
                sched.step()
            loss_sum += float(loss) * len(y)
            seen += len(y)
        record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "lr": optimizer.param_groups[0]["lr"]}
        if val_loader is not None:
            val = evaluate(model, val_loader, device)
            record.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        record["seconds"] = time.perf_counter() - t0
        history.epochs.append(record)
        bar.set_postfix({k: round(v, 4) for k, v in record.items() if k in ("train_loss", "val_accuracy")},
                        refresh=False)
        score = record.get("val_accuracy", -record["train_loss"])
        if score > best:
            best, history.best_epoch = score, epoch
            if restore_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if ckpt:
                _write_checkpoint(model, history, ckpt)
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history


def _write_checkpoint(model: nn.Module, history: History, folder: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "best.safetensors"))
    (folder / "history.json").write_text(json.dumps(history.to_dict(), indent=2))
