"""workspace settings (the default process) and the address the server last announced

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

from alembic import op

from dealflow.store import tables as t

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TABLES = (t.workspace_settings, t.server_addresses)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
