"""The job table and its transition history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUS_VALUES = "'pending', 'running', 'completed', 'failed', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handler", sa.String(100), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("filename_raw", sa.LargeBinary),
        sa.Column("input_path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("attempt_budget", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("traceback", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("run_after", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("cancelled_at", sa.Float),
        sa.Column("cancelled_by", sa.String(100)),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claim_token", sa.String(64)),
        sa.Column("rev", sa.Integer, nullable=False, server_default="0"),
        # op.f(): these names are final; the metadata's naming convention must not prefix them again.
        sa.CheckConstraint(f"status IN ({STATUS_VALUES})", name=op.f("ck_jobs_status_known")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_jobs_progress_range")),
        sa.CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name=op.f("ck_jobs_attempts_within_max")),
        sa.CheckConstraint(
            "max_attempts >= 1 AND attempt_budget >= 1", name=op.f("ck_jobs_max_attempts_positive")
        ),
        sa.CheckConstraint(
            "started_at IS NULL OR started_at >= created_at", name=op.f("ck_jobs_started_after_created")
        ),
        sa.CheckConstraint(
            "finished_at IS NULL OR (finished_at >= created_at AND (started_at IS NULL OR finished_at >= started_at))",
            name=op.f("ck_jobs_finished_after_started"),
        ),
        sa.CheckConstraint(
            "status <> 'running' OR claim_token IS NOT NULL", name=op.f("ck_jobs_running_is_claimed")
        ),
        sa.CheckConstraint(
            "status <> 'pending' OR attempts < max_attempts", name=op.f("ck_jobs_pending_has_attempt_left")
        ),
        sa.CheckConstraint(
            "status <> 'cancelled' OR cancelled_at IS NOT NULL", name=op.f("ck_jobs_cancelled_has_time")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", "run_after", "id"])
    op.create_index("ix_jobs_claimed_by", "jobs", ["claimed_by"])
    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_events_job_id_jobs"),
            nullable=False,
        ),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_job_events_job", "job_events", ["job_id", "id"])
