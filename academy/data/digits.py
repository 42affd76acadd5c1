"""sklearn's 8×8 handwritten digits, split by seed, and the ONE preprocessing used by training and serving.

The original pictures are 32×32 bitmaps whose 4×4 blocks were counted, so each pixel is an
ink count 0–16 and a digit fills the 8 rows top to bottom. ``image_to_ink`` turns any drawing
(any size up to 512×512, 0–255 or 0–1, dark-on-light or light-on-dark) into that same form;
``normalize`` then maps ink counts to the network's input scale. Training calls ``normalize``
on the dataset, the app calls ``preprocess_image`` = ``normalize(image_to_ink(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

SIDE = 8                 # the model sees 8×8 pictures
INK_MAX = 16.0           # sklearn's pixels count ink in 4×4 blocks: 0..16
MEAN, STD = 0.3053, 0.3760   # of ink/16 over all 1797 digits (checked by a test)
MAX_SIDE = 512           # largest drawing the preprocessing accepts
CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DigitsSplit:
    """Arrays of one split. ``images``: (N, 8, 8) ink counts 0–16; ``labels``: (N,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, 8, 8) normalised float32 inputs and (N,) int64 targets."""
        x = torch.from_numpy(normalize(self.images)).unsqueeze(1)
        return x, torch.from_numpy(self.labels)

    def dataset(self) -> TensorDataset:
        return TensorDataset(*self.tensors())

    def flat(self) -> np.ndarray:
        """(N, 64) normalised features, for classical baselines (SVC) on the same scale."""
        return normalize(self.images).reshape(len(self), -1)


@dataclass(frozen=True)
class Digits:
    train: DigitsSplit
    val: DigitsSplit
    test: DigitsSplit
    seed: int

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def card(self) -> dict:
        """The ``dataset`` entry of a model card."""
        return {"name": "digits", "source": "sklearn.datasets.load_digits", "seed": self.seed,
                "sizes": self.sizes(), "split": "stratified train/val/test"}


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def load(seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.25) -> Digits:
    """Stratified train/val/test split of all 1797 digits; the same seed gives the same split."""
    images, labels = _raw()
    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=labels)
    val_size = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(rest, test_size=val_size, random_state=seed, stratify=labels[rest])
    pick = lambda ix: DigitsSplit(images[np.sort(ix)], labels[np.sort(ix)])  # noqa: E731
    return Digits(pick(train), pick(val), pick(test), seed)


def loaders(batch_size: int = 64, seed: int = 0, **split_kwargs) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train (shuffled by a generator seeded with ``seed``), val and test DataLoaders."""
    data = load(seed, **split_kwargs)
    gen = torch.Generator().manual_seed(seed)
    return (
        DataLoader(data.train.dataset(), batch_size=batch_size, shuffle=True, generator=gen),
        DataLoader(data.val.dataset(), batch_size=512),
        DataLoader(data.test.dataset(), batch_size=512),
    )


def normalize(ink: np.ndarray) -> np.ndarray:
    """Ink counts 0–16 (any leading shape, last two 8×8) → zero-mean, unit-ish-variance float32."""
    return ((np.asarray(ink, dtype=np.float32) / INK_MAX - MEAN) / STD).astype(np.float32)


def image_to_ink(image: np.ndarray) -> np.ndarray:
    """Any grayscale drawing → (8, 8) ink counts 0–16, framed the way sklearn's digits are.

    Accepts values 0–255 or 0–1 and either polarity (a light background is inverted). The ink's
    bounding box is centred in a square (the digit fills the height, as in the dataset) and
    area-averaged down to 8×8. Raises ValueError with what to fix for anything else.
    """
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {list(a.shape)}")
    h, w = a.shape
    if h == 0 or w == 0:
        raise ValueError("the image is empty: send at least a 1×1 array")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ValueError(f"image is {h}×{w}; the largest accepted is {MAX_SIDE}×{MAX_SIDE}: downscale it first")
    if not np.isfinite(a).all():
        raise ValueError("the image holds NaN or infinite values: send finite numbers 0–255 or 0–1")
    if a.min() < 0 or a.max() > 255:
        raise ValueError(f"pixel values must lie in 0–255 (or 0–1), got {a.min():g}..{a.max():g}")
    if a.max() > 1.0:
        a = a / 255.0
    if a.mean() > 0.5:          # dark ink on light paper: make ink the bright part, as in the dataset
        a = 1.0 - a
    ys, xs = np.nonzero(a > 0.05)
    if len(ys) == 0:
        return np.zeros((SIDE, SIDE), dtype=np.float32)
    a = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    side = max(a.shape)
    square = np.zeros((side, side))
    # Centre on whole output cells so that an integer upscale of a dataset digit maps back exactly.
    cell = side / SIDE
    top = int(round((side - a.shape[0]) / 2 / cell) * cell)
    left = int(round((side - a.shape[1]) / 2 / cell) * cell)
    top, left = min(top, side - a.shape[0]), min(left, side - a.shape[1])
    square[top: top + a.shape[0], left: left + a.shape[1]] = a
    # Upsample first so the 8×8 area average sees many pixels even for small inputs.
    big = Image.fromarray((square * 255).astype(np.uint8)).resize((SIDE * 8, SIDE * 8), Image.BILINEAR)
    small = np.asarray(big.resize((SIDE, SIDE), Image.BOX), dtype=np.float32) / 255.0
    return np.clip(small * INK_MAX, 0.0, INK_MAX).astype(np.float32)


def preprocess_image(image: np.ndarray) -> torch.Tensor:
    """Drawing → (1, 1, 8, 8) model input; the serving path's single entry point."""
    return torch.from_numpy(normalize(image_to_ink(image))).reshape(1, 1, SIDE, SIDE)
