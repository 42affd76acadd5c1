"""nbgrader round trips of the `cnn` assignment, in a temporary copy of the course (never the repo's course/).

One autograde run grades three learners: ``solved`` (the source itself) must get full marks, ``blank``
(the released version, solutions stripped) must get 0 with every non-test cell running cleanly, and
``half`` (some exercises solved) must get exactly the points of the parts it solved.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NOTEBOOKS = sorted((REPO / "notebooks" / "cnn").glob("[0-9][0-9]_*.ipynb"))
HALF_SOLVED = {"output_size", "conv_backward", "maxpool", "api_response"}   # solution cells the 'half' learner wrote

pytestmark = pytest.mark.slow


def nbgrader(course: Path, env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_of(test_id: str, solution_ids: set[str]) -> str:
    """Test cells are named ``test_<solution id>_<what>``: the exercise each one grades."""
    owners = [s for s in solution_ids if test_id.startswith(f"test_{s}_")]
    assert len(owners) == 1, f"{test_id} must name exactly one solution cell, found {owners}"
    return owners[0]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("course")
    course, source = root / "course", root / "notebooks" / "cnn"
    course.mkdir()
    source.mkdir(parents=True)
    shutil.copy(REPO / "course" / "nbgrader_config.py", course)
    for nb in NOTEBOOKS:
        shutil.copy(nb, source)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "ACADEMY_NOTEBOOKS": str(root / "notebooks"), "ACADEMY_SMOKE": "1", "ACADEMY_PROGRESS": "off",
           "ACADEMY_MODELS": str(root / "models"), "ACADEMY_BUILD": str(root / "build"), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    nbgrader(course, env, "generate_assignment", "cnn", "--force")
    release = course / "release" / "cnn"
    assert sorted(p.name for p in release.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]

    solution_ids: dict[str, set[str]] = {}
    for nb_path in NOTEBOOKS:
        src = nbformat.read(nb_path, as_version=4)
        rel = nbformat.read(release / nb_path.name, as_version=4)
        src_cells = {nbgrader_meta(c).get("grade_id"): c for c in src.cells if nbgrader_meta(c).get("solution")}
        solution_ids[nb_path.stem] = set(src_cells)
        half = nbformat.from_dict(json.loads(json.dumps(rel)))
        for cell in half.cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if nbgrader_meta(cell).get("solution") and gid in HALF_SOLVED:
                cell.source = src_cells[gid].source
        for learner, notebook in (("solved", src), ("blank", rel), ("half", half)):
            folder = course / "submitted" / learner / "cnn"
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, folder / nb_path.name)
    nbgrader(course, env, "autograde", "cnn", "--create", "--force")

    from nbgrader.api import Gradebook

    scores: dict = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for learner in ("solved", "blank", "half"):
            for nb_path in NOTEBOOKS:
                sub = gb.find_submission_notebook(nb_path.stem, "cnn", learner)
                for grade in sub.grades:
                    scores[learner, nb_path.stem, grade.name] = (grade.score, grade.max_score)
    return {"course": course, "scores": scores, "solution_ids": solution_ids}


def test_solved_source_gets_full_marks(graded):
    scores = {k: v for k, v in graded["scores"].items() if k[0] == "solved"}
    assert len(scores) >= 20
    lost = {k: v for k, v in scores.items() if v[0] != v[1]}
    assert not lost, f"the solved source lost points: {lost}"
    points = sum(nbgrader_meta(c).get("points", 0) for nb in NOTEBOOKS for c in nbformat.read(nb, as_version=4).cells
                 if nbgrader_meta(c).get("grade"))
    assert sum(v[1] for v in scores.values()) == points > 0


def test_released_version_scores_zero_and_runs_cleanly(graded):
    scores = {k: v for k, v in graded["scores"].items() if k[0] == "blank"}
    assert scores and all(score == 0 for score, _ in scores.values()), scores
    for nb_path in NOTEBOOKS:
        executed = nbformat.read(graded["course"] / "autograded" / "blank" / "cnn" / nb_path.name, as_version=4)
        text = "\n".join(c.source for c in executed.cells)
        assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" in text  # hidden tests re-inserted
        for cell in executed.cells:
            if cell.cell_type != "code" or nbgrader_meta(cell).get("grade"):
                continue
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            assert not errors, f"{nb_path.name}: a non-test cell failed in the learner version:\n{cell.source[:300]}"
        fallbacks = sum("using the reference implementation" in str(c.get("outputs", [])) for c in executed.cells)
        assert fallbacks >= 1, f"{nb_path.name}: no visible fallback note"


def test_half_solved_gets_exactly_the_solved_parts(graded):
    for (learner, notebook, grade_id), (score, max_score) in graded["scores"].items():
        if learner != "half":
            continue
        owner = solution_of(grade_id, graded["solution_ids"][notebook])
        expected = max_score if owner in HALF_SOLVED else 0
        assert score == expected, f"{notebook}/{grade_id}: {score} of {max_score}, expected {expected}"
    total = sum(s for (learner, *_), (s, _) in graded["scores"].items() if learner == "half")
    assert 0 < total < sum(m for (learner, *_), (_, m) in graded["scores"].items() if learner == "half")
