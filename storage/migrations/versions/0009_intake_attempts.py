"""declaration intake attempts and rows moved aside (issue 21 item 4)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
