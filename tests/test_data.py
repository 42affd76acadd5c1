import datetime as dt

import numpy as np
import pytest
import torch

from academy.data import DATASETS, dates, digits, names, pydoc_text
from academy.data.vocab import CharVocab


# --- digits ---------------------------------------------------------------------------------------
def test_digits_split_is_complete_disjoint_stratified_and_seeded():
    a, b, c = digits.load(0), digits.load(0), digits.load(1)
    sizes = a.sizes()
    assert sum(sizes.values()) == 1797 and sizes == {"train": 1167, "val": 180, "test": 450}
    assert np.array_equal(a.test.images, b.test.images) and np.array_equal(a.train.labels, b.train.labels)
    assert not np.array_equal(a.test.images, c.test.images)
    rows = {img.tobytes() for split in (a.train, a.val, a.test) for img in split.images}
    assert len(rows) >= 1790   # sklearn's digits hold a handful of exact duplicate images
    for split in (a.train, a.val, a.test):   # stratified: every class present in proportion
        counts = np.bincount(split.labels, minlength=10) / len(split)
        assert counts.min() > 0.08 and counts.max() < 0.12


def test_digits_tensors_shapes_and_normalisation_constants():
    data = digits.load(0)
    x, y = data.train.tensors()
    assert x.shape == (1167, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    all_ink = digits._raw()[0] / digits.INK_MAX
    assert abs(all_ink.mean() - digits.MEAN) < 1e-3 and abs(all_ink.std() - digits.STD) < 1e-3
    assert data.train.flat().shape == (1167, 64)


def test_digits_loaders_shuffle_reproducibly():
    first = [b[1].tolist() for b in digits.loaders(batch_size=100, seed=3)[0]]
    again = [b[1].tolist() for b in digits.loaders(batch_size=100, seed=3)[0]]
    other = [b[1].tolist() for b in digits.loaders(batch_size=100, seed=4)[0]]
    assert first == again and first != other


def test_preprocessing_maps_an_upscaled_digit_back_to_itself():
    """A dataset digit drawn at 32×32 on a 0–255 scale comes back as (almost) the same 8×8 input.

    Digits that fill all 8 rows map back exactly; the rest are re-framed (scaled to fill the
    height, as a fresh drawing would be), so the check is on the typical error, not every digit.
    """
    errors = []
    for img in digits.load(0).test.images:
        big = np.kron(img / 16.0 * 255.0, np.ones((4, 4)))          # (32, 32), values 0–255
        back = digits.image_to_ink(big)
        assert back.shape == (8, 8) and 0 <= back.min() and back.max() <= 16
        errors.append(np.abs(back - img).mean())
    assert np.median(errors) < 0.5 and np.mean(errors) < 1.5


def test_preprocessing_accepts_dark_ink_on_light_paper_and_0_1_scale():
    img = digits.load(0).test.images[0]
    light = 1.0 - np.kron(img / 16.0, np.ones((10, 10)))            # 0–1, dark ink
    dark = np.kron(img / 16.0, np.ones((10, 10)))
    np.testing.assert_allclose(digits.image_to_ink(light), digits.image_to_ink(dark), atol=0.2)
    t = digits.preprocess_image(dark)
    assert t.shape == (1, 1, 8, 8) and t.dtype == torch.float32
    assert digits.image_to_ink(np.zeros((20, 20))).sum() == 0      # blank canvas: no crash, no ink


@pytest.mark.parametrize("bad, words", [
    (np.zeros((3, 3, 3)), "2-D"), (np.zeros((0, 5)), "empty"), (np.zeros((513, 10)), "512"),
    (np.full((4, 4), np.nan), "NaN"), (np.full((4, 4), 300.0), "0–255"), (np.full((4, 4), -1.0), "0–255"),
])
def test_preprocessing_rejects_bad_images_with_a_clear_message(bad, words):
    with pytest.raises(ValueError, match=words):
        digits.image_to_ink(bad)


# --- names ----------------------------------------------------------------------------------------
def test_names_has_many_languages_no_duplicates_and_counted_ambiguity():
    data = names.load(seed=0)
    assert len(data.languages) >= 8
    pairs = data.train + data.test
    assert len(pairs) == len(set(pairs))
    assert not {n for n, _ in data.train} & {n for n, _ in data.test}
    assert data.ambiguous and all(len(langs) > 1 for langs in data.ambiguous.values())
    assert not {n for n, _ in pairs} & set(data.ambiguous)          # dropped by default
    kept = names.load(seed=0, ambiguous="keep")
    extra = len(kept.train) + len(kept.test) - len(pairs)
    assert extra == sum(len(langs) for langs in data.ambiguous.values())
    assert names.load(seed=0).test == data.test and names.load(seed=1).test != data.test


def test_names_dataset_encodes_and_pads():
    data = names.load()
    ds = names.NameDataset(data.train[:4], data.vocab)
    ids, lengths, labels = names.NameDataset.collate([ds[i] for i in range(4)])
    assert ids.shape == (4, int(lengths.max())) and labels.shape == (4,)
    assert data.vocab.decode(ds[0][0].tolist()) == data.train[0][0]


# --- dates ----------------------------------------------------------------------------------------
def test_dates_are_correct_iso_and_seeded():
    examples = dates.generate(500, seed=7)
    assert examples == dates.generate(500, seed=7) and examples != dates.generate(500, seed=8)
    assert len({e.format for e in examples}) == len(dates.FORMATS)
    for e in examples:
        d = dt.date.fromisoformat(e.iso)
        if e.format == "weekday d month yyyy":
            assert e.text == f"{dates.WEEKDAYS[d.weekday()]} {d.day} {dates.MONTHS[d.month - 1]} {d.year}"
        if e.format == "mm/dd/yyyy":
            assert dt.datetime.strptime(e.text, "%m/%d/%Y").date() == d


def test_dates_known_examples():
    d = dt.date(2025, 3, 3)
    assert dates.FORMATS["weekday d month yyyy"](d) == "monday 3 march 2025"
    assert dates.FORMATS["dd/mm/yy"](d) == "03/03/25"
    assert dates.FORMATS["Mon d, yyyy"](d) == "Mar 3, 2025"
    assert dates.FORMATS["Month dth, yyyy"](dt.date(2025, 3, 22)) == "March 22nd, 2025"


def test_dates_splits_are_disjoint_and_encodable():
    data = dates.load(n_train=2000, n_val=200, n_test=200, seed=0)
    texts = [{e.text for e in s} for s in (data.train, data.val, data.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    src, tgt = dates.DateDataset(data.test, data.source_vocab, data.target_vocab)[0]
    assert tgt.shape == (11,) and data.target_vocab.decode(tgt.tolist()) == data.test[0].iso


# --- pydoc_text -----------------------------------------------------------------------------------
def test_pydoc_text_size_vocab_and_held_out_split():
    data = pydoc_text.load()
    total = len(data.train) + len(data.val)
    assert 300_000 < total < 1_000_000
    assert data.train + data.val == pydoc_text.text()
    ids = data.encode("val")
    assert data.vocab.decode(ids.tolist()) == data.val
    x, y = pydoc_text.CharBlocks(ids, block_size=16)[5]
    assert torch.equal(x[1:], y[:-1])


def test_vocab_rejects_unknown_chars_without_unk():
    vocab = CharVocab.from_texts(["ab"], specials=())
    assert vocab.encode("ba") == [1, 0]
    with pytest.raises(KeyError):
        vocab.encode("abc")


def test_dataset_table_lists_every_loader():
    assert set(DATASETS) == {"digits", "names", "dates", "pydoc_text"}
    assert all(callable(module.load) for module, _ in DATASETS.values())
