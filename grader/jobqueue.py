"""Job queues with leases (visibility timeouts).

A worker leases a job for ``lease_seconds`` and renews the lease while it grades. If the
worker dies (kill -9, machine lost) the lease runs out and another worker takes the job
again (attempt + 1). Results are written idempotently (db.Gradebook.record_result), so a
job that runs twice still grades the submission once.

* ``SQLQueue``: the jobs table in the gradebook database (SQLite file by default: no server;
  on PostgreSQL it is shared by workers on many machines). Leases are compare-and-set updates.
* ``RedisQueue``: Redis lists + a sorted set of leases, each step one Lua script (atomic).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update

from grader.db import Gradebook, jobs, submissions


@dataclass
class Job:
    id: str
    submission_id: str
    round: int
    attempt: int
    token: str


class SQLQueue:
    in_db = True

    def __init__(self, gb: Gradebook, max_attempts: int = 3):
        self.gb = gb
        self.max_attempts = max_attempts

    def enqueue(self, sid: str, rnd: int) -> None:
        pass  # the job row is inserted in the same transaction as the submission

    def lease(self, lease_seconds: float) -> Job | None:
        eng = self.gb.engine
        for _ in range(5):
            now = time.time()
            with eng.connect() as c:
                row = c.execute(select(jobs.c.id, jobs.c.submission_id, jobs.c.round, jobs.c.attempts,
                                       jobs.c.lease_token).where(or_(
                    jobs.c.state == "queued", and_(jobs.c.state == "leased", jobs.c.lease_until < now)))
                    .order_by(jobs.c.created_at).limit(1)).first()
            if row is None:
                return None
            token = secrets.token_hex(16)
            tok = jobs.c.lease_token
            tok_cond = tok.is_(None) if row.lease_token is None else tok == row.lease_token
            with eng.begin() as c:
                if row.attempts >= self.max_attempts:
                    res = c.execute(update(jobs).where(and_(jobs.c.id == row.id, tok_cond)).values(state="failed"))
                    if res.rowcount == 1:
                        c.execute(update(submissions).where(and_(
                            submissions.c.id == row.submission_id, submissions.c.round == row.round,
                            submissions.c.graded_round < row.round)).values(
                            status="failed", error=f"grading failed {row.attempts} times", graded_at=now,
                            graded_round=row.round))
                    continue
                res = c.execute(update(jobs).where(and_(
                    jobs.c.id == row.id, tok_cond,
                    or_(jobs.c.state == "queued", and_(jobs.c.state == "leased", jobs.c.lease_until < now))))
                    .values(state="leased", lease_until=now + lease_seconds, lease_token=token,
                            attempts=jobs.c.attempts + 1))
            if res.rowcount == 1:
                return Job(row.id, row.submission_id, row.round, row.attempts + 1, token)
        return None

    def renew(self, job: Job, lease_seconds: float) -> bool:
        with self.gb.engine.begin() as c:
            res = c.execute(update(jobs).where(and_(jobs.c.id == job.id, jobs.c.lease_token == job.token,
                                                    jobs.c.state == "leased"))
                            .values(lease_until=time.time() + lease_seconds))
        return res.rowcount == 1

    def ack(self, job: Job) -> None:
        with self.gb.engine.begin() as c:
            c.execute(update(jobs).where(jobs.c.id == job.id).values(state="done", lease_until=None))

    def release(self, job: Job) -> None:
        """Give a job back at once (the worker could not grade it)."""
        with self.gb.engine.begin() as c:
            c.execute(update(jobs).where(and_(jobs.c.id == job.id, jobs.c.lease_token == job.token))
                      .values(lease_until=0.0))

    def depth(self) -> int:
        with self.gb.engine.connect() as c:
            return c.execute(select(func.count()).select_from(jobs).where(
                jobs.c.state.in_(["queued", "leased"]))).scalar_one()

    def ping(self) -> None:
        self.gb.ping()


_ENQUEUE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

# KEYS: pending, leases, attempts, tokens ; ARGV: now, lease_seconds, token
_LEASE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('RPUSH', KEYS[1], id)
end
local id = redis.call('RPOP', KEYS[1])
if not id then return nil end
local n = redis.call('HINCRBY', KEYS[3], id, 1)
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
redis.call('HSET', KEYS[4], id, ARGV[3])
return {id, n}
"""

# KEYS: leases, tokens ; ARGV: id, token, until
_RENEW = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
  return 1
end
return 0
"""

_ACK = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


class RedisQueue:
    in_db = False

    def __init__(self, url: str, prefix: str = "grader", max_attempts: int = 3, gb: Gradebook | None = None):
        import redis

        self.r = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        p = prefix
        self.k_known, self.k_pending, self.k_leases = f"{p}:known", f"{p}:pending", f"{p}:leases"
        self.k_attempts, self.k_tokens = f"{p}:attempts", f"{p}:tokens"
        self.max_attempts = max_attempts
        self.gb = gb
        self._enqueue = self.r.register_script(_ENQUEUE)
        self._lease = self.r.register_script(_LEASE)
        self._renew = self.r.register_script(_RENEW)
        self._ack = self.r.register_script(_ACK)

    def enqueue(self, sid: str, rnd: int) -> None:
        self._enqueue(keys=[self.k_known, self.k_pending], args=[f"{sid}:{rnd}"])

    def lease(self, lease_seconds: float) -> Job | None:
        for _ in range(5):
            token = secrets.token_hex(16)
            got = self._lease(keys=[self.k_pending, self.k_leases, self.k_attempts, self.k_tokens],
                              args=[time.time(), lease_seconds, token])
            if not got:
                return None
            jid, n = got[0].decode(), int(got[1])
            sid, _, rnd = jid.rpartition(":")
            job = Job(jid, sid, int(rnd), n, token)
            if n > self.max_attempts:
                if self.gb is not None:
                    self.gb.record_failure(sid, int(rnd), f"grading failed {n - 1} times")
                self.ack(job)
                continue
            return job
        return None

    def renew(self, job: Job, lease_seconds: float) -> bool:
        return bool(self._renew(keys=[self.k_leases, self.k_tokens], args=[job.id, job.token,
                                                                          time.time() + lease_seconds]))

    def ack(self, job: Job) -> None:
        self._ack(keys=[self.k_leases, self.k_tokens], args=[job.id, job.token])

    def release(self, job: Job) -> None:
        self.renew(job, -1)

    def depth(self) -> int:
        return int(self.r.llen(self.k_pending)) + int(self.r.zcard(self.k_leases))

    def ping(self) -> None:
        self.r.ping()

    def refill(self, gb: Gradebook) -> int:
        """Re-push submissions the gradebook says are pending (enqueue is idempotent per round)."""
        n = 0
        for p in gb.pending():
            n += int(self._enqueue(keys=[self.k_known, self.k_pending], args=[f"{p['id']}:{p['round']}"]) or 0)
        return n


def make_queue(settings, gb: Gradebook):
    if settings.queue_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisQueue(settings.queue_url, settings.queue_prefix, settings.max_attempts, gb)
    return SQLQueue(gb, settings.max_attempts)
