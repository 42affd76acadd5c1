"""``make demo``: build the models if the registry lacks them, start the API and the app, print the URLs.

``python -m app.demo --host H --port P --app-port A``. Stays in the foreground; Ctrl-C stops both.
If the registry has no ``digits`` model, the export notebook(s) ``notebooks/*/*export*.ipynb`` run in
full mode through the library harness (``academy.harness.run_all``) with their output shown live.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from academy import registry
from academy.runtime import REPO_ROOT

REQUIRED = ("digits",)
NOTEBOOKS = REPO_ROOT / "notebooks"


class DemoError(Exception):
    """Something the user must fix; the message says what."""


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on (host, port) (or the address cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(host: str, port: int, app_port: int) -> None:
    if port == app_port:
        raise DemoError(f"PORT and APP_PORT are both {port}: give the app another port (APP_PORT=...)")
    for p, var in ((port, "PORT"), (app_port, "APP_PORT")):
        if port_in_use(host, p):
            raise DemoError(f"port {p} is in use (is the demo already running? stop it or set {var}=...)")


def export_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*/*export*.ipynb"))


def missing_models(root: Path) -> list[str]:
    have = {c["name"] for c in registry.list_cards(root) if "error" not in c}
    return [name for name in REQUIRED if name not in have]


def ensure_models(root: Path, notebooks: list[Path] | None = None, log=print) -> None:
    """Run the export notebooks in full mode when a required model is missing from ``root``."""
    missing = missing_models(root)
    if not missing:
        log(f"models: {', '.join(REQUIRED)} found in {root}")
        return
    paths = export_notebooks() if notebooks is None else list(notebooks)
    if not paths:
        raise DemoError(f"no {', '.join(missing)} model in {root}, and no export notebook to build it "
                        f"(looked for {NOTEBOOKS}/*/*export*.ipynb, e.g. notebooks/cnn/04_export_and_serve.ipynb). "
                        "Add the export notebook, or point ACADEMY_MODELS at a registry that has the model")
    from academy import harness

    log(f"models: {', '.join(missing)} missing from {root}; building with "
        f"{', '.join(str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p) for p in paths)} "
        "in full mode (this takes a few minutes; the notebook's output follows)")
    t0 = time.perf_counter()
    results = harness.run_all(paths, mode="full", log=log)
    failed = [r for r in results if r.status != "ok"]
    if failed:
        raise DemoError("building the models failed: " + "; ".join(f"{r.notebook}: {r.error} (executed copy: "
                                                                   f"{r.output})" for r in failed))
    still = missing_models(root)
    if still:
        raise DemoError(f"the export notebook(s) ran but {root} still has no {', '.join(still)} model: "
                        "check that they call academy.registry.save (see the executed copies in build/notebooks)")
    log(f"models: built in {time.perf_counter() - t0:.0f} s")


def wait_ready(url: str, proc: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the {what} exited with code {proc.returncode} before it was ready (its log is above)")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise DemoError(f"the {what} did not answer {url} within {timeout:.0f} s (its log is above)")


def stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each child's process group, then SIGKILL whatever is left after 10 s."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.demo", description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    p.add_argument("--app-port", type=int, default=int(os.environ.get("APP_PORT", 8501)))
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each service to be ready")
    args = p.parse_args(argv)
    root = registry.default_root()
    local = "127.0.0.1" if args.host in ("0.0.0.0", "", "::") else args.host
    api_url, app_url = f"http://{local}:{args.port}", f"http://{local}:{args.app_port}"
    procs: list[subprocess.Popen] = []

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        check_ports(args.host, args.port, args.app_port)
        ensure_models(root)
        check_ports(args.host, args.port, args.app_port)      # again: building took a while
        env = {**os.environ, "ACADEMY_MODELS": str(root)}
        env.setdefault("API_URL", api_url)          # the app shows what the API answers
        print(f"starting the inference API on {api_url} and the app on {app_url} ...", flush=True)
        common = {"cwd": REPO_ROOT, "env": env, "start_new_session": True}
        procs.append(subprocess.Popen([sys.executable, "-m", "app.api", "--host", args.host, "--port",
                                       str(args.port), "--log-level", "warning"], **common))
        procs.append(subprocess.Popen([sys.executable, "-m", "app.ui", "--host", args.host, "--port",
                                       str(args.app_port)], **common))
        wait_ready(api_url + "/readyz", procs[0], "inference API", args.timeout)
        wait_ready(app_url + "/_stcore/health", procs[1], "Streamlit app", args.timeout)
        print("\n" + "=" * 64, flush=True)
        print(f"  App (Streamlit):   {app_url}")
        print(f"  Inference API:     {api_url}   (OpenAPI docs: {api_url}/docs)")
        print(f"  Models from:       {root}")
        print("  Press Ctrl-C to stop both.")
        print("=" * 64 + "\n", flush=True)
        while True:
            for proc, what in zip(procs, ("inference API", "Streamlit app"), strict=True):
                if proc.poll() is not None:
                    raise DemoError(f"the {what} stopped (exit code {proc.returncode}); stopping the demo")
            time.sleep(0.5)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)          # a second Ctrl-C must not cut the shutdown short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nstopping the API and the app ...", flush=True)
        stop_all(procs)
        print("stopped.", flush=True)
        return 0
    except DemoError as e:
        stop_all(procs)
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
