"""Training recipes: the ONE place a registry model's training is spelled out.

``train_digits`` is what ``notebooks/cnn/03_train_cnn`` teaches and ``04_export_and_serve`` (and
``make models``) runs: a widened DigitsCNN + small random affine augmentation (torch ops only) +
AdamW with a one-cycle learning rate, then a few constant-rate epochs whose weights are averaged
(SWA), all trained by ``academy.train.fit``. The knobs were chosen by 5-fold cross-validation on
train+val of seed 0 (never on test; see docs/cnn.md); the final model is trained on train+val and
measured once on the test split, beside an RBF-SVC tuned by cross-validation on the training split.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from academy import registry
from academy.data import digits as digits_data
from academy.models import DigitsCNN, DigitsCNNConfig
from academy.runtime import resolve_device, seed_everything
from academy.train import History, StepFn, classification_step, evaluate, fit, predict

BACKGROUND = -digits_data.MEAN / digits_data.STD   # a blank pixel after normalize()


@dataclass(frozen=True)
class DigitsRecipe:
    """Every knob of the digits recipe (defaults = the full-mode recipe)."""

    epochs: int = 50
    lr: float = 3e-3
    weight_decay: float = 5e-4
    batch_size: int = 64
    rotate_deg: float = 10.0       # random rotation ±
    scale: float = 0.10            # random zoom 1 ± scale
    shear: float = 0.10            # random shear ±
    shift_px: float = 1.0          # random translation ± pixels (of 8)
    swa_epochs: int = 10           # extra constant-lr epochs whose weights are averaged (0 = off)
    swa_lr: float = 1e-3
    train_on_val: bool = True      # final fit on train+val (the recipe was chosen by CV beforehand)
    max_seconds: float | None = None
    threads: int | None = 1        # CPU threads while training: tiny convs gain little from more, and the
                                   # course machine (2 cores) runs two notebooks at once. None = torch's default
    model: DigitsCNNConfig = DigitsCNNConfig(channels=(48, 96, 192), hidden=192)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d


SMOKE_RECIPE = DigitsRecipe(epochs=2, swa_epochs=1, train_on_val=False, max_seconds=10.0,
                            model=DigitsCNNConfig(channels=(8, 16, 16), hidden=32))


def random_affine(x: torch.Tensor, rotate_deg: float = 10.0, scale: float = 0.1, shear: float = 0.1,
                  shift_px: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A small random affine warp per image, with torch ops only (differentiable, any device).

    x: (B, C, H, W) normalised digits. Blank space that moves in is filled with the blank-pixel value.
    """
    b, _, h, w = x.shape
    u = lambda: torch.rand(b, generator=generator) * 2 - 1   # noqa: E731  U(-1, 1), shape (B,)
    angle = u() * math.radians(rotate_deg)
    zoom = 1 + u() * scale
    sh = u() * shear
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + sh
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    theta[:, 0, 2] = u() * shift_px * 2 / w          # affine_grid works in [-1, 1] units
    theta[:, 1, 2] = u() * shift_px * 2 / h
    theta = theta.to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)       # (B, H, W, 2)
    warped = F.grid_sample(x - BACKGROUND, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped + BACKGROUND


def svc_baseline(data: digits_data.Digits, smoke: bool = False) -> dict:
    """RBF-SVC on the flat normalised pixels, C and gamma chosen by 3-fold CV on the training split."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    grid = {"C": [3.0], "gamma": [0.02]} if smoke else {"C": [1.0, 3.0, 10.0, 30.0],
                                                         "gamma": ["scale", 0.005, 0.01, 0.02, 0.04]}
    t0 = time.perf_counter()
    search = GridSearchCV(SVC(kernel="rbf"), grid, cv=3, n_jobs=1)
    search.fit(data.train.flat(), data.train.labels)
    best = search.best_estimator_
    test_pred = best.predict(data.test.flat())
    return {
        "svc_params": {k: v for k, v in search.best_params_.items()},
        "svc_cv_accuracy": float(search.best_score_),
        "svc_val_accuracy": float((best.predict(data.val.flat()) == data.val.labels).mean()),
        "svc_test_accuracy": float((test_pred == data.test.labels).mean()),
        "svc_test_errors": int((test_pred != data.test.labels).sum()),
        "svc_seconds": time.perf_counter() - t0,
    }


def train_model(recipe: DigitsRecipe, train_set: Dataset, val_loader: DataLoader | None, *, seed: int = 0,
                device: str | torch.device = "auto", step: StepFn = classification_step) -> tuple[DigitsCNN, History]:
    """The recipe's training on any (x, y) dataset: one-cycle AdamW with augmentation, then optional SWA.

    With ``swa_epochs`` the run continues at a constant learning rate ``swa_lr`` and the weights after each
    of those epochs are averaged (stochastic weight averaging), then BatchNorm statistics are recomputed
    on the un-augmented training data: one model that behaves like a small ensemble.
    """
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    gen = seed_everything(seed)
    train_loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True, generator=gen)
    aug_gen = torch.Generator().manual_seed(seed + 1)
    augment = None
    if recipe.rotate_deg or recipe.scale or recipe.shear or recipe.shift_px:
        def augment(x: torch.Tensor) -> torch.Tensor:
            return random_affine(x, recipe.rotate_deg, recipe.scale, recipe.shear, recipe.shift_px, aug_gen)

    model = DigitsCNN(recipe.model)
    history = fit(model, train_loader, val_loader, epochs=recipe.epochs, lr=recipe.lr,
                  weight_decay=recipe.weight_decay, step=step, augment=augment, device=dev, seed=seed,
                  max_seconds=recipe.max_seconds)
    if recipe.swa_epochs:
        from torch.optim.swa_utils import AveragedModel, update_bn

        averaged = AveragedModel(model)
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.swa_lr, weight_decay=recipe.weight_decay)
        for _ in range(recipe.swa_epochs):
            h = fit(model, train_loader, val_loader, epochs=1, optimizer=opt, scheduler=None, step=step,
                    augment=augment, device=dev, seed=None)
            history.epochs.append({**h.epochs[0], "epoch": len(history.epochs) + 1, "swa": True})
            averaged.update_parameters(model)
        update_bn(DataLoader(train_set, batch_size=256), averaged, device=dev)
        model.load_state_dict(averaged.module.state_dict())
        if val_loader is not None:
            history.epochs[-1]["val_accuracy_swa"] = evaluate(model, val_loader, dev)["accuracy"]
    return model.eval(), history


def train_digits(smoke: bool, seed: int = 0, device: str = "auto", *, recipe: DigitsRecipe | None = None,
                 step: StepFn = classification_step, baseline: bool = True
                 ) -> tuple[DigitsCNN, History, dict, dict]:
    """Train the registry's digits model. Returns (model in eval mode, history, metrics, dataset card).

    ``smoke`` uses a tiny model for 2 epochs (every code path, seconds). ``step`` is the optimisation
    step handed to ``fit`` (a learner may pass their own). ``metrics`` holds the test accuracy, the
    SVC baseline measured in the same run (``baseline=True``) and the training seconds.
    """
    recipe = recipe or (SMOKE_RECIPE if smoke else DigitsRecipe())
    dev = resolve_device(device)
    data = digits_data.load(seed)
    train_set = data.train.dataset()
    if recipe.train_on_val:
        train_set = ConcatDataset([train_set, data.val.dataset()])
    val_loader = DataLoader(data.val.dataset(), batch_size=512)
    test_loader = DataLoader(data.test.dataset(), batch_size=512)
    threads_before = torch.get_num_threads()
    if recipe.threads and dev.type == "cpu":
        torch.set_num_threads(recipe.threads)
    threads = torch.get_num_threads()
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        model, history = train_model(recipe, train_set, val_loader, seed=seed, device=dev, step=step)
        train_seconds, train_cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        torch.set_num_threads(threads_before)
    test = evaluate(model, test_loader, dev)
    val = evaluate(model, val_loader, dev)
    test_pred = predict(model, test_loader, dev).argmax(-1).numpy()
    metrics = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_errors": int((test_pred != data.test.labels).sum()),
        "val_accuracy": val["accuracy"],          # seen in training when train_on_val
        "train_seconds": train_seconds,           # wall clock
        "train_cpu_seconds": train_cpu_seconds,   # CPU time of all threads: ≥ wall on an idle machine × threads
        "epochs": len(history.epochs),
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(dev),
        "torch_threads": threads,
        "smoke": bool(smoke),
    }
    if baseline:
        metrics.update(svc_baseline(data, smoke))
        svc_err = 1 - metrics["svc_test_accuracy"]
        metrics["error_ratio_vs_svc"] = (1 - test["accuracy"]) / svc_err if svc_err > 0 else float("inf")
    card = data.card()
    card["recipe"] = recipe.to_dict()
    card["trained_on"] = "train+val" if recipe.train_on_val else "train"
    return model.cpu().eval(), history, metrics, card


def training_card(history: History, metrics: dict, recipe: DigitsRecipe | None = None) -> dict:
    """The ``training`` entry of a registry card."""
    return {"epochs": len(history.epochs), "seconds": metrics["train_seconds"], "device": metrics["device"],
            "parameters": metrics["parameters"], "threads": metrics.get("torch_threads"),
            "recipe": (recipe or DigitsRecipe()).to_dict(),
            "final_train_loss": history.last.get("train_loss")}


REQUIRED_METRICS = ("test_accuracy", "svc_test_accuracy", "train_seconds")


def export_digits(model: nn.Module, metrics: dict, dataset: dict, training: dict,
                  root: str | Path | None = None) -> Path:
    """Save ``model`` to the registry as ``digits`` (a new version; LATEST points at it). Returns its folder.

    Refuses metrics without the test accuracy, the baseline measured in the same run and the training time.
    """
    missing = [k for k in REQUIRED_METRICS if k not in metrics]
    if missing:
        raise ValueError(f"metrics lack {missing}: a card must carry the test accuracy, the baseline and the time")
    return registry.save(model, "digits", metrics=metrics, dataset=dataset, training=training, root=root)


@torch.no_grad()
def digit_response(model: nn.Module, image: np.ndarray) -> dict:
    """What ``POST /v1/models/digits/predict`` answers for a 2-D drawing: ``{"label", "probabilities": [10]}``."""
    model.eval()
    x = digits_data.preprocess_image(image)                                # (1, 1, 8, 8)
    probs = torch.softmax(model(x.to(next(model.parameters()).device)).float()[0], dim=-1).cpu()   # (10,)
    return {"label": int(probs.argmax()), "probabilities": [float(p) for p in probs]}


__all__ = ["REQUIRED_METRICS", "DigitsRecipe", "SMOKE_RECIPE", "digit_response", "export_digits", "random_affine",
           "svc_baseline", "train_digits", "training_card"]
