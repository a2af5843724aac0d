"""The job store: every state change is one conditional UPDATE (compare-and-set) in one transaction."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from worker.store.database import Role, open_engine, translated
from worker.store.errors import JobNotFound
from worker.store.layout import DataDir, resolve_data_dir
from worker.store.rows import Claim, Completion, Event, Job, NewJob, Outcome
from worker.store.schema import job_events, jobs, workers
from worker.store.statements import ADD_JOB, CLAIM, COMPLETE, HAS_DUE, PROGRESS, filtered, ordered
from worker.store.states import Action, JobStatus
from worker.store.transitions import Backoff, Transitions, add_events

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
COMPLETED = JobStatus.COMPLETED.value
DEFAULT_MAX_ATTEMPTS = 3
STALE_STAGING_S = 24 * 3600.0  # an upload still being copied touches its files far more often than this


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker's row: who it is and when it last proved it was alive."""

    id: str
    pid: int
    host: str
    concurrency: int
    started_at: float
    heartbeat_at: float


class Store:
    """The job store on one data folder. Safe to share between threads; many processes may open it at once."""

    def __init__(
        self,
        data_dir: str | PathLike[str] | None = None,
        role: Role = "user",
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = DataDir(resolve_data_dir(data_dir)).ensure()
        self.engine = open_engine(self.data.database, role)
        self._database = self.data.database  # for error messages; built once, as every transaction names it
        self.transitions = Transitions(backoff or Backoff.from_env())
        self.clock = clock
        # The thread that opened the store (the worker's loop, a command, the window's GUI thread) keeps one
        # connection for its writes: checking one out of the pool per transaction cost a third of an add.
        self._owner = threading.get_ident()
        self._own_connection: Connection | None = None

    def close(self) -> None:
        if self._own_connection is not None:
            self._own_connection.close()
            self._own_connection = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with translated(self._database):
            if threading.get_ident() != self._owner:
                with self.engine.begin() as conn:
                    yield conn
                return
            conn = self.own_connection()
            with conn.begin():
                yield conn

    @contextmanager
    def _write_prepared(self) -> Iterator[Connection]:
        """A write transaction whose statements are all `Prepared` (the hot paths: add, progress, finishes).

        BEGIN and COMMIT go straight to the driver: SQLAlchemy's transaction machinery cost as much CPU as a
        single add's own SQLite work. A plain `conn.execute()` inside would try to BEGIN again and fail loudly.
        """
        if threading.get_ident() != self._owner:
            with self._write() as conn:
                yield conn
            return
        with translated(self._database):
            conn = self.own_connection()
            driver = conn.connection.driver_connection
            assert driver is not None
            if driver.in_transaction:
                raise RuntimeError("a write transaction inside another on the same connection: a bug of ours")
            try:
                driver.execute("BEGIN IMMEDIATE")  # inside the try: an interrupt right after it must roll back
                yield conn
                driver.execute("COMMIT")
            except BaseException:
                self._roll_back(conn, driver)
                raise

    def _roll_back(self, conn: Connection, driver: Any) -> None:
        """Undo the driver-level transaction; a connection that cannot even roll back is dropped, so that its
        write lock goes with it and the next write starts on a fresh one."""
        try:
            if driver.in_transaction:  # a failed BEGIN has nothing to undo; a failed COMMIT may have
                driver.rollback()
        except BaseException:
            conn.invalidate()
            self._own_connection = None
            raise

    def own_connection(self) -> Connection:
        """The connection the opening thread writes through (for that thread only). PRAGMA data_version read on
        it moves only for other connections' commits, never for this thread's own."""
        if self._own_connection is None or self._own_connection.invalidated:
            self._own_connection = self.engine.connect()
        return self._own_connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with (
            translated(self._database),
            self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn,
            conn.begin(),
        ):
            yield conn

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
        with self._write_prepared() as conn:
            ids = []
            for row in values:
                cursor = ADD_JOB.run(conn, row)
                ids.append(int(cursor.fetchone()[0]))
                cursor.close()
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

    def retry(self, job_id: int, by: str = "user") -> str:
        return self._one(Action.RETRY, job_id, by)

    def _one(self, action: Action, job_id: int, by: str) -> str:
        (outcome,) = self.apply(action, [job_id], by)
        if outcome.error is not None:
            # The error seen inside the refusing transaction: reading the state again could race.
            raise outcome.error
        return outcome.message

    def apply(
        self, action: Action, job_ids: Iterable[int], by: str = "user", only_from: Iterable[JobStatus] | None = None,
    ) -> list[Outcome]:
        """Apply `action` to each job in one transaction; each job is accepted or refused on its own.

        only_from narrows the states acted on to those the user saw: "Clear Finished" must not delete a job
        that was retried since it was counted, although a delete is allowed from every state.
        """
        ids = list(dict.fromkeys(job_ids))
        now = self.clock()
        narrowed = None if only_from is None else {JobStatus(s).value for s in only_from}
        with self._write() as conn:
            outcomes = [self.transitions.changed_since_seen(conn, job_id, narrowed)
                        or self.transitions.act(action, conn, job_id, by, now) for job_id in ids]
        if action is Action.DELETE:
            # Best effort now; the worker running a deleted job removes what its handler wrote after it
            # stops, and sweep_orphans() catches anything a crash left behind.
            for outcome in outcomes:
                if outcome.ok:
                    self.data.remove_job_files(outcome.job_id)
        return outcomes

    # ---- reading ------------------------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        with self._read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(job_id)
        return Job.from_row(row)

    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]:
        """The jobs among `job_ids` that exist, by id."""
        found: dict[int, Job] = {}
        with self._read() as conn:
            for start in range(0, len(job_ids), 500):  # stay under SQLite's bound-parameter limit
                chunk = job_ids[start:start + 500]
                for row in conn.execute(select(jobs).where(jobs.c.id.in_(chunk))):
                    found[row.id] = Job.from_row(row)
        return found

    def history(self, job_id: int) -> list[Event]:
        """The job's transitions, oldest first, opening with its "added" entry (built from the job row)."""
        with self._read() as conn:
            added = conn.execute(
                select(jobs.c.created_at, jobs.c.added_by, jobs.c.filename, jobs.c.handler).where(jobs.c.id == job_id)
            ).first()
            rows = conn.execute(
                select(job_events.c.at, job_events.c.actor, job_events.c.from_status, job_events.c.to_status,
                       job_events.c.reason)
                .where(job_events.c.job_id == job_id).order_by(job_events.c.id)
            ).all()
        if added is None:
            return []
        opening = [] if added.added_by is None else [Event(
            added.created_at, added.added_by, None, PENDING, f"added {added.filename!r} for handler {added.handler}",
        )]
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
        query = select(jobs).where(*filtered(status, search)).order_by(*ordered(order_by, descending))
        with self._read() as conn:
            return [Job.from_row(row) for row in conn.execute(query.limit(limit))]

    def revisions(
        self,
        status: JobStatus | str | None = None,
        search: str | None = None,
        order_by: str = "id",
        descending: bool = True,
    ) -> list[tuple[int, int]]:
        """(id, rev) of every matching job in display order: cheap enough to diff a 100,000-row view."""
        query = (select(jobs.c.id, jobs.c.rev).where(*filtered(status, search))
                 .order_by(*ordered(order_by, descending)))
        with self._read() as conn:
            # Straight to the DBAPI cursor: SQLAlchemy's per-row processing doubles the cost over 100,000 rows,
            # and these two integer columns need none of it.
            compiled = query.compile(dialect=conn.dialect)
            params: Any = (tuple(compiled.params[key] for key in compiled.positiontup or ())
                           if compiled.positional else compiled.params)
            cursor = conn.connection.cursor()
            try:
                cursor.execute(str(compiled), params)
                return [(row[0], row[1]) for row in cursor.fetchall()]
            finally:
                cursor.close()

    def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each state (every state present, zero or not)."""
        with self._read() as conn:
            rows: dict[str, int] = {
                status: count
                for status, count in conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
            }
        return {status: int(rows.get(status.value, 0)) for status in JobStatus}

    def unfinished(self) -> int:
        """Jobs pending or running: zero means a worker started with --exit-when-idle may stop."""
        with self._read() as conn:
            return int(conn.scalar(select(func.count()).where(jobs.c.status.in_([PENDING, RUNNING]))) or 0)

    # ---- workers ------------------------------------------------------------------------------------------

    def register_worker(self, pid: int, host: str, concurrency: int, worker_id: str | None = None) -> str:
        worker_id = worker_id or f"{host}:{pid}:{uuid.uuid4().hex[:8]}"
        now = self.clock()
        with self._write() as conn:
            conn.execute(delete(workers).where(workers.c.id == worker_id))
            conn.execute(insert(workers).values(id=worker_id, pid=pid, host=host, concurrency=concurrency,
                                                started_at=now, heartbeat_at=now))
        return worker_id

    def heartbeat(self, worker_id: str) -> bool:
        """Prove this worker alive; False if its row was removed (it was presumed dead: re-register)."""
        with self._write() as conn:
            return conn.execute(
                update(workers).where(workers.c.id == worker_id).values(heartbeat_at=self.clock())
            ).rowcount == 1

    def unregister_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(workers).where(workers.c.id == worker_id))

    def live_workers(self, lease: float) -> list[WorkerInfo]:
        with self._read() as conn:
            rows = conn.execute(
                select(workers).where(workers.c.heartbeat_at >= self.clock() - lease).order_by(workers.c.started_at)
            ).all()
        return [WorkerInfo(*row) for row in rows]

    def rescue(self, lease: float, actor: str) -> list[int]:
        """Fail the attempts of jobs held by workers whose heartbeat is older than `lease` (or gone)."""
        now = self.clock()
        with self._write() as conn:
            alive = select(workers.c.id).where(workers.c.heartbeat_at >= now - lease)
            orphans = conn.execute(
                select(jobs.c.id, jobs.c.attempts, jobs.c.max_attempts, jobs.c.claim_token)
                .where(jobs.c.status == RUNNING,
                       or_(jobs.c.claimed_by.is_(None), jobs.c.claimed_by.not_in(alive)))
            ).all()
            rescued = [
                row.id for row in orphans
                if self.transitions.failed_attempt(conn, row.id, RUNNING, row.attempts, row.attempts, row.max_attempts,
                                        "worker died", None, actor, now, token=row.claim_token)
            ]
            conn.execute(delete(workers).where(workers.c.heartbeat_at < now - lease))
        return rescued

    def has_due_work(self) -> bool:
        """A cheap read: is any pending job due? Lets an idle worker skip taking the write lock."""
        with self._read() as conn:
            return conn.scalar(HAS_DUE, {"now": self.clock()}) is not None

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
        with self._write_prepared() as conn:
            cursor = conn.connection.cursor()
            try:
                for done in completions:
                    cursor.execute("SAVEPOINT completion")
                    if COMPLETE.run(conn, {
                            "job_id": done.job_id, "token": done.token, "outcome": json.dumps(done.result),
                            "now": now, "started": min(done.started_at, now)}).rowcount == 1:
                        try:
                            self.data.publish_attempt(done.job_id, done.token)
                            completed.add(done.job_id)
                        except OSError as error:
                            cursor.execute("ROLLBACK TO completion")
                            unpublished[done.job_id] = error.strerror or str(error)
                    cursor.execute("RELEASE completion")
            finally:
                cursor.close()
            add_events(conn, [{"job_id": job_id, "at": now, "actor": worker_id, "from_status": RUNNING,
                               "to_status": COMPLETED, "reason": "handler returned"} for job_id in sorted(completed)])
            rows = []
            if limit > 0:
                cursor = CLAIM.run(conn, {"now": now, "limit": limit, "token": token, "worker": worker_id})
                rows = cursor.fetchall()
                cursor.close()
                add_events(conn, [
                    {"job_id": job_id, "at": now, "actor": worker_id, "from_status": PENDING,
                     "to_status": RUNNING, "reason": f"attempt {attempts} of {max_attempts}"}
                    for job_id, _h, _i, _p, attempts, max_attempts in rows
                ])
        claims = [Claim(job_id, token, handler, input_path, dict(json.loads(params) or {}), attempts, max_attempts)
                  for job_id, handler, input_path, params, attempts, max_attempts in rows]
        return completed, unpublished, sorted(claims, key=lambda c: c.job_id)

    def _fenced(self, job_id: int, token: str) -> list[ColumnElement[bool]]:
        return [jobs.c.id == job_id, jobs.c.claim_token == token, jobs.c.status == RUNNING]

    def report_progress(self, job_id: int, token: str, percent: int, message: str) -> bool:
        with self._write_prepared() as conn:
            cursor = PROGRESS.run(conn, {
                "job_id": job_id, "token": token, "percent": max(0, min(100, int(percent))), "text": message[:500],
                "now": self.clock(),
            })
            changed = bool(cursor.rowcount == 1)
            cursor.close()
        return changed

    def fail(self, job_id: int, token: str, error: str, traceback: str | None, actor: str,
             permanent: bool = False) -> str:
        """A failed attempt of a claimed job; returns the new status, or "" if the claim was lost.

        permanent: the handler said no retry can help (PermanentError): failed now, whatever attempts are left.
        """
        now = self.clock()
        with self._write() as conn:
            row = conn.execute(
                select(jobs.c.attempts, jobs.c.max_attempts).where(*self._fenced(job_id, token))
            ).first()
            if row is None:
                return ""
            return self.transitions.failed_attempt(conn, job_id, RUNNING, row.attempts, row.attempts, row.max_attempts,
                                        error, traceback, actor, now, token=token, permanent=permanent)

    def release(self, job_id: int, token: str, actor: str, reason: str) -> bool:
        """Put an interrupted job back to pending without counting its attempt (graceful shutdown)."""
        now = self.clock()
        with self._write() as conn:
            changed = conn.execute(
                update(jobs).where(*self._fenced(job_id, token))
                .values(status=PENDING, attempts=jobs.c.attempts - 1, claim_token=None, claimed_by=None,
                        run_after=now, progress=0, message="", updated_at=now, rev=jobs.c.rev + 1)
            ).rowcount == 1
            if changed:
                add_events(conn, [{"job_id": job_id, "at": now, "actor": actor, "from_status": RUNNING,
                                    "to_status": PENDING, "reason": reason}])
        return changed

    def lost_claims(self, claims: dict[int, str]) -> set[int]:
        """Of the claimed jobs (id -> token), those no longer ours: cancelled, deleted, failed or re-claimed.

        One query for all of them, whatever their number: this is the worker's once-a-second poll.
        """
        if not claims:
            return set()
        with self._read() as conn:
            still = {
                row.id for row in conn.execute(
                    select(jobs.c.id, jobs.c.claim_token).where(jobs.c.id.in_(list(claims)))
                ) if row.claim_token == claims[row.id]
            }
        return set(claims) - still

    def sweep_orphans(self) -> list[int]:
        """Remove job folders whose job no longer exists (deleted while its worker died, say).

        Also removes uploads a crashed `add` left in staging/, once nothing has touched them for a day.
        """
        self.data.remove_stale_staging(self.clock() - STALE_STAGING_S)
        if not self.data.jobs.exists():
            return []
        with self._read() as conn:
            # Only ids already handed out: a folder above the sequence may belong to an add in progress.
            top = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").scalar() or 0
            existing = set(conn.scalars(select(jobs.c.id)))
        removed = []
        for folder in self.data.jobs.iterdir():
            if (folder.name.isdigit() and int(folder.name) <= top and int(folder.name) not in existing
                    and self.data.remove_job_files(int(folder.name))):
                removed.append(int(folder.name))
        return sorted(removed)

