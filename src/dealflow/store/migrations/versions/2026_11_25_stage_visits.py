"""stage visits and the deal columns metrics slice by

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.add_column(sa.Column("source", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("segment", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("product", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("outcome_reason", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("close_date_pushes", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_deals_status_closed_at", "deals", ["status", "closed_at"], unique=False)
    # Nothing reads events by type and time: the index only slowed every append down.
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_type_at")
    op.create_table(
        "stage_visits",
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("exit", sa.String(length=16), nullable=False),
        sa.Column("to_stage", sa.String(length=64), nullable=True),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_stage_visits_deal_id_deals")),
        sa.PrimaryKeyConstraint("deal_id", "seq", name=op.f("pk_stage_visits")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("stage_visits")
    with op.batch_alter_table("events") as batch:
        batch.create_index("ix_events_type_at", ["type", "at"], unique=False)
    op.drop_index("ix_deals_status_closed_at", table_name="deals")
    with op.batch_alter_table("deals") as batch:
        for column in ("close_date_pushes", "outcome_reason", "product", "segment", "source"):
            batch.drop_column(column)
