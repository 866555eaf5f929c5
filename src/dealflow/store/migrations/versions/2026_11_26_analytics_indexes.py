"""indexes the metrics read instead of the wide tables

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 12:00:00

On PostgreSQL each index carries (INCLUDE) the columns the metrics read, so that a metrics run
scans the indexes alone and never the deals' JSON state:

- deals by status and process: open, won and closed deals, with the amounts, times and owners;
- stage stays by stage and duration: time in stage, its percentiles and the moves, in one
  ordered pass with nothing left to sort.

SQLite keeps the key columns only.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DEAL_COLUMNS = ["owner", "stage", "amount", "created_at", "stage_entered_at", "closed_at"]


def upgrade() -> None:
    op.create_index(
        "ix_deals_status_process_id",
        "deals",
        ["status", "process", "id"],
        unique=False,
        postgresql_include=DEAL_COLUMNS,
    )
    op.create_index(
        "ix_stage_visits_process_stage_seconds",
        "stage_visits",
        ["process", "stage", "seconds"],
        unique=False,
        postgresql_include=["left_at", "exit", "overridden"],
    )


def downgrade() -> None:
    op.drop_index("ix_stage_visits_process_stage_seconds", table_name="stage_visits")
    op.drop_index("ix_deals_status_process_id", table_name="deals")
