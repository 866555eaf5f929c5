"""reopenings of closed deals

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 02:40:00
"""

from __future__ import annotations

from alembic import op

from dealflow.store import tables as t

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    t.reopenings.create(op.get_bind())


def downgrade() -> None:
    t.reopenings.drop(op.get_bind())
