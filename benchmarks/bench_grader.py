"""Hosted grader: end-to-end latency and throughput against bare ``jupyter nbconvert --execute``.

Uses nbgrader's quickstart assignment (ps1/problem1, solved). Prints, side by side:
bare execution seconds, grader submit→graded p50/p95 over N sequential submissions, the ratio
(goal ≤ 1.25), and throughput with 1 and 2 workers (goal ≥ 1.8× on 2+ free cores).
Environment: BENCH_GRADER_N (50), BENCH_GRADER_BATCH (16).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

BIN = os.path.dirname(sys.executable)


def _env(**extra):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), GRADER_RATE_LIMIT="0",
               GRADER_POLL_SECONDS="0.05")
    env.update(extra)
    return env


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _solved(course: str) -> dict:
    import nbformat

    src = nbformat.read(os.path.join(course, "source", "ps1", "problem1.ipynb"), as_version=4)
    rel = nbformat.read(os.path.join(course, "release", "ps1", "problem1.ipynb"), as_version=4)
    fence = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", flags=re.M)
    sol = {c.metadata["nbgrader"]["grade_id"]: fence.sub("", c.source)
           for c in src.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    for c in rel.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sol:
            c.source = sol[gid]
    return json.loads(nbformat.writes(rel))


class Service:
    def __init__(self, data, workers):
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = [sys.executable, "-m", "grader"]
        self.procs = [subprocess.Popen(base + ["serve", "--data", data, "--port", str(self.port)], env=_env(),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        self.procs += [subprocess.Popen(base + ["worker", "--data", data], env=_env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL) for _ in range(workers)]
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        self.client = httpx.Client(timeout=60)

    def submit(self, tok, raw):
        r = self.client.post(f"{self.url}/api/v1/assignments/ps1/submissions",
                             headers={"Authorization": f"Bearer {tok}"}, files={"file": ("problem1.ipynb", raw)})
        r.raise_for_status()
        return r.json()["id"]

    def wait(self, tok, sid):
        while True:
            s = self.client.get(f"{self.url}/api/v1/submissions/{sid}",
                                headers={"Authorization": f"Bearer {tok}"}).json()
            if s["status"] in ("graded", "failed"):
                return s
            time.sleep(0.02)

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> int:
    n = int(os.environ.get("BENCH_GRADER_N", "50"))
    batch = int(os.environ.get("BENCH_GRADER_BATCH", "16"))
    tmp = tempfile.mkdtemp(prefix="bench-grader-")
    try:
        subprocess.run([os.path.join(BIN, "nbgrader"), "quickstart", "course101"], cwd=tmp, check=True,
                       capture_output=True, env=_env())
        course = os.path.join(tmp, "course101")
        subprocess.run([os.path.join(BIN, "nbgrader"), "generate_assignment", "ps1", "--force"], cwd=course,
                       check=True, capture_output=True, env=_env())
        nb = _solved(course)
        nb_path = os.path.join(tmp, "problem1.ipynb")
        raw = json.dumps(nb).encode()
        with open(nb_path, "wb") as f:
            f.write(raw)
        shutil.copy(os.path.join(course, "release", "ps1", "jupyter.png"), tmp)

        bare = []
        for i in range(5):
            t0 = time.perf_counter()
            subprocess.run([os.path.join(BIN, "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                            "--ExecutePreprocessor.kernel_name=python3", "--output", f"out{i}.ipynb", nb_path],
                           cwd=tmp, check=True, capture_output=True, env=_env())
            bare.append(time.perf_counter() - t0)
        bare_s = statistics.median(bare)

        data = os.path.join(tmp, "data")
        subprocess.run([sys.executable, "-m", "grader", "assignment", "add", os.path.join(course, "source", "ps1"),
                        "--data", data], check=True, capture_output=True, env=_env())
        tok = subprocess.run([sys.executable, "-m", "grader", "roster", "add", "bench", "--data", data],
                             check=True, capture_output=True, text=True, env=_env()).stdout.strip()

        svc = Service(data, 1)
        lat = []
        try:
            svc.wait(tok, svc.submit(tok, raw))  # warm-up
            for _ in range(n):
                t0 = time.perf_counter()
                res = svc.wait(tok, svc.submit(tok, raw))
                lat.append(time.perf_counter() - t0)
                assert res["score"] == 3.0, res
            t0 = time.perf_counter()
            ids = [svc.submit(tok, raw) for _ in range(batch)]
            for sid in ids:
                svc.wait(tok, sid)
            thr1 = batch / (time.perf_counter() - t0)
        finally:
            svc.close()
        svc = Service(data, 2)
        try:
            svc.wait(tok, svc.submit(tok, raw))
            t0 = time.perf_counter()
            ids = [svc.submit(tok, raw) for _ in range(batch)]
            for sid in ids:
                svc.wait(tok, sid)
            thr2 = batch / (time.perf_counter() - t0)
        finally:
            svc.close()

        lat.sort()
        p50 = statistics.median(lat)
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(f"notebook: nbgrader quickstart ps1/problem1 (solved); cores: {os.cpu_count()}")
        print(f"{'bare jupyter nbconvert --execute':<38} {bare_s:7.2f} s  (median of {len(bare)})")
        print(f"{'grader submit→graded p50':<38} {p50:7.2f} s  (n={n}, sequential, 1 worker)")
        print(f"{'grader submit→graded p95':<38} {p95:7.2f} s")
        print(f"{'ratio p50 / bare':<38} {p50 / bare_s:7.2f}    (goal ≤ 1.25)")
        print(f"{'throughput, 1 worker':<38} {thr1:7.2f} /s (batch of {batch})")
        print(f"{'throughput, 2 workers':<38} {thr2:7.2f} /s")
        print(f"{'speed-up 2 vs 1 worker':<38} {thr2 / thr1:7.2f}×   (goal ≥ 1.8× with 2 free cores)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
