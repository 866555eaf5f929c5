"""Leads through the command line, and migrations that match the tables the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from dealflow.store.tables import metadata

from .conftest import Cli


def test_the_migrations_build_exactly_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_a_lead_is_disqualified_with_a_reason_or_converted_into_a_deal(workspace: Cli) -> None:
    assert workspace("lead", "create", "Jane Roe", "--company", "Acme", "--email", "Jane@Acme.com") == 0
    assert "created lead L-1" in workspace.out
    assert workspace("lead", "create", "Tom", "--email", "not-an-email") == 2
    assert "email: not an email address: 'not-an-email'" in workspace.err
    assert workspace("lead", "create", "Tom Doe", "--company", "Globex") == 0
    assert workspace("lead", "disqualify", "L-2") == 3
    assert "No reason code given (codes: no_fit" in workspace.err
    assert workspace("lead", "disqualify", "L-2", "--reason", "no_fit") == 0
    assert workspace("lead", "convert", "L-2") == 3
    assert "lead L-2 is already disqualified" in workspace.err
    assert workspace("lead", "convert", "L-1") == 3
    assert "Nothing of BANT confirmed yet" in workspace.err
    assert workspace("lead", "qualify", "L-1", "need", "--note", "Reports take two days") == 0
    assert workspace("lead", "convert", "L-1") == 0
    assert "L-1 converted into D-1" in workspace.out
    leads = workspace.json("lead", "list", "--status", "all")
    assert [(x["id"], x["status"], x["deal_id"], x["email"]) for x in leads] == [  # type: ignore[index, union-attr]
        ("L-2", "disqualified", None, None),
        ("L-1", "converted", "D-1", "jane@acme.com"),
    ]
    deal = workspace.json("deal", "show", "D-1")
    assert (deal["title"], deal["stage"], deal["owner"]) == ("Acme", "prospecting", "founder")  # type: ignore[index]
