"""outbox claims and per-channel pacing shared by replicas (issue 21 items 3, 6)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One token per claim: settling, renewing and saving progress are conditional on
    # it, so a worker whose lease ran out and was taken over changes nothing. The pace
    # per channel needs no column: it is read from the key's last delivered row.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claim_token")
