"""Serving latency: ``POST /v1/models/digits/predict`` beside the same server's no-op endpoint.

One uvicorn server (``python -m app.api``, a subprocess on 127.0.0.1), one client (keep-alive
``http.client`` connections, one per client thread), 1 and 16 concurrent clients, a fixed number of
requests each. The no-op (``POST /v1/noop``) gets the same body, so the ratio is the cost of
validation + preprocessing + the model. Goal: predict's p50 ≤ 1.5× the no-op's.

Uses the registry's ``digits`` model (``ACADEMY_MODELS``); if there is none, trains a small one
into a temporary registry first (a few seconds). Run: ``python -m benchmarks bench_serving``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL = 1.5
REQUESTS = {1: 800, 16: 1600}        # total requests per (endpoint, concurrency)
ROUNDS = 4                            # no-op and predict alternate in rounds: both see the same machine load
WARMUP = 100


def _train_small(root: Path) -> None:
    from academy import registry, train
    from academy.data import digits
    from academy.models import DigitsCNN

    os.environ.setdefault("ACADEMY_PROGRESS", "off")
    tr, va, te = digits.loaders(seed=0)
    model = DigitsCNN()                                   # the course's default size
    t0 = time.perf_counter()
    train.fit(model, tr, va, epochs=3, device="cpu", seed=0)
    registry.save(model, "digits", root=root, metrics={"test_accuracy": train.evaluate(model, te, "cpu")["accuracy"]},
                  dataset=digits.load(0).card(),
                  training={"epochs": 3, "seconds": round(time.perf_counter() - t0, 1), "device": "cpu",
                            "note": "trained by benchmarks/bench_serving.py"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _body() -> bytes:
    """A 28×28 drawing of a '7' as JSON integers (~2.4 kB): what a typical API client sends."""
    img = np.zeros((28, 28), dtype=int)
    img[5:8, 6:22] = 255
    for r in range(8, 24):
        c = 21 - (r - 8) // 2
        img[r, c - 1:c + 2] = 255
    return json.dumps({"image": img.tolist()}).encode()


def _round(port: int, path: str, body: bytes, clients: int, total: int) -> tuple[list[float], float, int]:
    """``total`` requests from ``clients`` threads → (latencies in s, wall seconds, non-200 answers)."""
    per_client = max(1, total // clients)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    headers = {"Content-Type": "application/json"}

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(WARMUP // clients + 1):
            conn.request("POST", path, body, headers)
            conn.getresponse().read()
        start.wait()
        lat = latencies[k]
        for _ in range(per_client):
            t0 = time.perf_counter()
            conn.request("POST", path, body, headers)
            r = conn.getresponse()
            r.read()
            lat.append(time.perf_counter() - t0)
            errors[k] += r.status != 200
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return [x for per in latencies for x in per], time.perf_counter() - t0, sum(errors)


def _compare(port: int, paths: tuple[str, ...], body: bytes, clients: int, total: int) -> dict[str, dict]:
    """Each path gets ``total`` requests, in ROUNDS alternating rounds; p50/p99 over all, req/s = n / wall."""
    acc = {p: {"lat": [], "wall": 0.0, "errors": 0} for p in paths}
    for _ in range(ROUNDS):
        for path in paths:
            lat, wall, errors = _round(port, path, body, clients, total // ROUNDS)
            acc[path]["lat"] += lat
            acc[path]["wall"] += wall
            acc[path]["errors"] += errors
    out = {}
    for path, a in acc.items():
        ms = np.array(a["lat"]) * 1000
        out[path] = {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
                     "rps": len(ms) / a["wall"], "n": len(ms), "errors": a["errors"]}
    return out


def _breakdown(root: Path, body: bytes, n: int = 400) -> dict[str, float]:
    """Median µs of each serving step, in this process (no HTTP): where predict's extra time goes."""
    import torch

    from app.serving import ModelServer

    torch.set_num_threads(1)
    served = ModelServer(root, pins={}).load().get("digits")
    inputs = served.handler.parse(body)

    def median_us(fn) -> float:
        for _ in range(30):
            fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times) * 1e6)

    def forward():
        with torch.inference_mode():
            served.runtime(inputs.x)

    return {"validate + preprocess (pydantic, image_to_ink)": median_us(lambda: served.handler.parse(body)),
            "model forward (BatchNorm folded)": median_us(forward),
            "predict total (parse, lock, forward, softmax, top-3)": median_us(lambda: served.predict(body))}


def main() -> int:
    from academy import registry

    tmp = None
    root = registry.default_root()
    if not (root / "digits" / "LATEST").is_file():
        tmp = tempfile.TemporaryDirectory(prefix="bench-serving-")
        root = Path(tmp.name)
        print(f"no digits model in {registry.default_root()}: training a small one into {root} ...", flush=True)
        _train_small(root)
    card = registry.read_card("digits", None, root)
    port = _free_port()
    env = {**os.environ, "ACADEMY_MODELS": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("ACADEMY_PIN", None)
    server = subprocess.Popen([sys.executable, "-m", "app.api", "--host", "127.0.0.1", "--port", str(port),
                               "--log-level", "warning"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print("the API did not start:\n" + (server.stderr.read() if server.poll() is not None else ""))
                return 1
            time.sleep(0.2)
        body = _body()
        print(f"model digits {card['version']} (channels {card['config'].get('channels')}), body {len(body)} bytes, "
              f"server: 1 uvicorn worker, torch threads {os.environ.get('ACADEMY_TORCH_THREADS', '1')}, "
              f"CPUs {os.cpu_count()}", flush=True)
        rows = []
        for clients in (1, 16):
            res = _compare(port, ("/v1/noop", "/v1/models/digits/predict"), body, clients, REQUESTS[clients])
            rows.append((clients, res["/v1/noop"], res["/v1/models/digits/predict"]))
        status = 0
        print(f"\n{'clients':>7} {'endpoint':<28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50 ×noop':>10} "
              f"{'goal':>6}")
        for clients, noop, pred in rows:
            ratio = pred["p50"] / noop["p50"]
            ok = ratio <= GOAL and pred["errors"] == 0 and noop["errors"] == 0
            status |= int(pred["errors"] + noop["errors"] > 0)   # timings are a figure, not a gate (shared CPUs)
            print(f"{clients:>7} {'POST /v1/noop':<28} {noop['p50']:>8.2f} {noop['p99']:>8.2f} {noop['rps']:>8.0f} "
                  f"{'1.00':>10} {'':>6}")
            print(f"{clients:>7} {'POST /v1/models/digits/predict':<28} {pred['p50']:>8.2f} {pred['p99']:>8.2f} "
                  f"{pred['rps']:>8.0f} {ratio:>10.2f} {('ok' if ok else 'MISS'):>6}")
        print(f"\ngoal: predict p50 ≤ {GOAL}× the no-op's p50 on the same server and client "
              f"(errors: {sum(r[1]['errors'] + r[2]['errors'] for r in rows)})")
        print("\nin-process breakdown (median µs, no HTTP):")
        for step, us in _breakdown(root, body).items():
            print(f"  {step:<55} {us:8.0f}")
        return status
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
