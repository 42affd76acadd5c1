"""Bad input at the API edge: each a clear 4xx, nothing stored half-way, the service stays up.
In-process (TestClient); no worker needed."""

import io
import json
import os
import zipfile

import pytest
from fastapi.testclient import TestClient
from grader_helpers import nb_bytes

from grader import assignments
from grader.api import create_app
from grader.config import Settings
from grader.db import Gradebook


@pytest.fixture(scope="module")
def api(tmp_path_factory, course):
    data = tmp_path_factory.mktemp("grader-inputs")
    assignments.add(str(data), str(course / "source" / "ps1"))
    s = Settings.load(str(data))
    s.queue_url = "sql"
    s.db_url = "sqlite:///" + os.path.join(str(data), "gradebook.db")
    s.rate_limit, s.rate_window = 1000, 60
    s.max_upload_bytes = s.max_notebook_bytes = 512 * 1024
    gb = Gradebook(s.db_url)
    toks = {n: gb.add_token("learner", n) for n in ("ann", "ben", "cat")}
    toks["instructor"] = gb.add_token("instructor")
    client = TestClient(create_app(s))
    client.toks, client.settings, client.gb = toks, s, gb
    return client


def post(api, content, filename="problem1.ipynb", who="ann", assignment="ps1"):
    return api.post(f"/api/v1/assignments/{assignment}/submissions",
                    headers={"Authorization": f"Bearer {api.toks[who]}"},
                    files={"file": (filename, content, "application/octet-stream")})


def stored(api):
    root = os.path.join(api.settings.data, "submissions")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _zip(entries, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def bomb():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("problem1.ipynb", b"{" + b" " * (200 << 20) + b"}")
    return buf.getvalue()


CASES = {
    "not_a_notebook": (lambda nb: (b"hello world", "problem1.ipynb"), 400, "invalid_json"),
    "invalid_json": (lambda nb: (b'{"cells": [', "problem1.ipynb"), 400, "invalid_json"),
    "json_not_notebook": (lambda nb: (b'{"a": 1}', "problem1.ipynb"), 400, "not_a_notebook"),
    "bad_schema": (lambda nb: (json.dumps({**nb, "cells": [{"cell_type": "code"}]}).encode(), "problem1.ipynb"),
                   400, "invalid_notebook"),
    "empty": (lambda nb: (b"", "problem1.ipynb"), 400, "empty_file"),
    "too_large": (lambda nb: (b" " * (600 * 1024), "problem1.ipynb"), 413, "too_large"),
    "wrong_extension": (lambda nb: (nb_bytes(nb), "problem1.py"), 400, "bad_file_type"),
    "path_traversal_name": (lambda nb: (nb_bytes(nb), "../../../../etc/cron.d/x.ipynb"), 400, "unknown_notebook"),
    "unknown_notebook": (lambda nb: (nb_bytes(nb), "other.ipynb"), 400, "unknown_notebook"),
    "zip_traversal": (lambda nb: (_zip({"../../evil/problem1.ipynb": nb_bytes(nb)}), "a.zip"), 400, "bad_zip"),
    "zip_bomb": (lambda nb: (bomb(), "bomb.zip"), 413, "too_large"),
    "corrupt_zip": (lambda nb: (b"PK\x03\x04garbage", "a.zip"), 400, "bad_zip"),
    "zip_without_notebooks": (lambda nb: (_zip({"readme.txt": b"hi"}), "a.zip"), 400, "no_notebooks"),
    "binary": (lambda nb: (bytes(range(256)) * 10, "problem1.ipynb"), 400, "not_a_notebook"),
    "deep_json": (lambda nb: (b"[" * 100000 + b"]" * 100000, "problem1.ipynb"), 400, "invalid_json"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_upload(api, notebooks, case):
    make, status, code = CASES[case]
    content, filename = make(notebooks["unsolved"])
    before = stored(api)
    r = post(api, content, filename)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    assert stored(api) == before
    assert api.get("/healthz").status_code == 200


def test_unknown_assignment_is_404(api, notebooks):
    r = post(api, nb_bytes(notebooks["unsolved"]), assignment="nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_assignment"
    r = post(api, nb_bytes(notebooks["unsolved"]), assignment="..%2F..%2Fetc")
    assert r.status_code == 404


def test_auth_and_ownership(api, notebooks):
    r = api.post("/api/v1/assignments/ps1/submissions", files={"file": ("problem1.ipynb", b"{}")})
    assert r.status_code == 401
    r = post(api, nb_bytes(notebooks["unsolved"]), who="instructor")
    assert r.status_code == 403
    r = post(api, nb_bytes(notebooks["unsolved"]), who="ann")
    assert r.status_code == 202 and r.json()["status"] == "queued"
    sid = r.json()["id"]
    assert os.path.exists(os.path.join(api.settings.data, "submissions", sid, "problem1.ipynb"))
    sub = api.gb.get(sid)
    assert sub["status"] == "queued" and sub["learner"] == "ann"   # stored before the 202
    h = {"Authorization": f"Bearer {api.toks['ben']}"}
    assert api.get(f"/api/v1/submissions/{sid}", headers=h).status_code == 404
    assert api.get(f"/api/v1/submissions/{sid}/feedback", headers=h).status_code == 404
    assert api.get("/api/v1/submissions/../../etc/passwd", headers=h).status_code == 404
    hi = {"Authorization": f"Bearer {api.toks['instructor']}"}
    assert api.get(f"/api/v1/submissions/{sid}", headers=hi).json()["learner"] == "ann"
    assert api.get("/api/v1/assignments/ps1/grades", headers=h).status_code == 403
    assert api.get("/api/v1/assignments/ps1/grades", headers=hi).status_code == 200
    assert api.post("/api/v1/submissions/nope/regrade", headers=hi).status_code == 404


def test_rate_limit(api, notebooks):
    api.settings.rate_limit = 2
    try:
        codes = [post(api, nb_bytes(notebooks["unsolved"]), who="cat").status_code for _ in range(3)]
    finally:
        api.settings.rate_limit = 1000
    assert codes == [202, 202, 429]


def test_missing_file_field(api):
    r = api.post("/api/v1/assignments/ps1/submissions", headers={"Authorization": f"Bearer {api.toks['ann']}"},
                 data={"x": "1"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
