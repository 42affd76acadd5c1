"""The course's own `cnn` assignment on the hosted grader: the solved source earns every point, the
learner version none, exactly as plain nbgrader gives them (tests/cnn/test_cnn_nbgrader.py)."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from grader_helpers import make_grader

from grader import assignments

REPO = Path(__file__).resolve().parents[2]
CNN = REPO / "notebooks" / "cnn"
MAX_SCORE = 28.0

pytestmark = pytest.mark.slow


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


@pytest.fixture(scope="module")
def cnn_grader(tmp_path_factory):
    g = make_grader(tmp_path_factory, None, "grader-cnn", add=False)
    out = g.cli("assignment", "add", str(CNN), "--id", "cnn", "--env", "ACADEMY_SMOKE=1",
                "--limit", "wall_seconds=300", "--limit", "cell_seconds=120", "--limit", "cpu_seconds=300",
                "--limit", "memory_mb=4096", "--limit", "tmpfs_mb=256")
    assert "max score 28" in out, out
    g.token = g.cli("roster", "add", "carol")
    g.start_api()
    g.start("worker1", "worker")
    g.start("worker2", "worker")
    yield g
    g.stop_all()


def test_solved_source_gets_full_marks_and_release_gets_zero(cnn_grader):
    g = cnn_grader
    solved = {p.name: p.read_bytes() for p in sorted(CNN.glob("[0-9][0-9]_*.ipynb"))}
    release_dir = Path(assignments.assignment_dir(g.data, "cnn")) / "release"
    released = {p.name: p.read_bytes() for p in sorted(release_dir.glob("*.ipynb"))}
    assert set(released) == set(solved) and len(solved) == 4

    ids = {}
    for label, files in (("solved", solved), ("released", released)):
        r = g.submit(g.token, _zip(files), filename="cnn.zip", assignment="cnn")
        assert r.status_code == 202, r.text
        ids[label] = r.json()["id"]
    results = {label: g.wait(sid, g.token, timeout=900) for label, sid in ids.items()}
    for label, r in results.items():
        print(label, r["submitted_at"], r["graded_at"], r["score"])

    solved_result, released_result = results["solved"], results["released"]
    assert solved_result["status"] == "graded" and solved_result["max_score"] == MAX_SCORE
    missing = [(t["notebook"], t["grade_id"], t["message"]) for t in solved_result["tests"] if not t["passed"]]
    assert solved_result["score"] == MAX_SCORE, missing
    assert released_result["status"] == "graded" and released_result["score"] == 0
    assert all(not t["passed"] for t in released_result["tests"])
    feedback = g.get(f"/api/v1/submissions/{ids['solved']}/feedback", g.token).text
    assert "BEGIN HIDDEN TESTS" not in feedback and "img2_" not in feedback   # hidden test source stays hidden


@pytest.mark.parametrize("env", [{"PATH": "/tmp"}, {"LD_PRELOAD": "x.so"}, {"GRADER_SITE": "/"},
                                 {"PYTHONPATH": "/x"}, {"lower": "1"}, {"OK": "\0"}])
def test_assignment_environment_is_validated(env):
    with pytest.raises(assignments.AssignmentError):
        assignments.check_env(env)
    assert assignments.check_env({"ACADEMY_SMOKE": "1"}) == {"ACADEMY_SMOKE": "1"}


def test_assignment_env_is_recorded(cnn_grader):
    meta = json.loads((Path(assignments.assignment_dir(cnn_grader.data, "cnn")) / "assignment.json").read_text())
    assert meta["env"] == {"ACADEMY_SMOKE": "1"}
