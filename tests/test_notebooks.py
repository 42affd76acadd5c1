"""Every notebook under notebooks/ runs in smoke mode through the same harness as `make notebooks`.

One test per notebook, discovered, so a new notebook is tested without touching this file.
"""

import pytest

from academy import harness

NOTEBOOKS = harness.discover()


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("ACADEMY_MODELS", str(tmp_path / "models"))   # never touch the real registry
    result = harness.run_one(path, mode="smoke")
    assert result.status == "ok", f"{result.notebook} failed at {result.error}; executed copy: {result.output}"
    assert result.metrics, f"{result.notebook} recorded no metrics (academy.runtime.record_metrics)"


def test_notebooks_exist_and_are_committed_clean():
    import nbformat

    assert NOTEBOOKS, "no notebooks found under notebooks/"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first_code.metadata.get("tags", []), f"{path}: first code cell must be tagged"
        for name in ("SMOKE", "SEED", "DEVICE"):
            assert name in first_code.source, f"{path}: parameters cell lacks {name}"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path}: commit notebooks clean"
