"""The SQL the store speaks, built once: the hot path, every transition, the reads, the list's filter and order.

Each statement is SQLAlchemy Core (portable) wrapped in `Prepared` (compiled once per dialect, run on the driver).
Every write a worker makes for a job is fenced by the same expression, `FENCE`: the job, the claim token it was
given, and `running`. A worker whose claim was cancelled, deleted, force-failed, rescued or claimed again
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)

from worker.store.errors import DockError
from worker.store.prepared import Prepared
from worker.store.rows import JOB_FIELDS, WORKER_FIELDS
from worker.store.schema import job_events, jobs, workers
from worker.store.states import ACTIVE, ALLOWED, Action, JobStatus

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value
SORT_KEYS = ("id", "filename", "handler", "status", "progress", "attempts", "created_at", "duration")


def status_in(statuses: Iterable[JobStatus]) -> ColumnElement[bool]:
    """`status IN ('a', 'b')` with the states written into the SQL: they are our own constants, and a list of
    bound values would need SQLAlchemy's execution to expand it."""
    return jobs.c.status.in_([literal_column(f"'{JobStatus(s).value}'") for s in sorted(statuses)])


def ids_in(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`id IN (1, 2, 3)` for a list of ids built per call (int() makes writing them into the SQL safe)."""
    return column.in_([literal_column(str(int(i))) for i in ids])


def not_before_now(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """max(:now, column) in portable SQL: keeps created <= started <= finished even if the clock steps back."""
    return case((column > bindparam("now"), column), else_=bindparam("now"))


NOW: Any = bindparam("now")
NEXT_REV = jobs.c.rev + 1
FENCE = (jobs.c.id == bindparam("job_id"), jobs.c.claim_token == bindparam("token"), jobs.c.status == RUNNING)
# A user's action acts on the state it read in the same transaction (compare-and-set).
SEEN = (jobs.c.id == bindparam("job_id"), jobs.c.status == bindparam("seen"))
STARTED_OR_CREATED = func.coalesce(jobs.c.started_at, jobs.c.created_at)

# ---- reads --------------------------------------------------------------------------------------------------

JOB = select(*(jobs.c[name] for name in JOB_FIELDS))
GET = Prepared(JOB.where(jobs.c.id == bindparam("job_id")))
STATUS = Prepared(select(jobs.c.status).where(jobs.c.id == bindparam("job_id")))
STATUS_AND_PARAMS = Prepared(select(jobs.c.status, jobs.c.params).where(jobs.c.id == bindparam("job_id")))
STATE = Prepared(select(jobs.c.status, jobs.c.attempts, jobs.c.max_attempts).where(jobs.c.id == bindparam("job_id")))
FENCED_ATTEMPTS = Prepared(select(jobs.c.attempts, jobs.c.max_attempts).where(*FENCE))
ADDED = Prepared(select(jobs.c.created_at, jobs.c.added_by, jobs.c.filename, jobs.c.handler)
                 .where(jobs.c.id == bindparam("job_id")))
HISTORY = Prepared(
    select(job_events.c.at, job_events.c.actor, job_events.c.from_status, job_events.c.to_status, job_events.c.reason)
    .where(job_events.c.job_id == bindparam("job_id")).order_by(job_events.c.id)
)
COUNTS = Prepared(select(jobs.c.status, func.count()).group_by(jobs.c.status))
UNFINISHED = Prepared(select(func.count()).where(status_in(ACTIVE)))
ALL_IDS = Prepared(select(jobs.c.id))
# The highest id ever handed out (AUTOINCREMENT keeps it in sqlite_sequence), deleted or not.
HANDED_OUT = Prepared(text("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'"))
DUE = (
    select(jobs.c.id)
    .where(jobs.c.status == PENDING, jobs.c.run_after <= NOW)
    .order_by(jobs.c.run_after, jobs.c.id)  # walks ix_jobs_claim: the cost does not grow with backlog
)
HAS_DUE = Prepared(DUE.limit(1))

# ---- adding -------------------------------------------------------------------------------------------------

ADD_JOB = Prepared(insert(jobs).values(
    {name: bindparam(name) for name in ("handler", "filename", "filename_raw", "input_path", "size", "params",
                                        "status", "max_attempts", "attempt_budget", "run_after", "created_at",
                                        "updated_at", "added_by")}
).returning(jobs.c.id))
ADD_EVENT = Prepared(insert(job_events).values(
    job_id=bindparam("job_id"), at=bindparam("at"), actor=bindparam("actor"), from_status=bindparam("from_status"),
    to_status=bindparam("to_status"), reason=bindparam("reason"),
))

# ---- the worker's hot path ----------------------------------------------------------------------------------

CLAIM = Prepared(
    update(jobs)
    # The status is re-checked (other databases need it), but through coalesce(): given a bare
    # `status = 'pending'`, SQLite walks every pending row through ix_jobs_claim instead of fetching the
    # chosen ids by primary key, and each claim costs O(backlog).
    # tests/test_reliability.py::test_claiming_costs_the_same_at_any_backlog holds this.
    .where(jobs.c.id.in_(DUE.limit(bindparam("limit")).scalar_subquery()),
           func.coalesce(jobs.c.status, "") == PENDING)
    .values(
        status=RUNNING, claim_token=bindparam("token"), claimed_by=bindparam("worker"),
        attempts=jobs.c.attempts + 1, started_at=not_before_now(jobs.c.created_at), finished_at=None,
        progress=0, message="", updated_at=NOW, rev=NEXT_REV,
    )
    .returning(jobs.c.id, jobs.c.handler, jobs.c.input_path, jobs.c.params, jobs.c.attempts, jobs.c.max_attempts)
)
PROGRESS = Prepared(update(jobs).where(*FENCE).values(
    progress=bindparam("percent"), message=bindparam("text"), updated_at=NOW, rev=NEXT_REV))
COMPLETE = Prepared(update(jobs).where(*FENCE).values(
    status=COMPLETED, progress=100, result=bindparam("outcome"), claim_token=None, claimed_by=None,
    error=None, traceback=None,
    # A claimed-ahead job started a little after its claim: keep when it really started. Both are read
    # before the update, and the caller keeps `started` <= `now`, so finished >= started holds.
    started_at=case((jobs.c.started_at > bindparam("started"), jobs.c.started_at), else_=bindparam("started")),
    finished_at=not_before_now(jobs.c.started_at), updated_at=NOW, rev=NEXT_REV,
))
RELEASE = Prepared(update(jobs).where(*FENCE).values(  # back to pending, the attempt not counted
    status=PENDING, attempts=jobs.c.attempts - 1, claim_token=None, claimed_by=None, run_after=NOW, progress=0,
    message="", updated_at=NOW, rev=NEXT_REV,
))

# ---- user actions: each one conditional UPDATE or DELETE -------------------------------------------------------

CANCEL = Prepared(update(jobs).where(*SEEN, status_in(ALLOWED[Action.CANCEL] - {JobStatus.CANCELLED})).values(
    status=CANCELLED, cancelled_at=NOW, cancelled_by=bindparam("by"), claim_token=None, claimed_by=None,
    finished_at=not_before_now(STARTED_OR_CREATED), updated_at=NOW, rev=NEXT_REV,
))
DELETE = Prepared(delete(jobs).where(jobs.c.id == bindparam("job_id")).returning(jobs.c.status))
_RETRIED = {
    "status": PENDING, "run_after": NOW, "progress": 0, "message": "", "finished_at": None, "cancelled_at": None,
    "cancelled_by": None, "updated_at": NOW, "rev": NEXT_REV,
    # A retry grants another full round of attempts; the ones already spent stay counted.
    "max_attempts": jobs.c.attempts + jobs.c.attempt_budget,
}
RETRY = Prepared(update(jobs).where(*SEEN, status_in(ALLOWED[Action.RETRY])).values(**_RETRIED))
RETRY_WITH_PARAMS = Prepared(update(jobs).where(*SEEN, status_in(ALLOWED[Action.RETRY])).values(
    **_RETRIED, params=bindparam("params")))


def _failed_attempt(fence: tuple[ColumnElement[bool], ...], retrying: bool) -> Prepared:
    """A failed attempt: back to pending after a backoff (progress starts again), or failed for good."""
    values: dict[str, Any] = {
        "status": PENDING if retrying else FAILED, "attempts": bindparam("attempts"), "error": bindparam("error"),
        "traceback": bindparam("traceback"), "message": bindparam("message"), "claim_token": None,
        "claimed_by": None, "updated_at": NOW, "rev": NEXT_REV,
    }
    if retrying:
        values.update(run_after=bindparam("run_after"), finished_at=None, progress=0)
    else:
        values.update(finished_at=not_before_now(STARTED_OR_CREATED))
    return Prepared(update(jobs).where(*fence).values(**values))


# By the worker that holds the claim (and by a rescuer, with the dead worker's token): fenced.
RETRY_LATER_FENCED, FAIL_FENCED = _failed_attempt(FENCE, True), _failed_attempt(FENCE, False)
# Force Fail by a user: the state and attempts it read, unchanged since.
_SEEN_ATTEMPTS = (*SEEN, jobs.c.attempts == bindparam("seen_attempts"))
RETRY_LATER_SEEN, FAIL_SEEN = _failed_attempt(_SEEN_ATTEMPTS, True), _failed_attempt(_SEEN_ATTEMPTS, False)

# ---- workers ------------------------------------------------------------------------------------------------

# Each worker is judged by the lease it registered with, not by the judge's own.
ALIVE = workers.c.heartbeat_at >= NOW - workers.c.lease_s
REGISTER = Prepared(insert(workers).values({name: bindparam(name) for name in WORKER_FIELDS}))
UNREGISTER = Prepared(delete(workers).where(workers.c.id == bindparam("worker_id")))
HEARTBEAT = Prepared(update(workers).where(workers.c.id == bindparam("worker_id")).values(heartbeat_at=NOW))
LIVE_WORKERS = Prepared(select(*(workers.c[name] for name in WORKER_FIELDS)).where(ALIVE)
                        .order_by(workers.c.started_at))
ORPHANED = Prepared(
    select(jobs.c.id, jobs.c.attempts, jobs.c.max_attempts, jobs.c.claim_token)
    .where(jobs.c.status == RUNNING,
           or_(jobs.c.claimed_by.is_(None), jobs.c.claimed_by.not_in(select(workers.c.id).where(ALIVE))))
)
FORGET_DEAD = Prepared(delete(workers).where(~ALIVE))

# ---- the job list -------------------------------------------------------------------------------------------


def filtered(status: JobStatus | str | None, search: str | None) -> list[ColumnElement[bool]]:
    """WHERE clauses for a state filter and a search over file name, handler or #id."""
    where: list[ColumnElement[bool]] = []
    if status:
        where.append(jobs.c.status == JobStatus(status).value)
    term = (search or "").strip()
    if term:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        match: list[ColumnElement[bool]] = [jobs.c.filename.ilike(f"%{escaped}%", escape="\\"),
                                            jobs.c.handler.ilike(f"%{escaped}%", escape="\\")]
        digits = term.lstrip("#")
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:  # a #id that fits in 64 bits
            match.append(jobs.c.id == int(digits))
        where.append(or_(*match))
    return where


def ordered(order_by: str, descending: bool) -> list[ColumnElement[Any]]:
    """ORDER BY for one of SORT_KEYS, with the id as tie-break so the order is total."""
    if order_by not in SORT_KEYS:
        raise DockError(f"cannot sort by {order_by!r}; choose one of {', '.join(SORT_KEYS)}")
    key: ColumnElement[Any] = (
        func.coalesce(jobs.c.finished_at, jobs.c.updated_at) - jobs.c.started_at
        if order_by == "duration" else jobs.c[order_by]
    )
    return [key.desc(), jobs.c.id.desc()] if descending else [key.asc(), jobs.c.id.asc()]
