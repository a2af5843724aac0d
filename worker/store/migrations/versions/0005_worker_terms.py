"""Each worker's lease and grace, stored in its row.

Rescue judged every worker by the rescuer's own lease, so a worker started with --lease 60 beside a default one
was declared dead by it, its running job rescued and run again, attempt after attempt. Now each worker is judged
by the lease it registered with. Rows from before keep the defaults they ran with.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("lease_s", sa.Float, nullable=False, server_default="10.0"))
        batch.add_column(sa.Column("grace_s", sa.Float, nullable=False, server_default="5.0"))
        batch.create_check_constraint("lease_in_range", "lease_s > 0 AND lease_s <= 86400")
        batch.create_check_constraint("grace_in_range", "grace_s > 0 AND grace_s <= 86400")
