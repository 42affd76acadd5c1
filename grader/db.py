"""The gradebook (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

A submission row is written before the API answers 202. A grading result is written at most
once per grading round: ``record_result`` is a conditional UPDATE (``graded_round < round``),
so a job that runs twice (a worker killed after writing, a lease that expired while the first
worker was still busy) cannot grade the same submission twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)

metadata = MetaData()

tokens = Table(
    "grader_tokens", metadata,
    Column("hash", String(64), primary_key=True),
    Column("learner", String(128), nullable=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

submissions = Table(
    "grader_submissions", metadata,
    Column("id", String(32), primary_key=True),
    Column("learner", String(128), nullable=False, index=True),
    Column("assignment", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("score", Float),
    Column("max_score", Float),
    Column("tests", Text),
    Column("notes", Text),
    Column("notebooks", Text, nullable=False),
    Column("submitted_at", Float, nullable=False),
    Column("graded_at", Float),
    Column("round", Integer, nullable=False, default=1),
    Column("graded_round", Integer, nullable=False, default=0),
    Column("graded_attempt", Integer),
    Column("error", Text),
)

jobs = Table(
    "grader_jobs", metadata,
    Column("id", String(64), primary_key=True),
    Column("submission_id", String(32), nullable=False),
    Column("round", Integer, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", Float),
    Column("lease_token", String(64)),
    Column("created_at", Float, nullable=False),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Gradebook:
    def __init__(self, url: str):
        kw = {}
        if url.startswith("sqlite"):
            kw["connect_args"] = {"timeout": 60, "check_same_thread": False}
        else:
            kw["pool_pre_ping"] = True
        self.engine = create_engine(url, **kw)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()
        metadata.create_all(self.engine)

    # ------------------------------------------------------------------ roster
    def add_token(self, role: str, learner: str | None = None) -> str:
        token = ("gi_" if role == "instructor" else "gl_") + secrets.token_urlsafe(32)
        with self.engine.begin() as c:
            c.execute(tokens.insert().values(hash=token_hash(token), learner=learner, role=role,
                                             created_at=time.time()))
        return token

    def who(self, token: str) -> tuple[str | None, str] | None:
        with self.engine.connect() as c:
            row = c.execute(select(tokens.c.learner, tokens.c.role).where(tokens.c.hash == token_hash(token))).first()
        return (row.learner, row.role) if row else None

    def learners(self) -> list[str]:
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(select(tokens.c.learner).where(tokens.c.role == "learner").distinct())]

    # ------------------------------------------------------------------ submissions
    def create_submission(self, sid: str, learner: str, assignment: str, notebooks: list[str], max_score: float,
                          job_in_db: bool) -> None:
        now = time.time()
        with self.engine.begin() as c:
            c.execute(submissions.insert().values(
                id=sid, learner=learner, assignment=assignment, status="queued", max_score=max_score,
                notebooks=json.dumps(notebooks), submitted_at=now, round=1, graded_round=0))
            if job_in_db:
                c.execute(jobs.insert().values(id=f"{sid}:1", submission_id=sid, round=1, state="queued",
                                               attempts=0, created_at=now))

    def get(self, sid: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(submissions).where(submissions.c.id == sid)).mappings().first()
        return _sub(row) if row else None

    def recent_count(self, learner: str, since: float) -> int:
        with self.engine.connect() as c:
            return c.execute(select(func.count()).select_from(submissions).where(
                and_(submissions.c.learner == learner, submissions.c.submitted_at >= since))).scalar_one()

    def mark_running(self, sid: str, rnd: int) -> None:
        with self.engine.begin() as c:
            c.execute(update(submissions).where(and_(submissions.c.id == sid, submissions.c.round == rnd,
                                                     submissions.c.graded_round < rnd)).values(status="running"))

    def record_result(self, sid: str, rnd: int, attempt: int, result: dict) -> bool:
        """Idempotent: only the first result for (submission, round) is kept."""
        with self.engine.begin() as c:
            res = c.execute(update(submissions).where(and_(
                submissions.c.id == sid, submissions.c.round == rnd, submissions.c.graded_round < rnd)).values(
                status="graded", score=float(result["score"]), max_score=float(result["max_score"]),
                tests=json.dumps(result["tests"]), notes=json.dumps(result.get("notes", [])),
                graded_at=time.time(), graded_round=rnd, graded_attempt=attempt, error=None))
            return res.rowcount == 1

    def record_failure(self, sid: str, rnd: int, error: str) -> None:
        with self.engine.begin() as c:
            c.execute(update(submissions).where(and_(
                submissions.c.id == sid, submissions.c.round == rnd, submissions.c.graded_round < rnd)).values(
                status="failed", error=error[:2000], graded_at=time.time(), graded_round=rnd))

    def start_regrade(self, sid: str, job_in_db: bool) -> int | None:
        with self.engine.begin() as c:
            row = c.execute(select(submissions.c.round).where(submissions.c.id == sid)).first()
            if row is None:
                return None
            rnd = row.round + 1
            c.execute(update(submissions).where(submissions.c.id == sid).values(round=rnd, status="queued"))
            if job_in_db:
                c.execute(jobs.insert().values(id=f"{sid}:{rnd}", submission_id=sid, round=rnd, state="queued",
                                               attempts=0, created_at=time.time()))
            return rnd

    def pending(self) -> list[dict]:
        """Submissions not yet graded in their current round (used to re-fill a Redis queue)."""
        with self.engine.connect() as c:
            rows = c.execute(select(submissions.c.id, submissions.c.round).where(
                submissions.c.graded_round < submissions.c.round)).all()
        return [{"id": r.id, "round": r.round} for r in rows]

    def list_for(self, assignment: str | None = None, learner: str | None = None) -> list[dict]:
        q = select(submissions).order_by(submissions.c.submitted_at)
        if assignment:
            q = q.where(submissions.c.assignment == assignment)
        if learner:
            q = q.where(submissions.c.learner == learner)
        with self.engine.connect() as c:
            return [_sub(r) for r in c.execute(q).mappings()]

    def grades(self, assignment: str | None = None) -> list[dict]:
        per: dict[tuple[str, str], dict] = {}
        for s in self.list_for(assignment):
            key = (s["learner"], s["assignment"])
            g = per.setdefault(key, {"learner": s["learner"], "assignment": s["assignment"], "submissions": 0,
                                     "best": None, "latest": None, "max_score": s["max_score"],
                                     "latest_id": None, "latest_status": None})
            g["submissions"] += 1
            g["latest_id"], g["latest_status"] = s["id"], s["status"]
            g["latest"] = s["score"] if s["status"] == "graded" else g["latest"]
            if s["status"] == "graded" and (g["best"] is None or s["score"] > g["best"]):
                g["best"] = s["score"]
        return sorted(per.values(), key=lambda g: (g["assignment"], g["learner"]))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            return {r[0]: r[1] for r in c.execute(
                select(submissions.c.status, func.count()).group_by(submissions.c.status))}

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(select(1))


def _sub(row) -> dict:
    d = dict(row)
    d["tests"] = json.loads(d["tests"]) if d.get("tests") else []
    d["notes"] = json.loads(d["notes"]) if d.get("notes") else []
    d["notebooks"] = json.loads(d["notebooks"]) if d.get("notebooks") else []
    return d


__all__ = ["Gradebook", "jobs", "submissions", "tokens", "token_hash", "or_"]
