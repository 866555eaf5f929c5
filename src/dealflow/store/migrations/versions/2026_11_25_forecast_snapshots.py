"""forecast snapshots: what was forecast at the time, with each deal's probability

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("process", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("won_to_date", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("expected", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("p10", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("p50", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("p90", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("commit", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("best_case", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_snapshots")),
    )
    op.create_index(op.f("ix_forecast_snapshots_period"), "forecast_snapshots", ["period"], unique=False)
    op.create_table(
        "forecast_snapshot_deals",
        sa.Column("snapshot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=130), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("forecast_category", sa.String(length=16), nullable=True),
        sa.Column("rep_probability", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["forecast_snapshots.id"],
            name=op.f("fk_forecast_snapshot_deals_snapshot_id_forecast_snapshots"),
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "deal_id", name=op.f("pk_forecast_snapshot_deals")),
    )


def downgrade() -> None:
    op.drop_table("forecast_snapshot_deals")
    op.drop_index(op.f("ix_forecast_snapshots_period"), table_name="forecast_snapshots")
    op.drop_table("forecast_snapshots")
