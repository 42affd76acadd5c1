import json

import pytest
import torch

from academy import registry
from academy.models import DigitsCNN, DigitsCNNConfig

CONFIG = DigitsCNNConfig(channels=(4, 8, 8), hidden=8)


def _save(root, **kwargs):
    torch.manual_seed(0)
    model = DigitsCNN(CONFIG)
    folder = registry.save(model, "digits", metrics={"test_accuracy": 0.5, "svc_test_accuracy": 0.4},
                           dataset={"name": "digits", "seed": 0}, training={"epochs": 1}, root=root, **kwargs)
    return model, folder


def test_save_load_round_trip_and_card(registry_root):
    model, folder = _save(registry_root)
    assert folder == registry_root / "digits" / "v1"
    assert (registry_root / "digits" / "LATEST").read_text().strip() == "v1"
    loaded, card = registry.load("digits")       # default root from ACADEMY_MODELS
    x = torch.randn(5, 1, 8, 8)
    model.eval()
    assert torch.equal(model(x), loaded(x)) and not loaded.training
    for key in registry.CARD_KEYS:
        assert key in card
    assert card["architecture"] == "digits_cnn" and card["config"]["channels"] == [4, 8, 8]
    assert card["versions"]["torch"] == torch.__version__


def test_versions_increment_and_latest_moves(registry_root):
    _save(registry_root)
    _save(registry_root)
    assert registry.versions("digits") == ["v1", "v2"]
    assert registry.read_card("digits")["version"] == "v2"
    assert registry.read_card("digits", "v1")["version"] == "v1"
    assert [c["name"] for c in registry.list_cards()] == ["digits"]


def test_missing_model_says_how_to_build_it(registry_root):
    with pytest.raises(registry.RegistryError, match="make models"):
        registry.load("digits")


@pytest.mark.parametrize("edit, words", [
    (lambda c: c.update(architecture="os.system"), "unknown architecture"),
    (lambda c: c["config"].update(channels=[4, 8, 16]), "does not fit"),
    (lambda c: c["config"].update(__class__="x"), "unknown config keys"),
    (lambda c: c["config"].update(hidden="8"), "must be an integer"),
    (lambda c: c["config"].update(dropout=2.0), "dropout"),
    (lambda c: c.update(version="v9"), "moved or edited"),
    (lambda c: c.pop("metrics"), "lacks"),
    (lambda c: c.update(weights_sha256="0" * 64), "SHA-256"),
])
def test_tampered_card_is_refused_naming_the_file(registry_root, edit, words):
    _, folder = _save(registry_root)
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))
    with pytest.raises(registry.RegistryError, match=words) as err:
        registry.load("digits")
    assert str(folder) in str(err.value)


def test_card_that_is_not_json(registry_root):
    _, folder = _save(registry_root)
    (folder / "card.json").write_text("{not json")
    with pytest.raises(registry.RegistryError, match="not valid JSON"):
        registry.load("digits")


def test_truncated_weights_are_refused(registry_root):
    _, folder = _save(registry_root)
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(registry.RegistryError, match="weights.safetensors"):
        registry.load("digits")
    card = json.loads((folder / "card.json").read_text())   # also without the checksum to lean on
    card.pop("weights_sha256")
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(registry.RegistryError, match="not a readable safetensors file"):
        registry.load("digits")


def test_pickle_is_never_loaded(registry_root):
    """A weights file replaced by a torch.save pickle is refused, not unpickled."""
    _, folder = _save(registry_root)
    card = json.loads((folder / "card.json").read_text())
    card.pop("weights_sha256")
    (folder / "card.json").write_text(json.dumps(card))
    torch.save({"x": torch.zeros(1)}, folder / "weights.safetensors")
    with pytest.raises(registry.RegistryError):
        registry.load("digits")


def test_missing_weights_and_bad_names(registry_root):
    _, folder = _save(registry_root)
    (folder / "weights.safetensors").unlink()
    with pytest.raises(registry.RegistryError, match="missing"):
        registry.load("digits")
    with pytest.raises(registry.RegistryError, match="not allowed"):
        registry.load("../etc")
    (registry_root / "digits" / "LATEST").write_text("../../x")
    with pytest.raises(registry.RegistryError, match="not of the form"):
        registry.load("digits")


def test_list_cards_reports_broken_entries(registry_root):
    _save(registry_root)
    (registry_root / "names").mkdir()
    cards = {c["name"]: c for c in registry.list_cards()}
    assert "error" in cards["names"] and "error" not in cards["digits"]
