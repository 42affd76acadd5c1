"""First names by language, from faker's locale providers: offline, de-duplicated, ambiguity counted.

A name like "Anna" is a first name in several locales; as a classification example its label
is ambiguous. ``load(ambiguous="drop")`` (default) leaves such names out and counts them;
``"keep"`` keeps one example per language (irreducible label noise, reported the same way).
"""

from __future__ import annotations

import importlib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from academy.data.vocab import CharVocab

LOCALES = {
    "german": "de_DE", "spanish": "es_ES", "french": "fr_FR", "italian": "it_IT", "dutch": "nl_NL",
    "polish": "pl_PL", "portuguese": "pt_BR", "turkish": "tr_TR", "russian": "ru_RU", "english": "en_US",
}


@lru_cache(maxsize=1)
def raw_names() -> dict[str, tuple[str, ...]]:
    """language → sorted unique first names (NFC-normalised, stripped) from faker's providers."""
    out: dict[str, tuple[str, ...]] = {}
    for language, locale in LOCALES.items():
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        names: set[str] = set()
        for attr in ("first_names", "first_names_male", "first_names_female"):
            names.update(getattr(provider, attr, ()) or ())   # tuples, or OrderedDicts of weights
        out[language] = tuple(sorted({unicodedata.normalize("NFC", n).strip() for n in names} - {""}))
    return out


@dataclass(frozen=True)
class Names:
    """``train``/``test``: lists of (name, language index). ``ambiguous``: name → its languages."""

    languages: tuple[str, ...]
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
    vocab: CharVocab
    ambiguous: dict[str, tuple[str, ...]]
    seed: int

    def summary(self) -> dict:
        return {"languages": len(self.languages), "train": len(self.train), "test": len(self.test),
                "ambiguous_names": len(self.ambiguous), "vocab": len(self.vocab)}


def load(seed: int = 0, test_fraction: float = 0.2, ambiguous: str = "drop") -> Names:
    """Split by language (stratified) with ``seed``; ``ambiguous``: "drop" or "keep"."""
    if ambiguous not in ("drop", "keep"):
        raise ValueError("ambiguous must be 'drop' or 'keep'")
    per_language = raw_names()
    languages = tuple(per_language)
    owners: dict[str, list[str]] = defaultdict(list)
    for language, names in per_language.items():
        for name in names:
            owners[name].append(language)
    shared = {name: tuple(langs) for name, langs in owners.items() if len(langs) > 1}
    rng = np.random.default_rng(seed)
    train: list[tuple[str, int]] = []
    test: list[tuple[str, int]] = []
    for li, language in enumerate(languages):
        names = [n for n in per_language[language] if ambiguous == "keep" or n not in shared]
        order = rng.permutation(len(names))
        n_test = int(round(len(names) * test_fraction))
        test += [(names[i], li) for i in order[:n_test]]
        train += [(names[i], li) for i in order[n_test:]]
    vocab = CharVocab.from_texts(name for name in owners)
    return Names(languages, train, test, vocab, shared, seed)


class NameDataset(Dataset):
    """Items: ((L,) int64 character ids, () int64 language). Pad batches with ``collate``."""

    def __init__(self, pairs: list[tuple[str, int]], vocab: CharVocab):
        self.pairs, self.vocab = pairs, vocab

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        name, label = self.pairs[i]
        return torch.tensor(self.vocab.encode(name)), torch.tensor(label)

    @staticmethod
    def collate(batch):
        """→ ids (B, T) padded with 0, lengths (B,), labels (B,)."""
        seqs, labels = zip(*batch, strict=True)
        lengths = torch.tensor([len(s) for s in seqs])
        ids = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=0)
        return ids, lengths, torch.stack(labels)
