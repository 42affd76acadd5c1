"""academy.recipes in smoke mode: the shared training recipe, export and the API answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from academy import recipes, registry
from academy.data import digits
from academy.models import DigitsCNN, DigitsCNNConfig


@pytest.fixture(scope="module")
def smoke_run():
    torch.set_num_threads(1)
    return recipes.train_digits(True, seed=0, device="cpu")


def test_smoke_recipe_trains_and_reports(smoke_run):
    model, history, metrics, card = smoke_run
    assert isinstance(model, DigitsCNN) and not model.training
    assert len(history.epochs) == recipes.SMOKE_RECIPE.epochs + recipes.SMOKE_RECIPE.swa_epochs
    for key in ("test_accuracy", "svc_test_accuracy", "train_seconds", "test_errors", "svc_params",
                "error_ratio_vs_svc"):
        assert key in metrics
    assert metrics["test_accuracy"] > 0.2          # 2 tiny epochs: well above chance
    assert metrics["svc_test_accuracy"] > 0.95
    assert card["name"] == "digits" and card["sizes"] == {"train": 1167, "val": 180, "test": 450}
    assert metrics["train_seconds"] < 30


def test_smoke_recipe_is_repeatable(smoke_run):
    _, history, metrics, _ = smoke_run
    _, history2, metrics2, _ = recipes.train_digits(True, seed=0, device="cpu", baseline=False)
    assert history2.series("train_loss") == history.series("train_loss")
    assert metrics2["test_accuracy"] == metrics["test_accuracy"]


def test_random_affine_keeps_shape_and_background():
    x, _ = digits.load(0).train.tensors()
    gen = torch.Generator().manual_seed(0)
    y = recipes.random_affine(x[:16], generator=gen)
    assert y.shape == (16, 1, 8, 8) and torch.isfinite(y).all()
    blank = torch.full((2, 1, 8, 8), recipes.BACKGROUND)
    assert torch.allclose(recipes.random_affine(blank, generator=gen), blank, atol=1e-5)
    assert torch.allclose(recipes.random_affine(x[:4], 0, 0, 0, 0), x[:4], atol=1e-5)   # identity warp


def test_export_load_and_api_answer(smoke_run, tmp_path):
    model, history, metrics, card = smoke_run
    folder = recipes.export_digits(model, metrics, card, recipes.training_card(history, metrics), root=tmp_path)
    loaded, saved = registry.load("digits", root=tmp_path)
    assert saved["version"] == folder.name == "v1"
    assert saved["metrics"]["svc_test_accuracy"] == metrics["svc_test_accuracy"]
    x, _ = digits.load(0).test.tensors()
    with torch.no_grad():
        assert torch.equal(loaded(x[:32]), model(x[:32]))
    drawing = np.full((48, 40), 255.0)
    drawing[8:40, 18:24] = 0.0
    answer = recipes.digit_response(loaded, drawing)
    assert set(answer) == {"label", "probabilities"} and len(answer["probabilities"]) == 10
    assert abs(sum(answer["probabilities"]) - 1) < 1e-5 and answer["label"] == int(np.argmax(answer["probabilities"]))
    with pytest.raises(ValueError, match="svc_test_accuracy"):
        recipes.export_digits(model, {"test_accuracy": 1.0, "train_seconds": 1.0}, card, {}, root=tmp_path)


def test_first_conv_and_feature_maps_kept():
    model = DigitsCNN(DigitsCNNConfig())
    assert model.first_conv.weight.shape == (32, 1, 3, 3)
    assert model.feature_maps(torch.zeros(2, 1, 8, 8)).shape == (2, 32, 8, 8)
