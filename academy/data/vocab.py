"""A character vocabulary shared by the names, dates and pydoc_text datasets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"


@dataclass(frozen=True)
class CharVocab:
    """Maps characters to ids and back. Ids of the special tokens come first, then sorted chars."""

    chars: tuple[str, ...]
    specials: tuple[str, ...] = (PAD, BOS, EOS, UNK)
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = {tok: i for i, tok in enumerate(self.specials)}
        for ch in self.chars:
            table.setdefault(ch, len(table))
        object.__setattr__(self, "stoi", table)

    @classmethod
    def from_texts(cls, texts: Iterable[str], specials: tuple[str, ...] = (PAD, BOS, EOS, UNK)) -> CharVocab:
        return cls(tuple(sorted({ch for text in texts for ch in text})), specials)

    def __len__(self) -> int:
        return len(self.stoi)

    @property
    def itos(self) -> list[str]:
        return list(self.stoi)

    def encode(self, text: str) -> list[int]:
        unk = self.stoi.get(UNK)
        if unk is None:
            missing = sorted({ch for ch in text if ch not in self.stoi})
            if missing:
                raise KeyError(f"characters not in the vocabulary: {missing!r}")
        return [self.stoi.get(ch, unk) for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        itos = self.itos
        return "".join(itos[i] for i in ids if itos[i] not in self.specials)
