"""The tables, as SQLAlchemy Core metadata: what migrations create and what every query is written against."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from worker.store.leases import DEFAULT_GRACE_S, DEFAULT_LEASE_S, MAX_DURATION_S
from worker.store.states import JobStatus

# Naming constraints makes Alembic migrations reproducible across dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SCHEMA_HEAD = "0005"  # tests/test_schema.py checks this against the migration scripts
KNOWN_REVISIONS = frozenset({"0001", "0002", "0003", "0004", "0005"})
STATUS_VALUES = ", ".join(f"'{s.value}'" for s in JobStatus)

# Timestamps are seconds since the epoch (UTC) as floats: compact, totally ordered, cheap to compare in
# CHECK constraints and identical on SQLite and PostgreSQL. They are shown as ISO 8601 at the edges.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handler", String(100), nullable=False),
    Column("filename", Text, nullable=False),  # display form: exact when the name is valid UTF-8
    Column("filename_raw", LargeBinary),  # the exact bytes, kept only when they are not valid UTF-8
    Column("input_path", Text, nullable=False),  # relative to the data folder
    Column("size", Integer, nullable=False, server_default="0"),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False, server_default="0"),
    Column("message", Text, nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("attempt_budget", Integer, nullable=False),  # what a Retry grants: the user's --max-attempts
    Column("error", Text),
    Column("traceback", Text),
    Column("result", JSON),
    Column("run_after", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
    Column("cancelled_at", Float),
    Column("cancelled_by", String(100)),
    Column("added_by", String(100)),  # its "added" history entry is built from the row (migration 0004)
    Column("claimed_by", String(64)),
    Column("claim_token", String(64)),
    Column("rev", Integer, nullable=False, server_default="0"),  # bumped by every write: the window diffs on it
    CheckConstraint(f"status IN ({STATUS_VALUES})", name="status_known"),
    CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
    CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts_within_max"),
    CheckConstraint("max_attempts >= 1 AND attempt_budget >= 1", name="max_attempts_positive"),
    CheckConstraint("started_at IS NULL OR started_at >= created_at", name="started_after_created"),
    CheckConstraint(
        "finished_at IS NULL OR (finished_at >= created_at AND (started_at IS NULL OR finished_at >= started_at))",
        name="finished_after_started",
    ),
    CheckConstraint("status <> 'running' OR claim_token IS NOT NULL", name="running_is_claimed"),
    CheckConstraint("status <> 'pending' OR attempts < max_attempts", name="pending_has_attempt_left"),
    CheckConstraint("status <> 'cancelled' OR cancelled_at IS NOT NULL", name="cancelled_has_time"),
    sqlite_autoincrement=True,  # ids are never reused, so a job folder can never be mistaken for another's
)
Index("ix_jobs_claim", jobs.c.status, jobs.c.run_after, jobs.c.id)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
)
Index("ix_job_events_job", job_events.c.job_id, job_events.c.id)

workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("concurrency", Integer, nullable=False),
    # The terms the worker runs on, stored so that every other process judges it by its own (migration 0005).
    Column("lease_s", Float, nullable=False, server_default=str(DEFAULT_LEASE_S)),
    Column("grace_s", Float, nullable=False, server_default=str(DEFAULT_GRACE_S)),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    CheckConstraint(f"lease_s > 0 AND lease_s <= {MAX_DURATION_S:g}", name="lease_in_range"),
    CheckConstraint(f"grace_s > 0 AND grace_s <= {MAX_DURATION_S:g}", name="grace_in_range"),
)
