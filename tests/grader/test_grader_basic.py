"""End to end: honest submissions are graded like nbgrader would; auth; feedback; CLI."""

import json
import subprocess
import sys

import httpx
import pytest
from grader_helpers import EXPECTED, HIDDEN, HIDDEN_NP, nb_bytes

# the shared fixture starts a grader (API + 2 workers) and grades three notebooks: > 20 s
pytestmark = pytest.mark.slow


def test_honest_scores(honest_results):
    for kind, res in honest_results.items():
        assert res["status"] == "graded", res
        assert res["score"] == EXPECTED[kind], (kind, res)
        assert res["max_score"] == 14.0  # nbgrader counts manual and task cells in the maximum
        ids = [t["grade_id"] for t in res["tests"]]
        assert ids == ["correct_squares", "squares_invalid_input", "correct_sum_of_squares",
                       "sum_of_squares_uses_squares", "correct_squares_np"]
        assert all(t["passed"] == (t["points"] == t["max_points"]) for t in res["tests"])


def test_no_hidden_text_in_api_or_feedback(grader, honest_results):
    tok = grader.tokens["alice"]
    for res in honest_results.values():
        body = grader.get(f"/api/v1/submissions/{res['id']}", tok).text
        html = grader.get(f"/api/v1/submissions/{res['id']}/feedback", tok).text
        assert "<table>" in html
        for text in (body, html):
            assert HIDDEN not in text and HIDDEN_NP not in text and "BEGIN HIDDEN" not in text


def test_learners_see_only_their_own(grader, honest_results):
    sid = honest_results["solved"]["id"]
    assert grader.get(f"/api/v1/submissions/{sid}", grader.tokens["bob"]).status_code == 404
    assert grader.get(f"/api/v1/submissions/{sid}/feedback", grader.tokens["bob"]).status_code == 404
    assert grader.get(f"/api/v1/submissions/{sid}", grader.instructor).status_code == 200
    assert grader.get(f"/api/v1/submissions/{sid}", "nonsense").status_code == 401
    r = httpx.get(f"{grader.url}/api/v1/submissions/{sid}", timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    # instructor-only endpoints
    assert grader.get("/api/v1/assignments/ps1/grades", grader.tokens["alice"]).status_code == 403
    r = httpx.post(f"{grader.url}/api/v1/submissions/{sid}/regrade",
                   headers={"Authorization": f"Bearer {grader.tokens['alice']}"}, timeout=30)
    assert r.status_code == 403


def test_grades_regrade_and_export(grader, honest_results):
    r = grader.get("/api/v1/assignments/ps1/grades", grader.instructor)
    assert r.status_code == 200
    alice = [g for g in r.json() if g["learner"] == "alice"][0]
    assert alice["best"] == EXPECTED["solved"]
    sid = honest_results["half"]["id"]
    r = httpx.post(f"{grader.url}/api/v1/submissions/{sid}/regrade",
                   headers={"Authorization": f"Bearer {grader.instructor}"}, timeout=30)
    assert r.status_code == 202 and r.json() == {"id": sid, "status": "queued"}
    res = grader.wait(sid, grader.instructor)
    assert res["status"] == "graded" and res["score"] == EXPECTED["half"]
    out = grader.cli("grades", "export", "--format", "json")
    rows = json.loads(out)
    assert any(row["learner"] == "alice" and row["best"] == EXPECTED["solved"] for row in rows)
    csv = grader.cli("grades", "export")
    assert csv.splitlines()[0].startswith("assignment,learner,best")


def test_zip_submission_and_metrics(grader, notebooks):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ps1/problem1.ipynb", nb_bytes(notebooks["solved"]))
    r = grader.submit(grader.tokens["bob"], buf.getvalue(), filename="ps1.zip")
    assert r.status_code == 202, r.text
    res = grader.wait(r.json()["id"], grader.tokens["bob"])
    assert res["score"] == EXPECTED["solved"]
    m = httpx.get(grader.url + "/metrics", timeout=30).text
    assert "grader_submissions_total" in m and "grader_queue_depth" in m
    assert httpx.get(grader.url + "/healthz", timeout=30).json() == {"status": "ok"}
    assert httpx.get(grader.url + "/docs", timeout=30).status_code == 200


def test_cli_help():
    p = subprocess.run([sys.executable, "-m", "grader", "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for word in ("serve", "worker", "run", "roster", "assignment", "grades", "regrade"):
        assert word in p.stdout
