"""Offline datasets: everything comes from installed packages or a seeded generator."""

from academy.data import dates, digits, names, pydoc_text
from academy.data.vocab import CharVocab

# name → (module, one line that says what it is); `python -m academy datasets` prints this table.
DATASETS = {
    "digits": (digits, "sklearn's 1797 handwritten digits, 8×8 ink counts 0–16, 10 classes"),
    "names": (names, "first names of 10 languages from faker's locales, char-level classification"),
    "dates": (dates, "human-readable dates in 12 formats → ISO 8601, seeded generator"),
    "pydoc_text": (pydoc_text, "the stdlib's pydoc_data topics, ~465k chars for char-level LMs"),
}

__all__ = ["DATASETS", "CharVocab", "dates", "digits", "names", "pydoc_text"]
