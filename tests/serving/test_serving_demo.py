"""``make demo`` (app.demo): clear messages for a taken port or a missing model; builds models through
the harness; starts both services, prints the URLs, stops both on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import nbformat
import pytest

from .conftest import REPO, free_port


def test_port_in_use_is_a_clear_error(model_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "app.demo", "--port", str(taken), "--app-port", str(free_port())],
                           cwd=REPO, env=model_env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert f"port {taken} is in use (is the demo already running? stop it or set PORT=...)" in r.stderr
        r = subprocess.run([sys.executable, "-m", "app.demo", "--port", str(free_port()), "--app-port", str(taken)],
                           cwd=REPO, env=model_env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "set APP_PORT=..." in r.stderr


def test_missing_model_without_export_notebook(tmp_path):
    from app.demo import DemoError, ensure_models

    with pytest.raises(DemoError, match=r"no digits model .* no export notebook .*04_export_and_serve"):
        ensure_models(tmp_path, notebooks=[], log=lambda *_: None)


EXPORT_SOURCE = """\
from academy import registry, train
from academy.data import digits
from academy.models import DigitsCNN, DigitsCNNConfig
tr, va, te = digits.loaders(seed=SEED)
model = DigitsCNN(DigitsCNNConfig(channels=(4, 8, 8), hidden=16))
train.fit(model, tr, va, epochs=1, device="cpu", seed=SEED)
registry.save(model, "digits", metrics={"test_accuracy": train.evaluate(model, te, "cpu")["accuracy"]},
              dataset=digits.load(SEED).card(), training={"epochs": 1})
print("exported")
"""


@pytest.mark.slow
def test_missing_model_is_built_by_the_export_notebook(tmp_path, monkeypatch):
    """A stand-in export notebook (not the course's, which trains for minutes) run through the harness."""
    from app.demo import ensure_models

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"},
                                            "language_info": {"name": "python"}})
    params = nbformat.v4.new_code_cell('SMOKE = False\nSEED = 0\nDEVICE = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(EXPORT_SOURCE)]
    path = tmp_path / "nb" / "cnn" / "04_export.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    root = tmp_path / "models"
    monkeypatch.setenv("ACADEMY_MODELS", str(root))
    monkeypatch.setenv("ACADEMY_BUILD", str(tmp_path / "build"))
    lines: list[str] = []
    ensure_models(root, notebooks=[path], log=lines.append)
    assert (root / "digits" / "LATEST").read_text().strip() == "v1"
    assert any("building with" in line for line in lines) and any("built in" in line for line in lines)
    ensure_models(root, notebooks=[], log=lines.append)          # present now: nothing to build
    assert "found in" in lines[-1]


def test_demo_starts_both_prints_urls_and_stops_on_ctrl_c(model_env):
    port, app_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.demo", "--port", str(port), "--app-port", str(app_port)],
                            cwd=REPO, env=model_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("Press Ctrl-C" in line for line in out):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            out.append(line)
        text = "".join(out)
        assert f"http://127.0.0.1:{app_port}" in text and f"http://127.0.0.1:{port}" in text, text
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{app_port}/_stcore/health").text == "ok"
        again = subprocess.run([sys.executable, "-m", "app.demo", "--port", str(port), "--app-port",
                                str(app_port)], cwd=REPO, env=model_env, capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "is the demo already running?" in again.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "stopped." in rest
    for p in (port, app_port):
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))      # both ports are free again: the children are gone
