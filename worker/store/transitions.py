"""The compare-and-set behind each user action, and the failure policy that a failed attempt goes through."""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worker.store import statements as sql
from worker.store.errors import DockError, JobNotFound, TransitionRefused
from worker.store.prepared import Tx
from worker.store.rows import Outcome, json_value
from worker.store.states import ALLOWED, Action, JobStatus

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
FAILED, CANCELLED = JobStatus.FAILED.value, JobStatus.CANCELLED.value
FORCE_FAIL_REASON = "force-failed by user"
MAX_MESSAGE = 500


def add_events(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """History rows, in the caller's transaction."""
    if rows:
        tx.many(sql.ADD_EVENT, rows)


def event(job_id: int, now: float, actor: str, from_status: str | None, to_status: str, reason: str) -> dict[str, Any]:
    return {"job_id": job_id, "at": now, "actor": actor, "from_status": from_status, "to_status": to_status,
            "reason": reason}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter between attempts: base * 2^(attempt-1), capped, times 0.5..1."""

    base: float = 2.0
    cap: float = 300.0

    def delay(self, attempts: int) -> float:
        return min(self.cap, self.base * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)

    @classmethod
    def from_env(cls) -> Backoff:
        """The defaults, or $DOCK_RETRY_BASE / $DOCK_RETRY_CAP (seconds), e.g. for a dock that should retry fast."""
        def seconds(name: str, default: float) -> float:
            try:
                value = float(os.environ.get(name, default))
            except ValueError:
                return default
            return value if math.isfinite(value) and value >= 0 else default

        default = cls()
        return cls(seconds("DOCK_RETRY_BASE", default.base), seconds("DOCK_RETRY_CAP", default.cap))


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, for the failure policy: what went wrong and who says so."""

    error: str
    traceback: str | None
    actor: str
    permanent: bool = False  # the handler said no retry can help (PermanentError)


@dataclass(frozen=True, slots=True)
class Transitions:
    """Each action on one job as a conditional UPDATE/DELETE in the caller's transaction; refusals say why."""

    backoff: Backoff

    def act(self, action: Action, tx: Tx, job_id: int, by: str, now: float) -> Outcome:
        steps: dict[Action, Callable[[Tx, int, str, float], Outcome]] = {
            Action.CANCEL: self.cancel, Action.DELETE: self.delete, Action.FAIL: self.force_fail,
            Action.RETRY: self.retry}
        return steps[action](tx, job_id, by, now)

    @staticmethod
    def changed_since_seen(tx: Tx, job_id: int, narrowed: set[str] | None) -> Outcome | None:
        """A refusal if the job has left the states the user acted on; None to go ahead (same transaction)."""
        if narrowed is None:
            return None
        status = tx.scalar(sql.STATUS, {"job_id": job_id})
        if status is None:
            return Outcome(job_id, False, str(JobNotFound(job_id)), JobNotFound(job_id))
        if status not in narrowed:
            return Outcome(job_id, False, f"job {job_id} is now {status}; left as it is")
        return None

    @staticmethod
    def explain(tx: Tx, action: Action, job_id: int) -> Outcome:
        status = tx.scalar(sql.STATUS, {"job_id": job_id})
        error: DockError = (
            JobNotFound(job_id) if status is None else TransitionRefused(job_id, action, JobStatus(status))
        )
        return Outcome(job_id, False, str(error), error)

    def cancel(self, tx: Tx, job_id: int, by: str, now: float) -> Outcome:
        seen = tx.scalar(sql.STATUS, {"job_id": job_id})
        if seen == CANCELLED:
            return Outcome(job_id, True, f"job {job_id} was already cancelled")
        changed = tx.changed(sql.CANCEL, {"job_id": job_id, "seen": seen, "by": by, "now": now})
        return self._moved(tx, changed, Action.CANCEL, job_id, f"job {job_id} cancelled",
                           event(job_id, now, by, seen, CANCELLED, "cancelled"))

    def delete(self, tx: Tx, job_id: int, by: str, now: float) -> Outcome:
        status = tx.scalar(sql.DELETE, {"job_id": job_id})
        if status is None:
            return self.explain(tx, Action.DELETE, job_id)
        verb = "cancelled and deleted" if status in (PENDING, RUNNING) else "removed"
        return Outcome(job_id, True, f"job {job_id} {verb}")

    def force_fail(self, tx: Tx, job_id: int, by: str, now: float) -> Outcome:
        seen = tx.first(sql.STATE, {"job_id": job_id})
        if seen is None or seen[0] not in ALLOWED[Action.FAIL]:
            return self.explain(tx, Action.FAIL, job_id)
        status, attempts, max_attempts = seen
        # A pending job has not spent an attempt yet; forcing it to fail spends one.
        spent = attempts + (1 if status == PENDING else 0)
        fence = {"seen": status, "seen_attempts": attempts}
        to = self.failed_attempt(tx, job_id, fence, spent, max_attempts, Failure(FORCE_FAIL_REASON, None, by), now)
        return Outcome(job_id, True, f"job {job_id} force-failed; it is now {to}")

    def retry(self, tx: Tx, job_id: int, by: str, now: float, params: dict[str, str] | None = None) -> Outcome:
        """Back to pending with a new round of attempts; `params` are merged into the job's own (a password, say)."""
        if not params:
            seen = tx.scalar(sql.STATUS, {"job_id": job_id})
            changed = tx.changed(sql.RETRY, {"job_id": job_id, "seen": seen, "now": now})
            return self._moved(tx, changed, Action.RETRY, job_id, f"job {job_id} queued again",
                               event(job_id, now, by, seen, PENDING, "retry"))
        row = tx.first(sql.STATUS_AND_PARAMS, {"job_id": job_id})
        seen, old = (None, {}) if row is None else (row[0], json_value(row[1]) or {})
        merged = json.dumps({**old, **params})
        changed = tx.changed(sql.RETRY_WITH_PARAMS, {"job_id": job_id, "seen": seen, "now": now, "params": merged})
        names = ", ".join(sorted(params))  # never the values: a password must not land in the history
        return self._moved(tx, changed, Action.RETRY, job_id, f"job {job_id} queued again with new {names}",
                           event(job_id, now, by, seen, PENDING, f"retry with new {names}"))

    def _moved(self, tx: Tx, changed: int, action: Action, job_id: int, message: str,
               entry: dict[str, Any]) -> Outcome:
        """The outcome of a conditional UPDATE: a refusal that says why if it matched nothing, else recorded."""
        if changed != 1:
            return self.explain(tx, action, job_id)
        add_events(tx, [entry])
        return Outcome(job_id, True, message)

    def failed_attempt(self, tx: Tx, job_id: int, fence: dict[str, Any], attempts: int, max_attempts: int,
                       failure: Failure, now: float) -> str:
        """The failure policy: back to pending after a backoff while attempts remain, else failed; a permanent
        error (the input can never succeed) fails at once. Returns the new status, or "" if the fence refused.

        fence: {"token": ...} for a worker's claim (fenced like every worker write), or {"seen": ...,
        "seen_attempts": ...} for a user's Force Fail (the state and attempts it read).
        """
        retrying = attempts < max_attempts and not failure.permanent
        delay = self.backoff.delay(attempts) if retrying else 0.0
        error = failure.error
        if retrying:
            message, to = f"retrying after: {error}", PENDING
            why = f"{error}; retry {attempts + 1} of {max_attempts} in {delay:.0f} s"
        elif failure.permanent:
            message, to = f"not retried: {error}", FAILED
            why = f"{error} (not retried: the handler said no retry can succeed)"
        else:  # the message is what the window shows: a failed job must not keep saying it will retry
            message, to, why = f"failed: {error}", FAILED, error
        fenced = "token" in fence
        statement = ((sql.RETRY_LATER_FENCED if fenced else sql.RETRY_LATER_SEEN) if retrying
                     else (sql.FAIL_FENCED if fenced else sql.FAIL_SEEN))
        changed = tx.changed(statement, {
            **fence, "job_id": job_id, "attempts": attempts, "error": error, "traceback": failure.traceback,
            "message": message[:MAX_MESSAGE], "run_after": now + delay, "now": now})
        if changed != 1:
            return ""
        add_events(tx, [event(job_id, now, failure.actor, RUNNING if fenced else fence["seen"], to, why)])
        return to
