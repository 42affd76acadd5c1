"""The English text of the stdlib's ``pydoc_data.topics`` (~465k characters) for char-level LMs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch.utils.data import Dataset

from academy.data.vocab import CharVocab


@lru_cache(maxsize=1)
def text() -> str:
    """All topics, in sorted key order, separated by blank lines (deterministic across runs)."""
    from pydoc_data.topics import topics
    return "\n\n".join(topics[key].strip() for key in sorted(topics)) + "\n"


@dataclass(frozen=True)
class PydocText:
    train: str
    val: str
    vocab: CharVocab

    def encode(self, split: str) -> torch.Tensor:
        """(N,) int64 ids of a split."""
        return torch.tensor(self.vocab.encode(getattr(self, split)), dtype=torch.long)


def load(val_fraction: float = 0.1) -> PydocText:
    """The last ``val_fraction`` of the text is held out (contiguous, so no leakage by overlap)."""
    full = text()
    cut = int(len(full) * (1 - val_fraction))
    return PydocText(full[:cut], full[cut:], CharVocab.from_texts([full], specials=()))


class CharBlocks(Dataset):
    """Items: (x, y), each (block_size,) ids; y is x shifted by one character."""

    def __init__(self, ids: torch.Tensor, block_size: int = 128):
        if len(ids) <= block_size:
            raise ValueError(f"text of {len(ids)} ids is too short for block_size={block_size}")
        self.ids, self.block_size = ids, block_size

    def __len__(self) -> int:
        return len(self.ids) - self.block_size

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.ids[i: i + self.block_size + 1]
        return chunk[:-1], chunk[1:]
