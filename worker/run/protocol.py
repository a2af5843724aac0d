"""The words the worker and its handler processes speak, and the words the worker uses for how things end.

The worker writes one JSON object per line to a handler process's control pipe ({"op": ...}); the handler
process answers on its event pipe ({"ev": ...}). Neither pipe is stdout or stderr, so nothing a handler prints
can garble them. Runs are named by their claim token.
"""

from __future__ import annotations

from enum import StrEnum


class Op(StrEnum):
    """What the worker asks of a handler process."""

    RUN = "run"
    """Run this job now, or after the current one (short jobs never wait on the round trip)."""
    CANCEL = "cancel"
    """Stop this run: the running one is asked (JobCancelled), a waiting one is reported cancelled unrun."""
    WITHDRAW = "withdraw"
    """Hand this waiting run back unrun; answered by WITHDRAWN only if it had not begun."""


class Ev(StrEnum):
    """What a handler process tells the worker."""

    READY = "ready"
    """Started, with its handlers loaded."""
    UNUSABLE = "unusable"
    """It could not start (the memory limit too small to load the handlers, say); `error` says why."""
    PROGRESS = "progress"
    DONE = "done"
    """The handler returned; `result` is what it returned."""
    FAILED = "failed"
    """The handler raised; `permanent` when no retry can help (PermanentError)."""
    CANCELLED = "cancelled"
    """It stopped because it was asked to (or never began, when cancelled while waiting)."""
    WITHDRAWN = "withdrawn"
    """A waiting run came back unrun, as asked."""


ENDINGS = frozenset({Ev.DONE, Ev.FAILED, Ev.CANCELLED})


class Ending(StrEnum):
    """How an attempt ended, as the worker records it."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DIED = "died"
    """Its process died (a crash, the memory limit, a kill for a time limit or after the grace)."""


class StopReason(StrEnum):
    """Why the worker asked a job to stop, which decides what its ending means."""

    LOST = "lost"
    """Cancelled, deleted, force-failed or rescued elsewhere: the claim is gone, there is nothing to record."""
    SHUTDOWN = "shutdown"
    """The worker is stopping: the job goes back to pending, its attempt not counted."""
    GIVEN_BACK = "given back"
    """Claimed ahead, but its slot was held up by a slow job: back to pending, never started."""


class Shutdown(StrEnum):
    """Why the worker itself stops."""

    SIGTERM = "SIGTERM"
    SIGINT = "SIGINT"
    PARENT_GONE = "parent gone"
    """The window that started it is gone."""
    IDLE = "idle"
    """--exit-when-idle, and nothing is pending or running."""
    STORE_GONE = "database deleted or replaced"
