"""Fixtures of the serving tests: a small real DigitsCNN trained in seconds, saved in a tmp registry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.demo import DemoError, wait_ready

REPO = Path(__file__).resolve().parents[2]


def train_small_registry(root: Path, epochs: int = 4) -> dict:
    """Train a narrow DigitsCNN on the real digits for a few epochs and save it as ``digits`` (v1)."""
    import time as _time

    import torch

    from academy import registry, train
    from academy.data import digits
    from academy.models import DigitsCNN, DigitsCNNConfig

    torch.set_num_threads(1)
    t0 = _time.perf_counter()
    train_loader, val_loader, test_loader = digits.loaders(batch_size=64, seed=0)
    model = DigitsCNN(DigitsCNNConfig(channels=(8, 16, 32), hidden=32, dropout=0.1))
    os.environ.setdefault("ACADEMY_PROGRESS", "off")
    history = train.fit(model, train_loader, val_loader, epochs=epochs, lr=3e-3, device="cpu", seed=0)
    test = train.evaluate(model, test_loader, "cpu")
    data = digits.load(0)
    registry.save(model, "digits", root=root,
                  metrics={"test_accuracy": test["accuracy"], "val_accuracy": history.last["val_accuracy"],
                           "svc_test_accuracy": 0.98, "majority_baseline_accuracy": 0.1},
                  dataset=data.card(),
                  training={"epochs": epochs, "seconds": round(_time.perf_counter() - t0, 2), "device": "cpu",
                            "parameters": sum(p.numel() for p in model.parameters()), "lr": 3e-3})
    return {"accuracy": test["accuracy"]}


@pytest.fixture(scope="session")
def served_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    info = train_small_registry(root)
    assert info["accuracy"] > 0.8, info
    return root


@pytest.fixture(scope="session")
def model_env(served_root) -> dict:
    """Environment for subprocesses: the tmp registry, no pin, quiet progress."""
    env = {**os.environ, "ACADEMY_MODELS": str(served_root), "ACADEMY_PROGRESS": "off", "PYTHONUNBUFFERED": "1"}
    env.pop("ACADEMY_PIN", None)
    env.pop("API_URL", None)
    return env


@pytest.fixture(scope="session")
def server(served_root):
    from app.serving import ModelServer

    return ModelServer(served_root, pins={}).load()


@pytest.fixture(scope="session")
def client(server):
    from fastapi.testclient import TestClient

    from app.api import create_app

    with TestClient(create_app(server), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def test_digits():
    """(images as 64×64 arrays 0–255, labels) of a few test-split digits: what a user might draw."""
    from academy.data import digits

    data = digits.load(0)
    images = [np.kron(np.clip(im * 16, 0, 255), np.ones((8, 8))) for im in data.test.images[:20]]
    return images, [int(y) for y in data.test.labels[:20]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """app.demo's readiness wait, with the process's output in the error (a test has no log above)."""
    try:
        wait_ready(url, proc, "server", timeout)
    except DemoError as e:
        out = proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
        raise RuntimeError(f"{e}\n{out}") from e


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def api_url(model_env):
    """The real API (``python -m app.api``) as a subprocess on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.api", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=REPO, env=model_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", proc)
        yield url
    finally:
        stop(proc)
