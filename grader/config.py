"""Settings: DATA/config.json (optional) overridden by GRADER_* environment variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _default_extra_ro() -> list[str]:
    # the course library is public and notebooks import it; nothing else of the project is visible
    lib = os.path.join(PROJECT_ROOT, "academy")
    return [lib] if os.path.isdir(lib) else []


@dataclass
class Settings:
    data: str
    db_url: str = ""
    queue_url: str = "sql"                 # "sql" (the gradebook database) or redis://host:port/db
    queue_prefix: str = "grader"
    lease_seconds: int = 60
    poll_seconds: float = 0.5
    max_attempts: int = 3
    max_upload_bytes: int = 8 << 20
    max_notebook_bytes: int = 8 << 20
    max_zip_entries: int = 32
    rate_limit: int = 30                   # submissions per learner per rate_window seconds (0: off)
    rate_window: int = 60
    allow_unsandboxed: bool = False
    feedback_detail: str = "full"          # "full": public tests show messages; "types": exception types only
    limits: dict = field(default_factory=dict)   # defaults for sandbox.Limits; assignments may override
    extra_ro: list = field(default_factory=_default_extra_ro)

    @classmethod
    def load(cls, data: str | None = None) -> Settings:
        data = os.path.abspath(data or os.environ.get("GRADER_DATA") or "./var/grader")
        os.makedirs(data, exist_ok=True)
        values: dict = {}
        path = os.path.join(data, "config.json")
        if os.path.exists(path):
            with open(path) as f:
                values.update(json.load(f))
        env = {
            "db_url": "GRADER_DB_URL", "queue_url": "GRADER_QUEUE_URL", "queue_prefix": "GRADER_QUEUE_PREFIX",
            "lease_seconds": "GRADER_LEASE_SECONDS", "rate_limit": "GRADER_RATE_LIMIT",
            "rate_window": "GRADER_RATE_WINDOW", "max_upload_bytes": "GRADER_MAX_UPLOAD_BYTES",
            "allow_unsandboxed": "GRADER_ALLOW_UNSANDBOXED", "poll_seconds": "GRADER_POLL_SECONDS",
            "max_attempts": "GRADER_MAX_ATTEMPTS", "feedback_detail": "GRADER_FEEDBACK_DETAIL",
        }
        for key, var in env.items():
            if os.environ.get(var):
                values[key] = os.environ[var]
        if os.environ.get("GRADER_LIMITS"):
            values["limits"] = {**values.get("limits", {}), **json.loads(os.environ["GRADER_LIMITS"])}
        s = cls(data=data)
        for k, v in values.items():
            if k not in cls.__dataclass_fields__ or k == "data":
                continue
            cur = getattr(s, k)
            if isinstance(cur, bool):
                v = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
            elif isinstance(cur, int):
                v = int(v)
            elif isinstance(cur, float):
                v = float(v)
            setattr(s, k, v)
        if not s.db_url:
            s.db_url = "sqlite:///" + os.path.join(data, "gradebook.db")
        return s
