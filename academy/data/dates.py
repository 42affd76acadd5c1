"""Human-readable dates in many formats → ISO 8601, generated from a seed (a seq2seq toy task).

Months and weekdays are spelled in English by this module, not by the locale, so the data
is the same on every machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from academy.data.vocab import CharVocab

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FIRST, LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


FORMATS: dict[str, Callable[[dt.date], str]] = {
    "weekday d month yyyy": lambda d: f"{WEEKDAYS[d.weekday()]} {d.day} {_month(d)} {d.year}",
    "Weekday, Month d, yyyy": lambda d: f"{WEEKDAYS[d.weekday()].title()}, {_month(d).title()} {d.day}, {d.year}",
    "dd/mm/yy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
    "mm/dd/yyyy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "Mon d, yyyy": lambda d: f"{_month(d)[:3].title()} {d.day}, {d.year}",
    "d Mon yyyy": lambda d: f"{d.day} {_month(d)[:3].title()} {d.year}",
    "dd-MON-yyyy": lambda d: f"{d.day:02d}-{_month(d)[:3].upper()}-{d.year}",
    "Month dth, yyyy": lambda d: f"{_month(d).title()} {_ordinal(d.day)}, {d.year}",
    "the dth of month yyyy": lambda d: f"the {_ordinal(d.day)} of {_month(d)} {d.year}",
    "d.m.yyyy": lambda d: f"{d.day}.{d.month}.{d.year}",
    "yyyymmdd": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    "MONTH D YYYY": lambda d: f"{_month(d).upper()} {d.day} {d.year}",
}


@dataclass(frozen=True)
class DateExample:
    text: str     # e.g. "tuesday 3 march 2026"
    iso: str      # e.g. "2026-03-03"
    format: str   # a key of FORMATS


def generate(n: int, seed: int = 0, formats: tuple[str, ...] | None = None) -> list[DateExample]:
    """``n`` random dates in 1950–2049, each written in a random format. Note "dd/mm/yy" loses
    the century: its ISO target assumes 1950–2049, which is exactly the sampled range."""
    rng = np.random.default_rng(seed)
    names = formats or tuple(FORMATS)
    unknown = set(names) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown date formats {sorted(unknown)}; choose from {list(FORMATS)}")
    span = (LAST - FIRST).days + 1
    days = rng.integers(0, span, size=n)
    picks = rng.integers(0, len(names), size=n)
    out = []
    for day, pick in zip(days, picks, strict=True):
        d = FIRST + dt.timedelta(days=int(day))
        out.append(DateExample(FORMATS[names[pick]](d), d.isoformat(), names[pick]))
    return out


def parse_iso(text: str) -> dt.date:
    """The inverse check: a model's ISO output must parse back to a real date."""
    return dt.date.fromisoformat(text)


@dataclass(frozen=True)
class Dates:
    train: list[DateExample]
    val: list[DateExample]
    test: list[DateExample]
    source_vocab: CharVocab
    target_vocab: CharVocab
    seed: int


def load(n_train: int = 20000, n_val: int = 1000, n_test: int = 1000, seed: int = 0) -> Dates:
    """Disjoint splits (no date string appears in two splits) from one seeded stream."""
    pool = generate(2 * (n_train + n_val + n_test), seed)
    seen: set[str] = set()
    unique = []
    for ex in pool:
        if ex.text not in seen:
            seen.add(ex.text)
            unique.append(ex)
    if len(unique) < n_train + n_val + n_test:
        raise ValueError("asked for more distinct dates than the generator produced; lower the sizes")
    train = unique[:n_train]
    val = unique[n_train:n_train + n_val]
    test = unique[n_train + n_val:n_train + n_val + n_test]
    every_text = [s for f in FORMATS.values() for s in (f(dt.date(2000, m, 28)) for m in range(1, 13))]
    source_vocab = CharVocab.from_texts([e.text for e in unique] + every_text)
    target_vocab = CharVocab.from_texts(["0123456789-"])
    return Dates(train, val, test, source_vocab, target_vocab, seed)


class DateDataset(Dataset):
    """Items: ((S,) source ids, (11,) target ids = <bos> + 10 ISO characters)."""

    def __init__(self, examples: list[DateExample], source_vocab: CharVocab, target_vocab: CharVocab):
        self.examples, self.src, self.tgt = examples, source_vocab, target_vocab

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ex = self.examples[i]
        bos = self.tgt.stoi["<bos>"]
        return torch.tensor(self.src.encode(ex.text)), torch.tensor([bos, *self.tgt.encode(ex.iso)])
