"""capture requests and events handled with their fact (issue 21 items 1-2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
