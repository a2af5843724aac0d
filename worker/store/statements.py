"""The SQL the store speaks: the worker's hot-path statements, built once, and the job list's filter and order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, insert, literal, or_, select, update

from worker.store.errors import DockError
from worker.store.prepared import Prepared
from worker.store.schema import job_events, jobs
from worker.store.states import JobStatus

PENDING, RUNNING, COMPLETED = JobStatus.PENDING.value, JobStatus.RUNNING.value, JobStatus.COMPLETED.value
SORT_KEYS = ("id", "filename", "handler", "status", "progress", "attempts", "created_at", "duration")


def not_before(value: float, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """max(value, column) in portable SQL: keeps created <= started <= finished even if the clock steps back."""
    return case((column > value, column), else_=literal(value))


def not_before_now(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((column > bindparam("now"), column), else_=bindparam("now"))


# The hot path, built once and run on the DBAPI cursor (worker/prepared.py): building the expression and
# executing it through SQLAlchemy per call cost more than SQLite's own work.
FENCE = (jobs.c.id == bindparam("job_id"), jobs.c.claim_token == bindparam("token"), jobs.c.status == RUNNING)
DUE = (
    select(jobs.c.id)
    .where(jobs.c.status == PENDING, jobs.c.run_after <= bindparam("now"))
    .order_by(jobs.c.run_after, jobs.c.id)  # walks ix_jobs_claim: the cost does not grow with backlog
)
HAS_DUE = DUE.limit(1)
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
        progress=0, message="", updated_at=bindparam("now"), rev=jobs.c.rev + 1,
    )
    .returning(jobs.c.id, jobs.c.handler, jobs.c.input_path, jobs.c.params, jobs.c.attempts, jobs.c.max_attempts)
)
PROGRESS = Prepared(update(jobs).where(*FENCE).values(
    progress=bindparam("percent"), message=bindparam("text"), updated_at=bindparam("now"), rev=jobs.c.rev + 1))
COMPLETE = Prepared(update(jobs).where(*FENCE).values(
    status=COMPLETED, progress=100, result=bindparam("outcome"), claim_token=None, claimed_by=None,
    error=None, traceback=None,
    # A claimed-ahead job started a little after its claim: keep when it really started. Both are read
    # before the update, and the caller keeps `started` <= `now`, so finished >= started holds.
    started_at=case((jobs.c.started_at > bindparam("started"), jobs.c.started_at), else_=bindparam("started")),
    finished_at=not_before_now(jobs.c.started_at), updated_at=bindparam("now"), rev=jobs.c.rev + 1,
))
ADD_EVENT = Prepared(insert(job_events).values(
    job_id=bindparam("job_id"), at=bindparam("at"), actor=bindparam("actor"), from_status=bindparam("from_status"),
    to_status=bindparam("to_status"), reason=bindparam("reason"),
))
ADD_JOB = Prepared(insert(jobs).values(
    {name: bindparam(name) for name in ("handler", "filename", "filename_raw", "input_path", "size", "params",
                                        "status", "max_attempts", "attempt_budget", "run_after", "created_at",
                                        "updated_at", "added_by")}
).returning(jobs.c.id))


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
        if term.lstrip("#").isdigit():
            match.append(jobs.c.id == int(term.lstrip("#")))
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
