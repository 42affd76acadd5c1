"""Run notebooks headless with papermill: smoke or full parameters, in parallel, with a summary.

``python -m academy notebooks [--mode smoke|full] [paths...]`` (what ``make notebooks`` calls).
Each notebook gets ``SMOKE``, ``SEED`` and ``DEVICE`` injected into its ``parameters`` cell and
runs with its own folder as the working directory. Executed copies land in
``build/notebooks/<track>/``; ``build/notebooks/summary.json`` holds per notebook: seconds,
status, the failing cell, and the metrics it recorded under ``build/metrics/<track>/``.
Every notebook is self-contained, so any one can run alone and all can run at once.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from academy.runtime import REPO_ROOT, build_dir

NOTEBOOK_RE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


@dataclass
class NotebookResult:
    notebook: str                 # e.g. "cnn/01_convolution.ipynb"
    status: str                   # "ok" | "failed"
    seconds: float
    output: str                   # executed copy
    metrics: dict = field(default_factory=dict)
    error: str | None = None      # "cell 7 of 02_x.ipynb ('y = f(x)'): ValueError: ..." (1-based, source order)


def discover(root: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Every staged notebook ``notebooks/<track>/NN_slug.ipynb``, in track then stage order."""
    return sorted(p for p in root.glob("*/*.ipynb") if NOTEBOOK_RE.match(p.name))


def parameters(mode: str, seed: int = 0, device: str | None = None) -> dict:
    if mode not in ("smoke", "full"):
        raise ValueError(f"mode must be 'smoke' or 'full', not {mode!r}")
    return {"SMOKE": mode == "smoke", "SEED": seed, "DEVICE": device or os.environ.get("DEVICE", "auto")}


def run_one(path: Path | str, mode: str = "smoke", seed: int = 0, device: str | None = None,
            timeout: int | None = None, out_dir: Path | None = None, stream: bool = False) -> NotebookResult:
    """Execute one notebook; never raises for a notebook error (the result says what failed).

    ``stream`` echoes each cell's output (and the training loop's text progress bars) to stderr
    as it happens, with papermill's cell progress bar: for watching one long run.
    """
    import papermill as pm

    if stream:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")

    path = Path(path).resolve()
    track, stage = path.parent.name, path.stem
    out_dir = Path(out_dir or build_dir() / "notebooks") / track
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    metrics_file = build_dir() / "metrics" / track / f"{stage}.json"
    metrics_file.unlink(missing_ok=True)
    env = {"ACADEMY_PROGRESS": "text", "MPLBACKEND": "Agg"}
    if mode == "smoke":   # smoke runs must never overwrite the real registry
        env["ACADEMY_MODELS"] = str(build_dir() / "smoke-models")
    t0 = time.perf_counter()
    with _environ_defaults(env):
        error = _execute(pm, path, output, parameters(mode, seed, device), timeout, stream)
    seconds = time.perf_counter() - t0
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    rel = path.relative_to(NOTEBOOKS_DIR) if path.is_relative_to(NOTEBOOKS_DIR) else path
    return NotebookResult(str(rel), "failed" if error else "ok", round(seconds, 2), str(output), metrics, error)


@contextmanager
def _environ_defaults(values: dict[str, str]):
    """Set variables the kernel inherits (unless the caller set them) and restore them afterwards."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _execute(pm, path: Path, output: Path, params: dict, timeout: int | None, stream: bool) -> str | None:
    """Run papermill; return None on success or a one-line description of the failure."""
    error = None
    try:
        pm.execute_notebook(str(path), str(output), parameters=params,
                            cwd=str(path.parent), kernel_name="python3", progress_bar=stream,
                            log_output=stream, execution_timeout=timeout)
    except pm.PapermillExecutionError as e:
        # papermill counts the cell it injected after `parameters`; name the cell as the source has it
        number = e.cell_index + 1 - (1 if e.cell_index > _injected_index(output) else 0)
        first_line = (e.source or "").strip().splitlines()[0][:80] if (e.source or "").strip() else ""
        error = f"cell {number} of {path.name} ({first_line!r}): {e.ename}: {e.evalue}"
    except Exception as e:  # kernel died, notebook unreadable, ...: still a result, not a crash
        error = f"{type(e).__name__}: {e}"
    return error


def _injected_index(executed: Path) -> int:
    """Index of papermill's injected-parameters cell in an executed copy (a large number if none)."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return 10**9
    for i, cell in enumerate(cells):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return 10**9


def run_all(paths: list[Path] | None = None, mode: str = "smoke", seed: int = 0, device: str | None = None,
            jobs: int | None = None, log=print, stream: bool | None = None) -> list[NotebookResult]:
    """Run notebooks in parallel (up to the core count), write summary.json, return the results.

    ``stream`` (default: on when only one notebook runs at a time) echoes cell outputs live.
    """
    paths = paths or discover()
    if not paths:
        raise FileNotFoundError(f"no notebooks found under {NOTEBOOKS_DIR}")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths)))
    stream = jobs == 1 if stream is None else stream
    log(f"running {len(paths)} notebook(s) in {mode} mode, {jobs} at a time")
    results: list[NotebookResult] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, p, mode, seed, device, None, None, stream): p for p in paths}
        for fut in as_completed(futures):
            r = fut.result()
            results.append(r)
            mark = "ok " if r.status == "ok" else "FAIL"
            log(f"  [{mark}] {r.notebook:40s} {r.seconds:7.1f} s" + (f"  {r.error}" if r.error else ""))
    results.sort(key=lambda r: r.notebook)
    summary = build_dir() / "notebooks" / "summary.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps({"mode": mode, "seed": seed, "notebooks": [asdict(r) for r in results]},
                                  indent=2, default=float) + "\n")
    log(f"summary: {summary}")
    return results
