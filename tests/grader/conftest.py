"""Fixtures for the grader tests (helpers in grader_helpers.py)."""

import copy
import json
import os
import subprocess

import nbformat
import pytest
from grader_helpers import (
    HIDDEN_BLOCK,
    NP_SOLUTION,
    NP_TEST,
    VENV_BIN,
    _cell,
    _env,
    _strip_solution,
    make_grader,
    nb_bytes,
)


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """nbgrader quickstart course; ps1/problem1 gets a hidden test and a numpy exercise."""
    root = tmp_path_factory.mktemp("nbg")
    subprocess.run([os.path.join(VENV_BIN, "nbgrader"), "quickstart", "course101"], cwd=root, check=True,
                   capture_output=True, env=_env())
    course = root / "course101"
    p = course / "source" / "ps1" / "problem1.ipynb"
    nb = nbformat.read(p, as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "correct_squares":
            c.source += HIDDEN_BLOCK
    nb.cells.append(_cell(NP_SOLUTION, grade=False, grade_id="squares_np", solution=True))
    nb.cells.append(_cell(NP_TEST, grade=True, grade_id="correct_squares_np", solution=False, points=1))
    nbformat.write(nb, p)
    return course





@pytest.fixture(scope="session")
def release(course, tmp_path_factory):
    """The learner version, made by nbgrader itself."""
    subprocess.run([os.path.join(VENV_BIN, "nbgrader"), "generate_assignment", "ps1", "--force"], cwd=course,
                   check=True, capture_output=True, env=_env())
    return course / "release" / "ps1"


@pytest.fixture(scope="session")
def notebooks(course, release):
    """Honest learner notebooks for problem1: solved / half / unsolved (dicts)."""
    src = nbformat.read(course / "source" / "ps1" / "problem1.ipynb", as_version=4)
    rel = nbformat.read(release / "problem1.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: _strip_solution(c.source) for c in src.cells
                 if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}

    def solve(ids):
        nb = copy.deepcopy(rel)
        for c in nb.cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if gid in ids and gid in solutions:
                c.source = solutions[gid]
        return json.loads(nbformat.writes(nb))

    return {
        "solved": solve(set(solutions)),
        "half": solve({"squares", "squares_np"}),
        "unsolved": json.loads(nbformat.writes(rel)),
    }














@pytest.fixture(scope="session")
def grader(tmp_path_factory, course):
    """API + 2 workers shared by the functional and red-team tests."""
    g = make_grader(tmp_path_factory, course, "grader-main")
    g.tokens = {n: g.cli("roster", "add", n) for n in ("alice", "bob", "mallory")}
    g.instructor = g.cli("roster", "token", "--instructor")
    g.start_api()
    g.start("worker1", "worker")
    g.start("worker2", "worker")
    yield g
    g.stop_all()


@pytest.fixture(scope="session")
def honest_results(grader, notebooks):
    """The three honest submissions graded by the service (submitted together, graded in parallel)."""
    ids = {}
    for k, nb in notebooks.items():
        r = grader.submit(grader.tokens["alice"], nb_bytes(nb))
        assert r.status_code == 202, r.text
        ids[k] = r.json()["id"]
    return {k: grader.wait(sid, grader.tokens["alice"]) for k, sid in ids.items()}
