"""overdue cadence touches are worked out from their due day, not stored: back to open

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 03:00:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import update

from dealflow.store import tables as t

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tasks = t.cadence_tasks
    op.get_bind().execute(update(tasks).where(tasks.c.status == "overdue").values(status="open"))


def downgrade() -> None:
    """Nothing to undo: an earlier version marks them overdue again on its next pass."""
