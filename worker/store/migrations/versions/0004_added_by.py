"""A job's row records who added it; its "added" history row goes.

The added row said nothing the job row does not (created_at, filename, handler) but who added it, and it made
an add write two more pages (the event and its index) per commit: a single add is bound by its fsync, whose
cost grows with the pages written. `Store.history` shows the same "added" entry, built from the job row.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("added_by", sa.String(100)))
    # Every add wrote exactly one event with no from_status; nothing else does.
    op.execute(
        "UPDATE jobs SET added_by = (SELECT e.actor FROM job_events e WHERE e.id = (SELECT min(f.id)"
        " FROM job_events f WHERE f.job_id = jobs.id AND f.from_status IS NULL))"
    )
    op.execute("DELETE FROM job_events WHERE from_status IS NULL")
