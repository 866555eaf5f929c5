"""cadence tasks: one row per touch of the cadences of leads and deals

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:30:00

"What is due" for a rep is one range read of (owner, status, due_on); the due pass that marks
overdue touches reads (status, due_on); a subject's running cadence reads (subject, status).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cadence_tasks",
        sa.Column("run", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("step", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("cadence", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("days_late", sa.Integer(), nullable=True),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("run", "step", name=op.f("pk_cadence_tasks")),
    )
    op.create_index(
        "ix_cadence_tasks_owner_status_due_on", "cadence_tasks", ["owner", "status", "due_on"], unique=False
    )
    op.create_index("ix_cadence_tasks_status_due_on", "cadence_tasks", ["status", "due_on"], unique=False)
    op.create_index("ix_cadence_tasks_subject_status", "cadence_tasks", ["subject", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cadence_tasks_subject_status", table_name="cadence_tasks")
    op.drop_index("ix_cadence_tasks_status_due_on", table_name="cadence_tasks")
    op.drop_index("ix_cadence_tasks_owner_status_due_on", table_name="cadence_tasks")
    op.drop_table("cadence_tasks")
