"""Plain, immutable job rows as the engine hands them out (never ORM objects), and their JSON form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from worker.store.errors import DockError
from worker.store.states import JobStatus


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 in UTC, or None."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Job:
    """One job as stored. Times are seconds since the epoch (UTC)."""

    id: int
    handler: str
    filename: str
    input_path: str
    size: int
    params: dict[str, str]
    status: JobStatus
    progress: int
    message: str
    attempts: int
    max_attempts: int
    error: str | None
    traceback: str | None
    result: dict[str, Any] | None
    run_after: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    cancelled_at: float | None
    cancelled_by: str | None
    claimed_by: str | None
    rev: int

    @property
    def not_retried(self) -> bool:
        """Failed with attempts left: its handler said no retry can succeed (PermanentError)."""
        return self.status is JobStatus.FAILED and self.attempts < self.max_attempts

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Job:
        """A job from its row's values in JOB_FIELDS order (statements.JOB selects them so)."""
        values = list(row)
        values[_PARAMS] = json_value(values[_PARAMS]) or {}
        values[_STATUS] = JobStatus(values[_STATUS])
        values[_RESULT] = json_value(values[_RESULT])
        return cls(*values)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "handler": self.handler,
            "filename": self.filename,
            "input_path": self.input_path,
            "size": self.size,
            "params": self.params,
            "progress": self.progress,
            "message": self.message,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "error": self.error,
            "traceback": self.traceback,
            "result": self.result,
            "run_after": iso(self.run_after),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "updated_at": iso(self.updated_at),
            "cancelled_at": iso(self.cancelled_at),
            "cancelled_by": self.cancelled_by,
            "worker": self.claimed_by,
        }


JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Job))
_PARAMS, _STATUS, _RESULT = (JOB_FIELDS.index(name) for name in ("params", "status", "result"))


def json_value(value: Any) -> Any:
    """A JSON column's value: SQLite hands back the text, PostgreSQL (JSONB) the value itself."""
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker's row: who it is, the terms it runs on, and when it last proved it was alive.

    lease_s: how long it may stay silent before it is presumed dead (it heartbeats three times within it).
    grace_s: how long its handlers get to stop before they are killed.
    """

    id: str
    pid: int
    host: str
    concurrency: int
    lease_s: float
    grace_s: float
    started_at: float
    heartbeat_at: float


WORKER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(WorkerInfo))


@dataclass(frozen=True, slots=True)
class Event:
    """One transition in a job's history."""

    at: float
    actor: str
    from_status: str | None
    to_status: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "actor": self.actor, "from": self.from_status, "to": self.to_status,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class NewJob:
    """What `Store.add` needs for one job; `staged` is the upload's staging folder, renamed into place."""

    handler: str
    filename: str
    filename_raw: bytes | None
    input_name: str
    size: int
    params: dict[str, str]
    max_attempts: int
    staged: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a worker has claimed; `token` fences every write the worker makes for it."""

    job_id: int
    token: str
    handler: str
    input_path: str
    params: dict[str, str]
    attempts: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Completion:
    """An attempt whose handler returned, for the fenced write that records it.

    `started_at` is when the handler really started (epoch seconds), which for a job claimed ahead of time is a
    little after its claim; 0 keeps the claim's time.
    """

    job_id: int
    token: str
    result: dict[str, Any] | None
    started_at: float = 0.0
    outputs: bool = True  # False: the attempt made no folder, so there is nothing to publish


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one user action did to one job: `ok` false means refused, `message` says why, `error` is the refusal."""

    job_id: int
    ok: bool
    message: str
    error: DockError | None = None
