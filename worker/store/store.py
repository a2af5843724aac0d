"""The job store: every state change is one conditional UPDATE (compare-and-set) in one transaction."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from worker.store import statements as sql
from worker.store.database import Database
from worker.store.errors import JobNotFound
from worker.store.layout import DataDir, resolve_data_dir
from worker.store.leases import DEFAULT_GRACE_S, DEFAULT_LEASE_S
from worker.store.prepared import Tx
from worker.store.rows import Claim, Completion, Event, Job, NewJob, Outcome, WorkerInfo
from worker.store.sqlite import Role, open_sqlite
from worker.store.states import Action, JobStatus
from worker.store.transitions import Backoff, Failure, Transitions, add_events, event

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
COMPLETED = JobStatus.COMPLETED.value
DEFAULT_MAX_ATTEMPTS = 3
MAX_JOB_ID = 2**63 - 1  # what the database's integer holds; a larger id names no job
STALE_STAGING_S = 24 * 3600.0  # an upload still being copied touches its files far more often than this
CHUNK = 500  # ids per statement: well under SQLite's limits on statement size


class Store:
    """The job store on one data folder. Safe to share between threads; many processes may open it at once.

    Attributes:
        data: the data folder's layout.
        db: the database and its transactions (`db.read()`, `db.write()`).
        transitions: the user actions and the failure policy.
        clock: seconds since the epoch (tests replace it).
    """

    def __init__(
        self,
        data_dir: str | PathLike[str] | None = None,
        role: Role = "user",
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = DataDir(resolve_data_dir(data_dir)).ensure()
        self.db: Database = open_sqlite(self.data.database, role)
        self.data.mark()
        self.transitions = Transitions(backoff or Backoff.from_env())
        self.clock = clock

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def own_connection(self) -> Connection:
        return self.db.own_connection()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def check_identity(self) -> None:
        """Raise DatabaseReplaced if the database was deleted or replaced since it was opened."""
        self.db.check_identity()

    # ---- adding -------------------------------------------------------------------------------------------

    def add(self, new_jobs: Sequence[NewJob], actor: str = "user") -> list[int]:
        """Insert jobs in one transaction and move their staged uploads into place; returns their ids."""
        if not new_jobs:
            return []
        now = self.clock()
        values = [
            {
                "handler": nj.handler,
                "filename": nj.filename,
                "filename_raw": nj.filename_raw,
                "input_path": f"input/{nj.input_name}",
                "size": nj.size,
                "params": json.dumps(nj.params) if nj.params else "{}",  # most jobs have none: skip the encoder
                "status": PENDING,
                "max_attempts": nj.max_attempts,
                "attempt_budget": nj.max_attempts,
                "run_after": now,
                "created_at": now,
                "updated_at": now,
                "added_by": actor,  # the row stands for the "added" history entry (see history())
            }
            for nj in new_jobs
        ]
        with self.db.write() as tx:
            ids = [int(tx.scalar(sql.ADD_JOB, row)) for row in values]
            # Renaming inside the transaction: a job row never exists without its input, and a crash
            # leaves at worst an unreferenced folder that sweep_orphans() removes.
            for job_id, nj in zip(ids, new_jobs, strict=True):
                if nj.staged is not None:
                    target = self.data.job_dir(job_id)
                    if target.exists():  # left by an add that crashed before committing this id
                        self.data.remove_job_files(job_id)
                    Path(nj.staged).rename(target)
        return ids

    # ---- user actions -------------------------------------------------------------------------------------

    def cancel(self, job_id: int, by: str = "user") -> str:
        return self._one(Action.CANCEL, job_id, by)

    def delete(self, job_id: int, by: str = "user") -> str:
        return self._one(Action.DELETE, job_id, by)

    def force_fail(self, job_id: int, by: str = "user") -> str:
        return self._one(Action.FAIL, job_id, by)

    def retry(self, job_id: int, by: str = "user", params: dict[str, str] | None = None) -> str:
        """Queue a failed or cancelled job again; `params` are set (or changed) for its new attempts."""
        return self._one(Action.RETRY, job_id, by, params)

    def _one(self, action: Action, job_id: int, by: str, params: dict[str, str] | None = None) -> str:
        (outcome,) = self.apply(action, [job_id], by, params=params)
        if outcome.error is not None:
            # The error seen inside the refusing transaction: reading the state again could race.
            raise outcome.error
        return outcome.message

    def apply(
        self, action: Action, job_ids: Iterable[int], by: str = "user", only_from: Iterable[JobStatus] | None = None,
        params: dict[str, str] | None = None,
    ) -> list[Outcome]:
        """Apply `action` to each job in one transaction; each job is accepted or refused on its own.

        An id given twice is acted on and reported once. only_from narrows the states acted on to those the
        user saw: "Clear Finished" must not delete a job that was retried since it was counted, although a
        delete is allowed from every state. params (Retry only) are merged into each job's parameters.
        """
        if params and action is not Action.RETRY:
            raise ValueError("only a retry takes new parameters")
        ids = list(dict.fromkeys(job_ids))
        now = self.clock()
        narrowed = None if only_from is None else {JobStatus(s).value for s in only_from}
        with self.db.write() as tx:
            outcomes = [self._act(tx, action, job_id, by, now, narrowed, params) for job_id in ids]
        if action is Action.DELETE:
            # Best effort now; the worker running a deleted job removes what its handler wrote after it
            # stops, and sweep_orphans() catches anything a crash left behind.
            for outcome in outcomes:
                if outcome.ok:
                    self.data.remove_job_files(outcome.job_id)
        return outcomes

    def _act(self, tx: Tx, action: Action, job_id: int, by: str, now: float, narrowed: set[str] | None,
             params: dict[str, str] | None) -> Outcome:
        if not 0 < job_id <= MAX_JOB_ID:  # no such row can exist, and the driver could not even bind it
            return Outcome(job_id, False, str(JobNotFound(job_id)), JobNotFound(job_id))
        seen = self.transitions.changed_since_seen(tx, job_id, narrowed)
        if seen is not None:
            return seen
        if params:
            return self.transitions.retry(tx, job_id, by, now, params)
        return self.transitions.act(action, tx, job_id, by, now)

    # ---- reading ------------------------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        row = None
        if 0 < job_id <= MAX_JOB_ID:
            with self.db.read() as tx:
                row = tx.first(sql.GET, {"job_id": job_id})
        if row is None:
            raise JobNotFound(job_id)
        return Job.from_row(row)

    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]:
        """The jobs among `job_ids` that exist, by id."""
        found: dict[int, Job] = {}
        wanted = [j for j in job_ids if 0 < j <= MAX_JOB_ID]
        with self.db.read() as tx:
            for start in range(0, len(wanted), CHUNK):
                for row in tx.rows(sql.JOB.where(sql.ids_in(sql.jobs.c.id, wanted[start:start + CHUNK]))):
                    job = Job.from_row(row)
                    found[job.id] = job
        return found

    def history(self, job_id: int) -> list[Event]:
        """The job's transitions, oldest first, opening with its "added" entry (built from the job row)."""
        if not 0 < job_id <= MAX_JOB_ID:
            return []
        with self.db.read() as tx:
            added = tx.first(sql.ADDED, {"job_id": job_id})
            rows = tx.rows(sql.HISTORY, {"job_id": job_id})
        if added is None:
            return []
        created_at, added_by, filename, handler = added
        opening = [] if added_by is None else [
            Event(created_at, added_by, None, PENDING, f"added {filename!r} for handler {handler}")]
        return opening + [Event(*row) for row in rows]

    def list_jobs(
        self,
        status: JobStatus | str | None = None,
        search: str | None = None,
        order_by: str = "id",
        descending: bool = True,
        limit: int | None = None,
    ) -> list[Job]:
        """Jobs matching the filter, newest first unless told otherwise."""
        query = sql.JOB.where(*sql.filtered(status, search)).order_by(*sql.ordered(order_by, descending))
        with self.db.read() as tx:
            return [Job.from_row(row) for row in tx.rows(query.limit(limit))]

    def revisions(
        self,
        status: JobStatus | str | None = None,
        search: str | None = None,
        order_by: str = "id",
        descending: bool = True,
    ) -> list[tuple[int, int]]:
        """(id, rev) of every matching job in display order: cheap enough to diff a 100,000-row view."""
        query = (select(sql.jobs.c.id, sql.jobs.c.rev).where(*sql.filtered(status, search))
                 .order_by(*sql.ordered(order_by, descending)))
        with self.db.read() as tx:
            return [(row[0], row[1]) for row in tx.rows(query)]

    def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each state (every state present, zero or not)."""
        with self.db.read() as tx:
            rows: dict[str, int] = dict(tx.rows(sql.COUNTS))
        return {status: int(rows.get(status.value, 0)) for status in JobStatus}

    def unfinished(self) -> int:
        """Jobs pending or running: zero means a worker started with --exit-when-idle may stop."""
        with self.db.read() as tx:
            return int(tx.scalar(sql.UNFINISHED) or 0)

    # ---- workers ------------------------------------------------------------------------------------------

    def register_worker(self, pid: int, host: str, concurrency: int, worker_id: str | None = None,
                        lease_s: float = DEFAULT_LEASE_S, grace_s: float = DEFAULT_GRACE_S) -> str:
        """Add (or renew) a worker's row, with the lease and grace every other process judges it by."""
        worker_id = worker_id or f"{host}:{pid}:{uuid.uuid4().hex[:8]}"
        now = self.clock()
        with self.db.write() as tx:
            tx.run(sql.UNREGISTER, {"worker_id": worker_id})
            tx.run(sql.REGISTER, {"id": worker_id, "pid": pid, "host": host, "concurrency": concurrency,
                                  "lease_s": lease_s, "grace_s": grace_s, "started_at": now, "heartbeat_at": now})
        return worker_id

    def heartbeat(self, worker_id: str) -> bool:
        """Prove this worker alive; False if its row was removed (it was presumed dead: re-register)."""
        with self.db.write() as tx:
            return tx.changed(sql.HEARTBEAT, {"worker_id": worker_id, "now": self.clock()}) == 1

    def unregister_worker(self, worker_id: str) -> None:
        with self.db.write() as tx:
            tx.run(sql.UNREGISTER, {"worker_id": worker_id})

    def live_workers(self) -> list[WorkerInfo]:
        """Workers that heartbeat within their own lease, oldest first."""
        with self.db.read() as tx:
            return [WorkerInfo(*row) for row in tx.rows(sql.LIVE_WORKERS, {"now": self.clock()})]

    def rescue(self, actor: str) -> list[int]:
        """Fail the attempts of jobs held by workers silent past their own lease (or gone); forget those workers."""
        now = self.clock()
        rescued = []
        with self.db.write() as tx:
            for job_id, attempts, max_attempts, token in tx.rows(sql.ORPHANED, {"now": now}):
                if self.transitions.failed_attempt(tx, job_id, {"token": token}, attempts, max_attempts,
                                                   Failure("worker died", None, actor), now):
                    rescued.append(job_id)
            tx.run(sql.FORGET_DEAD, {"now": now})
        return rescued

    # ---- the worker's side of a job -----------------------------------------------------------------------

    def has_due_work(self) -> bool:
        """A cheap read: is any pending job due? Lets an idle worker skip taking the write lock."""
        with self.db.read() as tx:
            return tx.first(sql.HAS_DUE, {"now": self.clock()}) is not None

    def claim(self, worker_id: str, limit: int = 1) -> list[Claim]:
        """Atomically claim up to `limit` due jobs, oldest due first; no job is ever claimed twice."""
        return self.complete_and_claim(worker_id, (), limit)[2]

    def complete(self, job_id: int, token: str, result: dict[str, Any] | None, actor: str) -> bool:
        """Mark a claimed job completed; False if the claim was lost (cancelled, deleted, rescued).

        The attempt's folder becomes the job's output/ in the same transaction, so only the attempt that
        holds the claim can ever publish outputs, however long a stale attempt runs on.
        """
        return job_id in self.complete_and_claim(actor, [Completion(job_id, token, result)], 0)[0]

    def complete_and_claim(
        self, worker_id: str, completions: Sequence[Completion], limit: int,
    ) -> tuple[set[int], dict[int, str], list[Claim]]:
        """The worker's cycle in one transaction: record finished attempts, then claim up to `limit` jobs.

        Each completion is its own fenced UPDATE (a lost claim refuses only itself) and publishes its attempt's
        folder as output/, under a savepoint: one whose folder cannot be moved (a handler left it read-only)
        is undone alone and returned with the reason, for the caller to fail. Returns the ids recorded as
        completed, those unpublished, and the new claims in id order. One commit for many jobs is what lets a
        worker keep up with handlers that take a fraction of a millisecond.
        """
        now = self.clock()
        token = uuid.uuid4().hex
        completed: set[int] = set()
        unpublished: dict[int, str] = {}
        with self.db.write() as tx:
            for done in completions:
                values = {"job_id": done.job_id, "token": done.token, "outcome": json.dumps(done.result),
                          "now": now, "started": min(done.started_at, now)}
                if not done.outputs:  # nothing to publish, so nothing that could fail after the update
                    if tx.changed(sql.COMPLETE, values) == 1:
                        completed.add(done.job_id)
                    continue
                try:
                    with tx.savepoint("completion"):
                        if tx.changed(sql.COMPLETE, values) == 1:
                            self.data.publish_attempt(done.job_id, done.token)
                            completed.add(done.job_id)
                except OSError as error:
                    unpublished[done.job_id] = error.strerror or str(error)
            add_events(tx, [event(job_id, now, worker_id, RUNNING, COMPLETED, "handler returned")
                            for job_id in sorted(completed)])
            rows = []
            if limit > 0:
                rows = tx.rows(sql.CLAIM, {"now": now, "limit": limit, "token": token, "worker": worker_id})
                add_events(tx, [event(job_id, now, worker_id, PENDING, RUNNING, f"attempt {attempts} of {max_attempts}")
                                for job_id, _h, _i, _p, attempts, max_attempts in rows])
        claims = [Claim(job_id, token, handler, input_path, dict(json.loads(params) or {}), attempts, max_attempts)
                  for job_id, handler, input_path, params, attempts, max_attempts in rows]
        return completed, unpublished, sorted(claims, key=lambda c: c.job_id)

    def report_progress(self, job_id: int, token: str, percent: int, message: str) -> bool:
        with self.db.write() as tx:
            return tx.changed(sql.PROGRESS, {
                "job_id": job_id, "token": token, "percent": max(0, min(100, int(percent))), "text": message[:500],
                "now": self.clock(),
            }) == 1

    def fail(self, job_id: int, token: str, error: str, traceback: str | None, actor: str,
             permanent: bool = False) -> str:
        """A failed attempt of a claimed job; returns the new status, or "" if the claim was lost.

        permanent: the handler said no retry can help (PermanentError): failed now, whatever attempts are left.
        """
        now = self.clock()
        with self.db.write() as tx:
            row = tx.first(sql.FENCED_ATTEMPTS, {"job_id": job_id, "token": token})
            if row is None:
                return ""
            return self.transitions.failed_attempt(tx, job_id, {"token": token}, row[0], row[1],
                                                   Failure(error, traceback, actor, permanent), now)

    def release(self, job_id: int, token: str, actor: str, reason: str) -> bool:
        """Put an interrupted job back to pending without counting its attempt (graceful shutdown)."""
        now = self.clock()
        with self.db.write() as tx:
            changed = tx.changed(sql.RELEASE, {"job_id": job_id, "token": token, "now": now}) == 1
            if changed:
                add_events(tx, [event(job_id, now, actor, RUNNING, PENDING, reason)])
        return changed

    def lost_claims(self, claims: dict[int, str]) -> set[int]:
        """Of the claimed jobs (id -> token), those no longer ours: cancelled, deleted, failed or re-claimed.

        One query for all of them, whatever their number: this is the worker's once-a-second poll.
        """
        if not claims:
            return set()
        with self.db.read() as tx:
            held = tx.rows(select(sql.jobs.c.id, sql.jobs.c.claim_token).where(sql.ids_in(sql.jobs.c.id, claims)))
        return set(claims) - {job_id for job_id, token in held if token == claims[job_id]}

    def sweep_orphans(self) -> list[int]:
        """Remove job folders whose job no longer exists (deleted while its worker died, say).

        Also removes uploads a crashed `add` left in staging/, once nothing has touched them for a day.
        """
        self.data.remove_stale_staging(self.clock() - STALE_STAGING_S)
        if not self.data.jobs.exists():
            return []
        with self.db.read() as tx:
            # Only ids already handed out: a folder above the sequence may belong to an add in progress.
            top = tx.scalar(sql.HANDED_OUT) or 0
            existing = {row[0] for row in tx.rows(sql.ALL_IDS)}
        removed = []
        for folder in self.data.jobs.iterdir():
            if (folder.name.isdigit() and int(folder.name) <= top and int(folder.name) not in existing
                    and self.data.remove_job_files(int(folder.name))):
                removed.append(int(folder.name))
        return sorted(removed)
