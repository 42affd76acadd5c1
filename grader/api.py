"""The grader's HTTP API (FastAPI; OpenAPI at /docs). Thin handlers over db / jobqueue / uploads."""

import datetime as dt
import os
import shutil
import time
import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader import assignments, feedback, sandbox
from grader.config import Settings
from grader.db import Gradebook
from grader.jobqueue import make_queue
from grader.uploads import UploadError, parse_upload


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


class Queued(BaseModel):
    id: str
    status: str


class TestResult(BaseModel):
    notebook: str
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str


class SubmissionOut(BaseModel):
    id: str
    learner: str
    assignment: str
    status: str
    score: float | None
    max_score: float | None
    tests: list[TestResult]
    submitted_at: str
    graded_at: str | None
    notes: list[str] = []


class Grade(BaseModel):
    learner: str
    assignment: str
    submissions: int
    best: float | None
    latest: float | None
    max_score: float | None
    latest_id: str | None
    latest_status: str | None


def _iso(t):
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat() if t else None


def _out(s: dict) -> SubmissionOut:
    return SubmissionOut(id=s["id"], learner=s["learner"], assignment=s["assignment"], status=s["status"],
                         score=s["score"], max_score=s["max_score"], tests=[TestResult(**t) for t in s["tests"]],
                         submitted_at=_iso(s["submitted_at"]), graded_at=_iso(s["graded_at"]),
                         notes=[str(n) for n in s["notes"]] + ([s["error"]] if s.get("error") else []))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    gb = Gradebook(settings.db_url)
    queue = make_queue(settings, gb)
    if hasattr(queue, "refill"):
        queue.refill(gb)  # a restarted API re-announces anything the gradebook still has pending
    app = FastAPI(title="AIaaS Academy grader", version="1.0",
                  description="Submit nbgrader notebooks; they are graded in a sandbox.")
    reg = CollectorRegistry()
    m_sub = Counter("grader_submissions_total", "accepted submissions", registry=reg)
    m_rej = Counter("grader_rejected_total", "rejected requests", ["code"], registry=reg)
    m_depth = Gauge("grader_queue_depth", "jobs queued or leased", registry=reg)
    m_status = Gauge("grader_submissions_by_status", "submissions by status", ["status"], registry=reg)
    app.state.settings, app.state.gb, app.state.queue = settings, gb, queue

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        m_rej.labels(exc.code).inc()
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": {"code": "http_" + str(exc.status_code), "message": str(exc.detail)}},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        fields = ", ".join(".".join(str(x) for x in e.get("loc", [])) for e in exc.errors()[:5])
        return JSONResponse({"error": {"code": "bad_request", "message": f"invalid or missing: {fields}"}},
                            status_code=400)

    @app.middleware("http")
    async def _size_guard(request: Request, call_next):
        cl = request.headers.get("content-length")
        if cl is not None:
            try:
                too_big = int(cl) > settings.max_upload_bytes + 64 * 1024
            except ValueError:
                too_big = False
            if too_big:
                return JSONResponse({"error": {"code": "too_large", "message":
                                               f"request larger than {settings.max_upload_bytes} bytes"}},
                                    status_code=413)
        return await call_next(request)

    def auth(request: Request) -> tuple[str | None, str]:
        h = request.headers.get("authorization", "")
        if not h.lower().startswith("bearer ") or len(h) > 300:
            raise ApiError(401, "unauthorized", "missing or malformed Authorization: Bearer <token>")
        who = gb.who(h[7:].strip())
        if who is None:
            raise ApiError(401, "unauthorized", "unknown token")
        return who

    def instructor(who: Annotated[tuple, Depends(auth)]):
        if who[1] != "instructor":
            raise ApiError(403, "forbidden", "instructor token required")
        return who

    Who = Annotated[tuple, Depends(auth)]
    Instr = Annotated[tuple, Depends(instructor)]

    def visible(sid: str, who) -> dict:
        s = gb.get(sid) if len(sid) <= 64 else None
        if s is None or (who[1] != "instructor" and s["learner"] != who[0]):
            raise ApiError(404, "not_found", "no such submission")
        return s

    @app.post("/api/v1/assignments/{assignment}/submissions", status_code=202, response_model=Queued)
    def submit(assignment: str, file: Annotated[UploadFile, File()], who: Who):
        learner, role = who
        if role != "learner":
            raise ApiError(403, "forbidden", "submit with a learner token")
        meta = assignments.load(settings.data, assignment)
        if meta is None:
            raise ApiError(404, "unknown_assignment", f"no assignment {assignment[:64]!r}")
        if settings.rate_limit and gb.recent_count(learner, time.time() - settings.rate_window) >= settings.rate_limit:
            raise ApiError(429, "rate_limited",
                           f"at most {settings.rate_limit} submissions per {settings.rate_window} s")
        raw = file.file.read(settings.max_upload_bytes + 1)  # sync handler: runs in the threadpool
        try:
            files = parse_upload(file.filename or "", raw, meta["notebooks"], settings.max_notebook_bytes,
                                 settings.max_upload_bytes, settings.max_zip_entries)
        except UploadError as e:
            raise ApiError(e.status, e.code, e.message) from None
        sid = uuid.uuid4().hex
        root = os.path.join(settings.data, "submissions")
        tmp, final = os.path.join(root, f".tmp-{sid}"), os.path.join(root, sid)
        os.makedirs(tmp, mode=0o700)
        try:
            for name, data in files.items():
                with open(os.path.join(tmp, name), "wb") as f:
                    os.fchmod(f.fileno(), 0o644)  # readable by the sandbox uid through its bind mount
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            os.rename(tmp, final)
            gb.create_submission(sid, learner, assignment, sorted(files), meta["max_score"], queue.in_db)
        except Exception:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            raise
        if not queue.in_db:
            queue.enqueue(sid, 1)  # if this fails the submission is still pending and gets refilled
        m_sub.inc()
        return Queued(id=sid, status="queued")

    @app.get("/api/v1/submissions/{sid}", response_model=SubmissionOut)
    def get_submission(sid: str, who: Who):
        return _out(visible(sid, who))

    @app.get("/api/v1/submissions/{sid}/feedback", response_class=HTMLResponse)
    def get_feedback(sid: str, who: Who):
        return HTMLResponse(feedback.render(visible(sid, who)))

    @app.get("/api/v1/assignments")
    def list_assignments(who: Who):
        return [{"id": m["id"], "notebooks": m["notebooks"], "max_score": m["max_score"],
                 "tests": [{k: t[k] for k in ("notebook", "grade_id", "max_points")} for t in m["tests"]]}
                for m in assignments.list_all(settings.data)]

    @app.get("/api/v1/assignments/{assignment}/grades", response_model=list[Grade])
    def grades(assignment: str, who: Instr):
        if assignments.load(settings.data, assignment) is None:
            raise ApiError(404, "unknown_assignment", f"no assignment {assignment[:64]!r}")
        return gb.grades(assignment)

    @app.post("/api/v1/submissions/{sid}/regrade", status_code=202, response_model=Queued)
    def regrade(sid: str, who: Instr):
        rnd = gb.start_regrade(sid, queue.in_db) if len(sid) <= 64 else None
        if rnd is None:
            raise ApiError(404, "not_found", "no such submission")
        if not queue.in_db:
            queue.enqueue(sid, rnd)
        return Queued(id=sid, status="queued")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        checks = {}
        try:
            gb.ping()
            checks["gradebook"] = "ok"
        except Exception as e:
            checks["gradebook"] = f"error: {type(e).__name__}"
        try:
            queue.ping()
            checks["queue"] = "ok"
        except Exception as e:
            checks["queue"] = f"error: {type(e).__name__}"
        checks["sandbox"] = "ok" if sandbox.available() else (
            "UNSANDBOXED (opted out)" if settings.allow_unsandboxed else "error: bubblewrap missing")
        ok = all(v == "ok" or v.startswith("UNSANDBOXED") for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics")
    def metrics():
        try:
            m_depth.set(queue.depth())
            for k, v in gb.counts().items():
                m_status.labels(k).set(v)
        except Exception:
            pass
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    return app
