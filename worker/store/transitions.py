"""The compare-and-set behind each user action, and the failure policy that a failed attempt goes through."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from worker.store.errors import DockError, JobNotFound, TransitionRefused
from worker.store.rows import Outcome
from worker.store.schema import jobs
from worker.store.statements import ADD_EVENT, not_before
from worker.store.states import ALLOWED, Action, JobStatus

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
FAILED, CANCELLED = JobStatus.FAILED.value, JobStatus.CANCELLED.value
FORCE_FAIL_REASON = "force-failed by user"


def add_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """History rows, in the caller's transaction."""
    if rows:
        ADD_EVENT.run_many(conn, rows)


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
class Transitions:
    """Each action on one job as a conditional UPDATE/DELETE in the caller's transaction; refusals say why."""

    backoff: Backoff

    def act(self, action: Action, conn: Connection, job_id: int, by: str, now: float) -> Outcome:
        step = {Action.CANCEL: self.cancel, Action.DELETE: self.delete, Action.FAIL: self.force_fail,
                Action.RETRY: self.retry}[action]
        return step(conn, job_id, by, now)

    @staticmethod
    def changed_since_seen(conn: Connection, job_id: int, narrowed: set[str] | None) -> Outcome | None:
        """A refusal if the job has left the states the user acted on; None to go ahead (same transaction)."""
        if narrowed is None:
            return None
        status = conn.scalar(select(jobs.c.status).where(jobs.c.id == job_id))
        if status is None:
            return Outcome(job_id, False, str(JobNotFound(job_id)), JobNotFound(job_id))
        if status not in narrowed:
            return Outcome(job_id, False, f"job {job_id} is now {status}; left as it is")
        return None

    @staticmethod
    def explain(conn: Connection, action: Action, job_id: int) -> Outcome:
        status = conn.scalar(select(jobs.c.status).where(jobs.c.id == job_id))
        error: DockError = (
            JobNotFound(job_id) if status is None else TransitionRefused(job_id, action, JobStatus(status))
        )
        return Outcome(job_id, False, str(error), error)

    def cancel(self, conn: Connection, job_id: int, by: str, now: float) -> Outcome:
        seen = conn.scalar(select(jobs.c.status).where(jobs.c.id == job_id))
        if seen == CANCELLED:
            return Outcome(job_id, True, f"job {job_id} was already cancelled")
        row = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == seen, jobs.c.status.in_([PENDING, RUNNING]))
            .values(
                status=CANCELLED, cancelled_at=now, cancelled_by=by, claim_token=None, claimed_by=None,
                finished_at=not_before(now, func.coalesce(jobs.c.started_at, jobs.c.created_at)),
                updated_at=now, rev=jobs.c.rev + 1,
            )
            .returning(jobs.c.id, jobs.c.started_at)
        ).first()
        return self._moved(conn, row, Action.CANCEL, job_id, f"job {job_id} cancelled", {
            "job_id": job_id, "at": now, "actor": by, "from_status": seen, "to_status": CANCELLED,
            "reason": "cancelled"})

    def delete(self, conn: Connection, job_id: int, by: str, now: float) -> Outcome:
        status = conn.scalar(delete(jobs).where(jobs.c.id == job_id).returning(jobs.c.status))
        if status is None:
            return self.explain(conn, Action.DELETE, job_id)
        verb = "cancelled and deleted" if status in (PENDING, RUNNING) else "removed"
        return Outcome(job_id, True, f"job {job_id} {verb}")

    def force_fail(self, conn: Connection, job_id: int, by: str, now: float) -> Outcome:
        seen = conn.execute(
            select(jobs.c.status, jobs.c.attempts, jobs.c.max_attempts).where(jobs.c.id == job_id)
        ).first()
        if seen is None or seen.status not in ALLOWED[Action.FAIL]:
            return self.explain(conn, Action.FAIL, job_id)
        # A pending job has not spent an attempt yet; forcing it to fail spends one.
        attempts = seen.attempts + (1 if seen.status == PENDING else 0)
        to = self.failed_attempt(conn, job_id, seen.status, seen.attempts, attempts, seen.max_attempts,
                                 FORCE_FAIL_REASON, None, by, now)
        return Outcome(job_id, True, f"job {job_id} force-failed; it is now {to}")

    def retry(self, conn: Connection, job_id: int, by: str, now: float) -> Outcome:
        seen = conn.scalar(select(jobs.c.status).where(jobs.c.id == job_id))
        row = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == seen, jobs.c.status.in_([FAILED, CANCELLED]))
            .values(
                status=PENDING, run_after=now, progress=0, message="", finished_at=None,
                cancelled_at=None, cancelled_by=None,
                # A retry grants another full round of attempts; the ones already spent stay counted.
                max_attempts=jobs.c.attempts + jobs.c.attempt_budget,
                updated_at=now, rev=jobs.c.rev + 1,
            )
            .returning(jobs.c.id)
        ).first()
        return self._moved(conn, row, Action.RETRY, job_id, f"job {job_id} queued again", {
            "job_id": job_id, "at": now, "actor": by, "from_status": seen, "to_status": PENDING, "reason": "retry"})

    def _moved(self, conn: Connection, row: object, action: Action, job_id: int, message: str,
               event: dict[str, Any]) -> Outcome:
        """The outcome of a conditional UPDATE: a refusal that says why if it matched nothing, else recorded."""
        if row is None:
            return self.explain(conn, action, job_id)
        add_events(conn, [event])
        return Outcome(job_id, True, message)

    def failed_attempt(
        self,
        conn: Connection,
        job_id: int,
        from_status: str,
        seen_attempts: int,
        attempts: int,
        max_attempts: int,
        error: str,
        traceback: str | None,
        actor: str,
        now: float,
        token: str | None = None,
        permanent: bool = False,
    ) -> str:
        """The failure policy: back to pending after a backoff while attempts remain, else failed; a permanent
        error (the input can never succeed) fails at once."""
        retrying = attempts < max_attempts and not permanent
        delay = self.backoff.delay(attempts) if retrying else 0.0
        fence = [jobs.c.id == job_id, jobs.c.status == from_status, jobs.c.attempts == seen_attempts]
        if token is not None:
            fence.append(jobs.c.claim_token == token)
        values: dict[str, Any] = {
            "status": PENDING if retrying else FAILED,
            "attempts": attempts, "error": error, "traceback": traceback,
            "claim_token": None, "claimed_by": None, "updated_at": now, "rev": jobs.c.rev + 1,
        }
        if retrying:
            values.update(run_after=now + delay, finished_at=None,
                          message=f"retrying after: {error}"[:500])
        else:
            # The message is what the window shows: a failed job must not keep saying it will retry.
            values.update(finished_at=not_before(now, func.coalesce(jobs.c.started_at, jobs.c.created_at)),
                          message=(f"not retried: {error}" if permanent else f"failed: {error}")[:500])
        changed = conn.execute(update(jobs).where(*fence).values(**values)).rowcount
        if changed != 1:
            return ""
        to = values["status"]
        why = (f"{error}; retry {attempts + 1} of {max_attempts} in {delay:.0f} s" if retrying
               else f"{error} (not retried: the handler said no retry can succeed)" if permanent else error)
        add_events(conn, [{"job_id": job_id, "at": now, "actor": actor, "from_status": from_status,
                            "to_status": to, "reason": why}])
        return str(to)
