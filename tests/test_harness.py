"""The papermill harness: parameters injected, metrics collected, failures name the cell."""

import json

import nbformat
import pytest

from academy import harness

pytestmark = pytest.mark.notebooks


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('SMOKE = False\nSEED = 0\nDEVICE = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setenv("ACADEMY_BUILD", str(tmp_path / "build"))
    return tmp_path / "build"


def test_smoke_parameters_reach_the_notebook_and_metrics_are_collected(tmp_path, build, monkeypatch):
    monkeypatch.delenv("ACADEMY_MODELS", raising=False)
    track = tmp_path / "demo"
    track.mkdir()
    nb = _notebook(track / "01_probe.ipynb", [
        "from academy.runtime import record_metrics\n"
        "import os\n"
        "record_metrics('demo', '01_probe', {'smoke': SMOKE, 'seed': SEED, 'device': DEVICE,\n"
        "                                    'models': os.environ['ACADEMY_MODELS']})",
    ])
    result = harness.run_one(nb, mode="smoke", seed=5, device="cpu")
    assert result.status == "ok", result.error
    smoke_registry = str(build / "smoke-models")   # smoke runs never write the real registry
    assert result.metrics == {"smoke": True, "seed": 5, "device": "cpu", "models": smoke_registry}
    import os
    assert "ACADEMY_MODELS" not in os.environ     # and the caller's environment is left as it was
    executed = nbformat.read(result.output, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_a_failing_notebook_names_the_cell_and_fails_the_command(tmp_path, build):
    track = tmp_path / "demo"
    track.mkdir()
    good = _notebook(track / "01_good.ipynb", ["x = 1"])
    bad = _notebook(track / "02_bad.ipynb", ["x = 1", "raise ValueError('boom in stage two')"])
    results = harness.run_all([good, bad], mode="smoke", log=lambda *_: None)
    by_name = {r.notebook.split("/")[-1]: r for r in results}
    assert by_name["01_good.ipynb"].status == "ok"
    failed = by_name["02_bad.ipynb"]
    assert failed.status == "failed"
    assert "cell 3 of 02_bad.ipynb" in failed.error and "boom in stage two" in failed.error
    summary = json.loads((build / "notebooks" / "summary.json").read_text())
    assert [n["status"] for n in summary["notebooks"]] == ["ok", "failed"]
    assert all(n["seconds"] > 0 for n in summary["notebooks"])
    from academy.cli import main
    assert main(["notebooks", str(bad)]) == 1


def test_discover_finds_staged_notebooks_only(tmp_path):
    (tmp_path / "cnn").mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb", "scratch.ipynb", "3_c.ipynb"):
        (tmp_path / "cnn" / name).write_text("{}")
    assert [p.name for p in harness.discover(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    with pytest.raises(ValueError):
        harness.parameters("fast")
