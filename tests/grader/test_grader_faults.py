"""Fault tolerance: a worker killed mid-grade, an API restart with jobs queued, Redis with two
workers, the gradebook on PostgreSQL. Polls with generous deadlines; never asserts durations."""

import copy
import os
import signal
import time
import uuid

import pytest
from grader_helpers import EXPECTED, make_grader, nb_bytes
from sqlalchemy import select

from grader.db import Gradebook, jobs

pytestmark = pytest.mark.slow


def slow_solved(notebooks, seconds=6):
    nb = copy.deepcopy(notebooks["solved"])
    nb["cells"].insert(0, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": f"import time\ntime.sleep({seconds})"})
    return nb


def wait_for(pred, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_grade_is_graded_exactly_once(tmp_path_factory, course, notebooks):
    g = make_grader(tmp_path_factory, course, "grader-kill", {"GRADER_LEASE_SECONDS": "4"})
    tok = g.cli("roster", "add", "kim")
    try:
        g.start_api()
        w1 = g.start("w1", "worker")
        sid = g.submit(tok, nb_bytes(slow_solved(notebooks))).json()["id"]
        wait_for(lambda: g.get(f"/api/v1/submissions/{sid}", tok).json()["status"] == "running",
                 what="grading to start")
        os.kill(w1.pid, signal.SIGKILL)
        w1.wait()
        g.procs.pop("w1")
        g.start("w2", "worker")
        res = g.wait(sid, tok)
        assert res["status"] == "graded" and res["score"] == EXPECTED["solved"]
        gb = Gradebook(f"sqlite:///{g.data}/gradebook.db")
        sub = gb.get(sid)
        assert sub["graded_round"] == 1 and sub["graded_attempt"] == 2
        with gb.engine.connect() as c:
            rows = c.execute(select(jobs).where(jobs.c.submission_id == sid)).mappings().all()
        assert len(rows) == 1 and rows[0]["state"] == "done" and rows[0]["attempts"] == 2
        # a late result for the same round (the killed worker's orphaned run) cannot overwrite it
        assert gb.record_result(sid, 1, 1, {"score": 0.0, "max_score": 14.0, "tests": []}) is False
        assert gb.get(sid)["score"] == EXPECTED["solved"]
    finally:
        g.stop_all()


def test_stalled_worker_result_is_dropped(tmp_path_factory, course, notebooks):
    """A worker that stops renewing (SIGSTOP) loses its lease; the job runs again elsewhere; when the
    first worker wakes up its result is dropped (graded once)."""
    g = make_grader(tmp_path_factory, course, "grader-stall", {"GRADER_LEASE_SECONDS": "4"})
    tok = g.cli("roster", "add", "sam")
    try:
        g.start_api()
        w1 = g.start("w1", "worker")
        sid = g.submit(tok, nb_bytes(slow_solved(notebooks))).json()["id"]
        wait_for(lambda: g.get(f"/api/v1/submissions/{sid}", tok).json()["status"] == "running",
                 what="grading to start")
        os.kill(w1.pid, signal.SIGSTOP)
        g.start("w2", "worker")
        res = g.wait(sid, tok)
        os.kill(w1.pid, signal.SIGCONT)
        assert res["score"] == EXPECTED["solved"]
        gb = Gradebook(f"sqlite:///{g.data}/gradebook.db")
        first = gb.get(sid)
        assert first["graded_attempt"] == 2
        wait_for(lambda: "already graded" in open(g.logs["w1"]).read() or w1.poll() is not None, 120,
                 "the stalled worker to finish")
        assert gb.get(sid)["graded_at"] == first["graded_at"]
    finally:
        g.stop_all()


def test_api_restart_loses_nothing_queued(tmp_path_factory, course, notebooks):
    g = make_grader(tmp_path_factory, course, "grader-restart")
    tok = g.cli("roster", "add", "lee")
    try:
        g.start_api()
        ids = [g.submit(tok, nb_bytes(notebooks[k])).json()["id"] for k in ("solved", "half", "unsolved")]
        g.stop("api", signal.SIGKILL)
        g.start_api()
        g.start("w1", "worker")
        g.start("w2", "worker")
        for sid, k in zip(ids, ("solved", "half", "unsolved"), strict=True):
            res = g.wait(sid, tok)
            assert res["status"] == "graded" and res["score"] == EXPECTED[k]
    finally:
        g.stop_all()


@pytest.mark.services
def test_redis_queue_two_workers(tmp_path_factory, course, notebooks):
    redis = pytest.importorskip("redis")
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        r.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"grader-test-{uuid.uuid4().hex[:8]}"
    g = make_grader(tmp_path_factory, course, "grader-redis",
                    {"GRADER_QUEUE_URL": "redis://127.0.0.1:6379/0", "GRADER_QUEUE_PREFIX": prefix,
                     "GRADER_LEASE_SECONDS": "5"})
    tok = g.cli("roster", "add", "ray")
    try:
        g.start_api()
        # queued before any worker exists; then a worker is killed mid-grade
        ids = [g.submit(tok, nb_bytes(slow_solved(notebooks, 3))).json()["id"] for _ in range(4)]
        w1 = g.start("w1", "worker")
        g.start("w2", "worker")
        wait_for(lambda: any(g.get(f"/api/v1/submissions/{s}", tok).json()["status"] == "running" for s in ids),
                 what="grading to start")
        os.kill(w1.pid, signal.SIGKILL)
        w1.wait()
        g.procs.pop("w1")
        g.start("w3", "worker")
        for sid in ids:
            res = g.wait(sid, tok)
            assert res["status"] == "graded" and res["score"] == EXPECTED["solved"]
        graded_by = [sum(f"grading {s}" in open(g.logs[w]).read() for s in ids) for w in ("w1", "w2", "w3")]
        assert sum(graded_by) >= 4 and graded_by[1] >= 1
        assert r.llen(f"{prefix}:pending") == 0 and r.zcard(f"{prefix}:leases") == 0
    finally:
        g.stop_all()
        for k in r.scan_iter(match=f"{prefix}:*"):
            r.delete(k)


@pytest.mark.services
def test_postgresql_gradebook(tmp_path_factory, course, notebooks):
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=5)
    except psycopg2.OperationalError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    conn.autocommit = True
    db = f"grader_test_{uuid.uuid4().hex[:8]}"
    conn.cursor().execute(f"CREATE DATABASE {db}")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
    g = make_grader(tmp_path_factory, course, "grader-pg", {"GRADER_DB_URL": url})
    try:
        tok = g.cli("roster", "add", "pat")
        g.start_api()
        g.start("w1", "worker")
        g.start("w2", "worker")
        ids = {k: g.submit(tok, nb_bytes(notebooks[k])).json()["id"] for k in ("solved", "unsolved")}
        for k, sid in ids.items():
            assert g.wait(sid, tok)["score"] == EXPECTED[k]
        gb = Gradebook(url)
        assert gb.get(ids["solved"])["graded_round"] == 1
        gb.engine.dispose()
    finally:
        g.stop_all()
        cur = conn.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()
