import json

import pytest
import torch

from academy import resolve_device
from academy.data import digits
from academy.models import DigitsCNN, DigitsCNNConfig
from academy.train import History, evaluate, fit, predict

SMALL = DigitsCNNConfig(channels=(8, 8, 8), hidden=16)


def _train(seed: int, epochs: int = 2, **kwargs) -> tuple[DigitsCNN, History]:
    torch.manual_seed(seed)
    model = DigitsCNN(SMALL)
    train, val, _ = digits.loaders(batch_size=64, seed=seed)
    return model, fit(model, train, val, epochs=epochs, lr=3e-3, device="cpu", seed=seed, **kwargs)


def test_same_seed_same_metrics_on_cpu():
    _, a = _train(0)
    _, b = _train(0)
    _, c = _train(1)
    assert a.series("train_loss") == b.series("train_loss")
    assert a.series("val_accuracy") == b.series("val_accuracy")
    assert a.series("train_loss") != c.series("train_loss")


def test_fit_learns_digits_and_records_history():
    model, history = _train(0, epochs=4)
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3, 4]
    assert history.series("train_loss")[-1] < history.series("train_loss")[0]
    _, _, test = digits.loaders(seed=0)
    model.train()
    result = evaluate(model, test, "cpu")
    assert model.training                                          # evaluate restores the mode it found
    assert result["n"] == 450 and result["accuracy"] > 0.6          # chance is 0.1
    logits = predict(model, test, "cpu")
    assert logits.shape == (450, 10)
    assert history.seconds > 0


def test_custom_step_and_augment_are_used():
    calls = {"step": 0, "augment": 0}

    def step(model, batch, optimizer):
        calls["step"] += 1
        x, y = batch
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def augment(x):
        calls["augment"] += 1
        return x

    train, _, _ = digits.loaders(batch_size=256, seed=0)
    fit(DigitsCNN(SMALL), train, epochs=1, step=step, augment=augment, device="cpu")
    assert calls == {"step": len(train), "augment": len(train)}


def test_checkpoint_and_restore_best(tmp_path):
    model, history = _train(0, epochs=3, checkpoint_dir=tmp_path, restore_best=True)
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "best.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert json.loads((tmp_path / "history.json").read_text())["best_epoch"] == history.best_epoch
    best = max(history.series("val_accuracy"))
    assert history.epochs[history.best_epoch - 1]["val_accuracy"] == best


def test_bad_arguments_are_refused():
    train, _, _ = digits.loaders(seed=0)
    with pytest.raises(ValueError, match="epochs"):
        fit(DigitsCNN(SMALL), train, epochs=0)
    with pytest.raises(ValueError, match="scheduler"):
        fit(DigitsCNN(SMALL), train, epochs=1, scheduler="cosine-ish")


def test_device_choice(monkeypatch):
    monkeypatch.delenv("DEVICE", raising=False)
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    monkeypatch.setenv("DEVICE", "cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")
