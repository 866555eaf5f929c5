"""lead scores, nurture dates and learned scoring models

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:30:00

Leads keep their fit, intent and learned scores in columns so lists sort by them, and the date a
nurtured lead comes back so the nurture job finds due leads through an index. Learned models are
stored as JSON, one row per training run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("fit_score", sa.Integer()),
    ("intent_score", sa.Integer()),
    ("score", sa.Integer()),
    ("learned_score", sa.Float()),
    ("scored_at", sa.DateTime(timezone=True)),
    ("reengage_on", sa.Date()),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column("leads", sa.Column(name, kind, nullable=True))
    op.create_index("ix_leads_status_score", "leads", ["status", "score"], unique=False)
    op.create_index("ix_leads_status_reengage_on", "leads", ["status", "reengage_on"], unique=False)
    op.create_table(
        "score_models",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_by", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("auc", sa.Float(), nullable=False),
        sa.Column(
            "model", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_models")),
    )
    op.create_index("ix_score_models_process_trained_at", "score_models", ["process", "trained_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_score_models_process_trained_at", table_name="score_models")
    op.drop_table("score_models")
    op.drop_index("ix_leads_status_reengage_on", table_name="leads")
    op.drop_index("ix_leads_status_score", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        for name, _kind in reversed(_COLUMNS):
            batch.drop_column(name)
