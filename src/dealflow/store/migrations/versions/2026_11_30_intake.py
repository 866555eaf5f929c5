"""lead intake and routing: dedupe keys, speed-to-lead clock, out of office, form posts, round-robin turns

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:30:00

Duplicates are found by indexed keys (a lead's email domain, person and company name without
case, punctuation or legal suffix; an account's name key and domain; a contact's email in lower
case), so a form post looks for its duplicates with one indexed query. Existing rows get their
keys here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from dealflow.domain.intake import company_key, dedupe_keys

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_STAMP = sa.DateTime(timezone=True)
_LEAD_COLUMNS = (
    sa.Column("process", sa.String(length=64), nullable=True),
    sa.Column("form", sa.String(length=64), nullable=True),
    sa.Column("fields", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
    sa.Column("account_id", sa.String(length=64), nullable=True),
    sa.Column("email_domain", sa.String(length=253), nullable=True),
    sa.Column("person_key", sa.String(length=200), nullable=True),
    sa.Column("company_key", sa.String(length=200), nullable=True),
    sa.Column("assigned_at", _STAMP, nullable=True),
    sa.Column("touched_at", _STAMP, nullable=True),
    sa.Column("sla_due_at", _STAMP, nullable=True),
)
_LEAD_INDEXES = ("email_domain", "person_key", "company_key", "sla_due_at")


def _backfill() -> None:
    connection = op.get_bind()
    leads = sa.table("leads", *(sa.column(n) for n in ("id", "name", "company", "email", *dedupe_keys({}))))
    for row in connection.execute(sa.select(leads.c.id, leads.c.name, leads.c.company, leads.c.email)).all():
        keys = dedupe_keys({"name": row.name, "company": row.company, "email": row.email})
        connection.execute(sa.update(leads).where(leads.c.id == row.id).values(**keys))
    accounts = sa.table("accounts", sa.column("id"), sa.column("name"), sa.column("name_key"))
    for account in connection.execute(sa.select(accounts.c.id, accounts.c.name)).all():
        update = sa.update(accounts).where(accounts.c.id == account.id)
        connection.execute(update.values(name_key=company_key(account.name)))
    contacts = sa.table("contacts", sa.column("email"), sa.column("email_key"))
    connection.execute(sa.update(contacts).values(email_key=sa.func.lower(contacts.c.email)))


def upgrade() -> None:
    for column in _LEAD_COLUMNS:
        op.add_column("leads", column)
    for name in _LEAD_INDEXES:
        op.create_index(op.f(f"ix_leads_{name}"), "leads", [name], unique=False)
    op.create_index("ix_leads_owner_status", "leads", ["owner", "status"], unique=False)
    op.add_column("users", sa.Column("away_from", _STAMP, nullable=True))
    op.add_column("users", sa.Column("away_until", _STAMP, nullable=True))
    op.add_column("accounts", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.create_index(op.f("ix_accounts_name_key"), "accounts", ["name_key"], unique=False)
    op.create_index(op.f("ix_accounts_domain"), "accounts", ["domain"], unique=False)
    op.add_column("contacts", sa.Column("email_key", sa.String(length=254), nullable=True))
    op.create_index(op.f("ix_contacts_email_key"), "contacts", ["email_key"], unique=False)
    op.create_table(
        "intake_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("at", _STAMP, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_attempts")),
    )
    op.create_index("ix_intake_attempts_address_at", "intake_attempts", ["address", "at"], unique=False)
    op.create_index("ix_intake_attempts_at", "intake_attempts", ["at"], unique=False)
    op.create_table(
        "routing_turns",
        sa.Column("pool", sa.String(length=200), nullable=False),
        sa.Column("turns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_routing_turns")),
    )
    _backfill()


def downgrade() -> None:
    op.drop_table("routing_turns")
    op.drop_index("ix_intake_attempts_at", table_name="intake_attempts")
    op.drop_index("ix_intake_attempts_address_at", table_name="intake_attempts")
    op.drop_table("intake_attempts")
    op.drop_index(op.f("ix_contacts_email_key"), table_name="contacts")
    op.drop_column("contacts", "email_key")
    op.drop_index(op.f("ix_accounts_domain"), table_name="accounts")
    op.drop_index(op.f("ix_accounts_name_key"), table_name="accounts")
    op.drop_column("accounts", "name_key")
    op.drop_column("users", "away_until")
    op.drop_column("users", "away_from")
    op.drop_index("ix_leads_owner_status", table_name="leads")
    for name in _LEAD_INDEXES:
        op.drop_index(op.f(f"ix_leads_{name}"), table_name="leads")
    for column in reversed(_LEAD_COLUMNS):
        op.drop_column("leads", column.name)
