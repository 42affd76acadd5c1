"""Helpers for the grader tests: a standard nbgrader quickstart assignment (with a hidden test
and a numpy test added), learner notebooks, and a running grader (API + 2 workers)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import nbformat

VENV_BIN = os.path.dirname(sys.executable)
HIDDEN = "HIDDEN-SECRET-7f3a"          # appears only in hidden tests
HIDDEN_NP = "HIDDEN-SECRET-np-91c2"
TEST_LIMITS = {"wall_seconds": 40, "cell_seconds": 10, "cpu_seconds": 20, "memory_mb": 1024, "processes": 32,
               "output_bytes": 1 << 20, "tmpfs_mb": 64}

NP_SOLUTION = '''import numpy as np

def squares_np(n):
    """squares as a numpy array"""
    ### BEGIN SOLUTION
    return np.arange(1, n + 1) ** 2
    ### END SOLUTION'''
NP_TEST = f'''"""squares_np agrees with numpy"""
np.testing.assert_array_equal(squares_np(3), np.array([1, 4, 9]))
### BEGIN HIDDEN TESTS
np.testing.assert_allclose(squares_np(5), [1, 4, 9, 16, 25], err_msg="{HIDDEN_NP}")
### END HIDDEN TESTS'''
HIDDEN_BLOCK = f'''
### BEGIN HIDDEN TESTS
assert squares(13)[-1] == 169, "{HIDDEN}"
### END HIDDEN TESTS'''


def _env():
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cell(source: str, **nbg) -> nbformat.NotebookNode:
    c = nbformat.v4.new_code_cell(source)
    c.metadata["nbgrader"] = {"schema_version": 3, "locked": nbg.get("locked", False), **nbg}
    return c


def _strip_solution(src: str) -> str:
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", src, flags=re.M)


EXPECTED = {"solved": 4.0, "half": 3.0, "unsolved": 0.0}   # autograded points of problem1


def nb_bytes(nb: dict) -> bytes:
    return json.dumps(nb).encode()


class Grader:
    """A running grader (``python -m grader serve`` + workers) on its own data dir."""

    def __init__(self, data, port, env):
        self.data, self.port, self.env = str(data), port, env
        self.url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = {}

    def cli(self, *args) -> str:
        p = subprocess.run([sys.executable, "-m", "grader", *args, "--data", self.data], env=self.env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def start(self, name, *args):
        log = open(os.path.join(self.data, f"{name}.log"), "ab")
        self.logs[name] = log.name
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "grader", *args, "--data", self.data],
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self.procs[name]

    def start_api(self):
        self.start("api", "serve", "--host", "127.0.0.1", "--port", str(self.port))
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("grader API did not become ready")

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def submit(self, token, content: bytes, filename="problem1.ipynb", assignment="ps1"):
        return httpx.post(f"{self.url}/api/v1/assignments/{assignment}/submissions",
                          headers={"Authorization": f"Bearer {token}"},
                          files={"file": (filename, content, "application/octet-stream")}, timeout=60)

    def get(self, path, token):
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def wait(self, sid, token, timeout=400) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.get(f"/api/v1/submissions/{sid}", token)
            assert r.status_code == 200, r.text
            body = r.json()
            if body["status"] in ("graded", "failed"):
                return body
            time.sleep(0.5)
        raise AssertionError(f"submission {sid} not graded in {timeout} s: {body}")


def make_grader(tmp_path_factory, course, name, extra_env=None, add=True) -> Grader:
    data = tmp_path_factory.mktemp(name)
    env = _env()
    env.update({"GRADER_LIMITS": json.dumps(TEST_LIMITS), "GRADER_RATE_LIMIT": "1000",
                "GRADER_POLL_SECONDS": "0.2", "GRADER_LEASE_SECONDS": "8"})
    env.update(extra_env or {})
    g = Grader(data, free_port(), env)
    if add:
        g.cli("assignment", "add", str(course / "source" / "ps1"))
    return g


def cleanup_dir(path):
    shutil.rmtree(path, ignore_errors=True)
