"""What the engine reports to users: every error here carries a message meant to be shown as it is."""

from __future__ import annotations

from worker.store.states import Action, JobStatus, describe_allowed


class DockError(Exception):
    """Base of every error the engine reports to users; its message is meant to be shown as is."""


class JobNotFound(DockError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} does not exist")
        self.job_id = job_id


class TransitionRefused(DockError):
    """A user action that the job's current state does not allow."""

    def __init__(self, job_id: int, action: Action, status: JobStatus) -> None:
        super().__init__(
            f"cannot {action.value} job {job_id}: it is {status.value}; "
            f"{action.value} is allowed only when it is {describe_allowed(action)}"
        )
        self.job_id = job_id
        self.action = action
        self.status = status


class DatabaseError(DockError):
    """The database cannot be used as it is; nothing was changed."""


class DatabaseLocked(DatabaseError):
    pass


class DatabaseCorrupt(DatabaseError):
    pass


class DatabaseTooNew(DatabaseError):
    pass


class DatabaseReplaced(DatabaseError):
    """The database file was deleted or replaced under a running process."""
