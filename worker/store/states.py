"""Job states, the user actions on them, and the one table of which action is allowed from which state."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    """Waiting for a worker (possibly until `run_after`, after a failed attempt)."""
    RUNNING = "running"
    """Claimed by a worker, whose claim token fences every write it makes."""
    COMPLETED = "completed"
    """The handler returned; `result` holds what it returned."""
    FAILED = "failed"
    """Every attempt failed (or was force-failed); `error` holds the last reason."""
    CANCELLED = "cancelled"
    """Stopped by a user; never retried automatically."""


ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
FINISHED: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class Action(StrEnum):
    """What a user (window, CLI) can ask of a job."""

    CANCEL = "cancel"
    DELETE = "delete"
    FAIL = "fail"
    RETRY = "retry"


ALLOWED: dict[Action, frozenset[JobStatus]] = {
    # A cancelled job may be cancelled again: it succeeds and says so (idempotent, never an error).
    Action.CANCEL: frozenset({JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELLED}),
    # Delete is allowed from every state: an active job is cancelled first, in the same transaction.
    Action.DELETE: frozenset(JobStatus),
    Action.FAIL: ACTIVE,
    Action.RETRY: frozenset({JobStatus.FAILED, JobStatus.CANCELLED}),
}


def allowed_actions(status: JobStatus) -> list[Action]:
    """The actions a job in `status` accepts, in the order the window shows them."""
    return [action for action in Action if status in ALLOWED[action]]


def describe_allowed(action: Action) -> str:
    """'pending or running' for the states `action` accepts, for error messages."""
    names = [s.value for s in JobStatus if s in ALLOWED[action]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
