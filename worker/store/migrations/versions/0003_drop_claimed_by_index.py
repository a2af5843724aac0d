"""Drop the index on jobs.claimed_by: no query reads through it, and every add, claim and finish paid to
keep it (one more page per commit; an add is bound by the size of its fsync).

Rescue finds a dead worker's jobs through ix_jobs_claim (status = 'running'), never by claimed_by.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_jobs_claimed_by", table_name="jobs")
