"""``python -m grader worker``: lease a job, grade it with the checker subprocess, write the
result once, ack. Runs until SIGTERM/SIGINT."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading

from grader import assignments, sandbox
from grader.config import Settings
from grader.db import Gradebook
from grader.jobqueue import Job, make_queue

log = logging.getLogger("grader.worker")


class SandboxUnavailable(RuntimeError):
    pass


def check_sandbox(settings: Settings) -> bool:
    """True when grading is sandboxed; raise when it cannot be and nobody opted out."""
    if sandbox.available():
        return True
    if settings.allow_unsandboxed:
        log.warning("!!! bubblewrap is NOT available and GRADER_ALLOW_UNSANDBOXED is set: learner code will run "
                    "WITHOUT isolation (no network/filesystem/uid separation). Never do this with untrusted learners.")
        return False
    raise SandboxUnavailable("bubblewrap (bwrap) is not available; refusing to grade. Install bubblewrap or set "
                             "GRADER_ALLOW_UNSANDBOXED=1 (unsafe) to grade without a sandbox.")


def build_job(settings: Settings, sub: dict, meta: dict, use_sandbox: bool) -> dict:
    adir = assignments.assignment_dir(settings.data, meta["id"])
    sdir = os.path.join(settings.data, "submissions", sub["id"])
    limits = {**settings.limits, **meta.get("limits", {})}
    nbs = []
    for name in meta["notebooks"]:
        path = os.path.join(sdir, name)
        nbs.append({"name": name, "source": os.path.join(adir, "source", name),
                    "release": os.path.join(adir, "release", name),
                    "submission": path if name in sub["notebooks"] and os.path.exists(path) else None})
    return {"notebooks": nbs, "files_dir": os.path.join(adir, "release"), "limits": limits,
            "sandbox": use_sandbox, "extra_ro": settings.extra_ro, "uid": 200000 + os.getpid() % 100000,
            "max_notebook_bytes": settings.max_notebook_bytes, "env": meta.get("env") or {},
            "feedback_detail": meta.get("feedback_detail") or settings.feedback_detail}


def _checker_limits():
    # the checker is trusted code but handles learner data: bound its memory and cap its output
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def grade(settings: Settings, job_spec: dict) -> dict:
    limits = sandbox.Limits.from_dict(job_spec["limits"])
    timeout = len(job_spec["notebooks"]) * (limits.wall_seconds + 30) + 60
    proc = subprocess.run([sys.executable, "-m", "grader.checker"], input=json.dumps(job_spec), text=True,
                          capture_output=True, timeout=timeout, cwd=os.path.dirname(os.path.dirname(__file__)),
                          preexec_fn=_checker_limits)
    if proc.returncode != 0:
        raise RuntimeError(f"checker failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout)
    if not isinstance(result, dict) or "tests" not in result:
        raise RuntimeError("checker returned no result")
    return result


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.gb = Gradebook(settings.db_url)
        self.queue = make_queue(settings, self.gb)
        self.stop = threading.Event()
        self.use_sandbox = check_sandbox(settings)

    def run_forever(self) -> None:
        if hasattr(self.queue, "refill"):
            self.queue.refill(self.gb)
        log.info("worker %d ready (queue %s)", os.getpid(), self.settings.queue_url.split("@")[-1])
        while not self.stop.is_set():
            try:
                job = self.queue.lease(self.settings.lease_seconds)
            except Exception:
                log.exception("queue unavailable")
                self.stop.wait(2)
                continue
            if job is None:
                self.stop.wait(self.settings.poll_seconds)
                continue
            try:
                self.handle(job)
            except Exception:  # e.g. the gradebook is briefly unreachable: the lease expires, the job reruns
                log.exception("job %s failed in the worker", job.id)
                self.stop.wait(2)

    def handle(self, job: Job) -> None:
        sub = self.gb.get(job.submission_id)
        if sub is None or sub["graded_round"] >= job.round or sub["round"] != job.round:
            self.queue.ack(job)  # already graded (or superseded by a regrade)
            return
        meta = assignments.load(self.settings.data, sub["assignment"])
        if meta is None:
            self.gb.record_failure(sub["id"], job.round, "assignment no longer exists")
            self.queue.ack(job)
            return
        log.info("grading %s (round %d, attempt %d)", sub["id"], job.round, job.attempt)
        self.gb.mark_running(sub["id"], job.round)
        done = threading.Event()

        def heartbeat():
            while not done.wait(max(1.0, self.settings.lease_seconds / 3)):
                try:
                    self.queue.renew(job, self.settings.lease_seconds)
                except Exception:
                    log.warning("lease renewal failed for %s", job.id)

        hb = threading.Thread(target=heartbeat, daemon=True)
        hb.start()
        try:
            result = grade(self.settings, build_job(self.settings, sub, meta, self.use_sandbox))
        except Exception as e:
            done.set()
            log.exception("grading %s failed", sub["id"])
            if job.attempt >= self.settings.max_attempts:
                self.gb.record_failure(sub["id"], job.round, f"grading failed: {str(e)[:500]}")
                self.queue.ack(job)
            else:
                self.queue.release(job)
            return
        done.set()
        written = self.gb.record_result(sub["id"], job.round, job.attempt, result)
        log.info("graded %s: %s/%s%s", sub["id"], result["score"], result["max_score"],
                 "" if written else " (already graded; result dropped)")
        self.queue.ack(job)


def main(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        w = Worker(settings)
    except SandboxUnavailable as e:
        log.error("%s", e)
        return 2

    def _stop(*_):
        w.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    w.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(Settings.load()))
