"""Assignments: any standard nbgrader source folder. ``add`` runs nbgrader's own
generate_assignment on a private copy to get the release, and keeps the instructor source
(with solutions and hidden tests) under DATA/assignments/<id>/source, which the sandbox never sees.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat

from grader import merge

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AssignmentError(Exception):
    pass


def assignment_dir(data: str, aid: str) -> str:
    if not ID_RE.match(aid) or ".." in aid:
        raise AssignmentError(f"invalid assignment id {aid!r}")
    return os.path.join(data, "assignments", aid)


ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
RESERVED_ENV = ("PATH", "HOME", "LANG", "PYTHON", "LD_", "GRADER_", "MPLBACKEND")


def check_env(env: dict | None) -> dict:
    """Variables an assignment sets for the learner's process (e.g. ACADEMY_SMOKE=1 for fast training).

    Plain names and short values only; nothing that could change how the sandbox's Python starts.
    """
    out = {}
    for key, value in (env or {}).items():
        if not ENV_NAME.match(key) or key.startswith(RESERVED_ENV):
            raise AssignmentError(f"environment variable {key!r} is not allowed: use an upper-case name that "
                                  f"does not start with {', '.join(RESERVED_ENV)}")
        if not isinstance(value, str) or len(value) > 1024 or "\0" in value:
            raise AssignmentError(f"the value of {key} must be a string of at most 1024 characters")
        out[key] = value
    return out


def add(data: str, src_dir: str, aid: str | None = None, limits: dict | None = None,
        feedback_detail: str | None = None, env: dict | None = None) -> dict:
    learner_env = check_env(env)
    src_dir = os.path.abspath(src_dir)
    if not os.path.isdir(src_dir):
        raise AssignmentError(f"{src_dir} is not a directory")
    aid = aid or os.path.basename(src_dir.rstrip("/"))
    dest = assignment_dir(data, aid)
    notebooks = sorted(f for f in os.listdir(src_dir) if f.endswith(".ipynb") and not f.startswith("."))
    if not notebooks:
        raise AssignmentError(f"no notebooks in {src_dir}")
    with tempfile.TemporaryDirectory(prefix="grader-gen-") as tmp:
        shutil.copytree(src_dir, os.path.join(tmp, "source", aid),
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", aid, "--force",
               f"--CourseDirectory.root={tmp}", f"--CourseDirectory.db_url=sqlite:///{tmp}/gradebook.db"]
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600, env=env)
        release = os.path.join(tmp, "release", aid)
        if proc.returncode != 0 or not os.path.isdir(release):
            raise AssignmentError("nbgrader generate_assignment failed:\n" + (proc.stdout + proc.stderr)[-3000:])
        tests, max_score = [], 0.0
        for nb_name in notebooks:
            plan = merge.build_plan(nbformat.read(os.path.join(src_dir, nb_name), as_version=4), None, None)
            max_score += plan.max_score
            tests += [{"notebook": nb_name, "grade_id": t.grade_id, "max_points": t.points} for t in plan.tests]
        staging = dest + f".new-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        shutil.copytree(os.path.join(tmp, "source", aid), os.path.join(staging, "source"))
        shutil.copytree(release, os.path.join(staging, "release"))
    meta = {"id": aid, "notebooks": notebooks, "tests": tests, "max_score": max_score,
            "limits": limits or {}, "feedback_detail": feedback_detail, "env": learner_env, "added_at": time.time()}
    with open(os.path.join(staging, "assignment.json"), "w") as f:
        json.dump(meta, f, indent=1)
    for root, _dirs, _files in os.walk(staging):  # instructor-only: root-readable only
        os.chmod(root, 0o700)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.exists(dest):
        old = dest + f".old-{os.getpid()}"
        os.rename(dest, old)
        os.rename(staging, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, dest)
    # the public release must be readable by the sandbox's unprivileged uid
    os.chmod(dest, 0o711)
    for root, _dirs, files in os.walk(os.path.join(dest, "release")):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return meta


def load(data: str, aid: str) -> dict | None:
    try:
        d = assignment_dir(data, aid)
    except AssignmentError:
        return None
    try:
        with open(os.path.join(d, "assignment.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def list_all(data: str) -> list[dict]:
    root = os.path.join(data, "assignments")
    out = []
    if os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            m = load(data, name)
            if m:
                out.append(m)
    return out
