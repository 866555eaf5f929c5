"""notifications and the worker: outbox, delivery attempts, webhooks, job runs, SLA breaches, calendar feeds

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from alembic import op

from dealflow.store import tables as t

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = (t.outbox, t.delivery_attempts, t.webhooks, t.job_runs, t.sla_breaches, t.calendar_feeds)
_INDEXES = (
    ("ix_deals_status_process_stage_entered", "deals", ["status", "process", "stage", "stage_entered_at"]),
    ("ix_handoffs_status_due_at", "handoffs", ["status", "due_at"]),
    ("ix_next_steps_due", "next_steps", ["due"]),
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    for name, table_name, columns in _INDEXES:
        op.create_index(name, table_name, columns)


def downgrade() -> None:
    for name, table_name, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table_name)
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
