import subprocess
import sys

from academy import registry
from academy.models import DigitsCNN, DigitsCNNConfig


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "academy", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_datasets_listed():
    out = _run("datasets")
    assert out.returncode == 0
    assert all(name in out.stdout for name in ("digits", "names", "dates", "pydoc_text"))


def test_models_listed_from_the_registry(registry_root):
    empty = _run("models", "--root", str(registry_root))
    assert empty.returncode == 0 and "make models" in empty.stdout
    registry.save(DigitsCNN(DigitsCNNConfig(channels=(2, 2, 2), hidden=4)), "digits",
                  metrics={"test_accuracy": 0.125}, dataset={}, training={}, root=registry_root)
    out = _run("models", "--root", str(registry_root))
    assert out.returncode == 0 and "digits" in out.stdout and "v1" in out.stdout and "0.1250" in out.stdout
