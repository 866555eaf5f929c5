"""The command line as a new user drives it, on both backends: good paths, refusals and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws
from dealflow.store.unit_of_work import UnitOfWork

from .conftest import Cli


def test_init_installs_the_template_and_is_idempotent(workspace: Cli) -> None:
    assert workspace("init") == 0
    assert "standard@1 already installed" in workspace.out
    processes = workspace.json("process", "list")
    assert [(p["key"], p["version"]) for p in processes] == [("standard", 1)]  # type: ignore[index, union-attr]
    shown = workspace.json("process", "show", "standard")
    assert [s["key"] for s in shown["stages"]][:2] == ["prospecting", "qualification"]  # type: ignore[index]
    assert workspace("process", "show", "standard") == 0
    lost = load_template("standard")[0].outcomes.lost.reasons
    assert f"lost: reasons: {', '.join(lost)}" in workspace.out.splitlines()


def test_user_text_is_printed_as_typed(workspace: Cli) -> None:
    assert workspace("deal", "create", "Beta [pilot] <b>") == 0
    assert workspace("deal", "show", "D-1") == 0
    assert workspace.out.splitlines()[0] == "D-1 Beta [pilot] <b>  [open]"


def test_a_refused_move_exits_non_zero_and_prints_each_unmet_criterion(workspace: Cli) -> None:
    assert workspace("deal", "create", "Acme: 40 seats", "--amount", "48000") == 0
    assert "created D-1 in prospecting, owned by founder" in workspace.out
    assert workspace("deal", "move", "D-1", "qualification") == 3
    assert workspace.err.splitlines() == [
        "error: cannot move to qualification: 3 criteria unmet",
        "  - Lead source not captured",
        "  - No conversation logged yet (log at least one call) (0 so far)",
        "  - No qualification call scheduled (none set)",
    ]
    assert workspace("deal", "update", "D-1", "-f", "source=referral") == 0
    assert workspace("activity", "log", "D-1", "call", "Intro with the COO") == 0
    assert workspace("next-step", "set", "D-1", "Qualification call", "--due", "+3d", "--confirmed") == 0
    assert workspace("deal", "gate", "D-1") == 0
    assert workspace("deal", "move", "D-1", "qualification") == 0
    deal = workspace.json("deal", "show", "D-1")
    assert deal["stage"] == "qualification"  # type: ignore[index]
    assert deal["gate"]["passed"] is False  # type: ignore[index]


def test_handoff_inbox_accept_and_events_export(cli: Cli, tmp_path: Path) -> None:
    assert cli("demo", "--deals", "24") == 0, cli.err
    deals = cli.json("deal", "list", "--status", "all")
    stages = {d["stage"] for d in deals}  # type: ignore[union-attr, index]
    assert {s.key for s in load_template("standard")[0].sales_stages} <= stages
    handoffs = cli.json("handoff", "list")
    assert handoffs, "the demo leaves handoffs waiting in an inbox"
    team_of = {u["id"]: u["team"] for u in cli.json("user", "list")}  # type: ignore[union-attr, index]
    owners_by_team = {team_of[d["owner"]] for d in deals}  # type: ignore[union-attr, index]
    assert owners_by_team == {"east", "west"}, "the demo's deals belong to two teams, so access rules show"
    for h in handoffs:  # type: ignore[union-attr]
        assert team_of[h["from_owner"]] == team_of[h["to_owner"]], "a handoff stays within the sender's team"
    first = handoffs[0]  # type: ignore[index]
    assert cli("handoff", "accept", first["id"], "--as", first["to_owner"]) == 0, cli.err
    assert f"is now owned by {first['to_owner']}" in cli.out
    assert cli("handoff", "accept", first["id"], "--as", first["to_owner"]) == 3
    assert cli("events", "export", "--format", "jsonl") == 0
    lines = [json.loads(line) for line in cli.out.splitlines()]
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    assert lines[-1]["type"] == "HandoffAccepted"
    target = tmp_path / "events.csv"
    assert cli("events", "export", "--format", "csv", "--output", str(target)) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text("utf-8"))))
    assert len(rows) == len(lines)
    assert json.loads(rows[0]["data"])["key"] == "standard"
    assert cli("rebuild") == 0
    assert f"replayed {len(lines)} events" in cli.out


def test_validate_reports_file_line_and_field(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "saas.yaml"
    good.write_text(load_template("saas")[1], "utf-8")
    assert cli("process", "validate", str(good), db=False) == 0
    assert "saas.yaml: valid (saas@1" in cli.out
    bad = tmp_path / "bad.yaml"
    bad.write_text(load_template("standard")[1].replace("kind: document", "kind: documnt", 1), "utf-8")
    assert cli("process", "validate", str(bad), db=False) == 2
    assert cli.err.startswith("error: bad.yaml:")
    assert ": stages[3].exit[1]: unknown criterion kind 'documnt'" in cli.err
    assert cli("process", "validate", str(tmp_path / "missing.yaml"), db=False) == 2
    assert "cannot read the file" in cli.err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("deal", "update", "D-1", "-f", "pain=" + "x" * 10_000_000), 2, "pain: too long (10,000,000 characters"),
        (("deal", "update", "D-1", "-f", "amount=-10"), 2, "amount: must not be negative (got -10)"),
        (("deal", "update", "D-1", "-f", "amount=ten"), 2, "amount: not an amount: 'ten'"),
        (("deal", "update", "D-1", "-f", "close_date=2026-02-30"), 2, "close_date: not a date: '2026-02-30'"),
        (("deal", "update", "D-1", "-f", "nonsense"), 2, "--field: write name=value"),
        (("deal", "show", "D-99"), 4, "no deal 'D-99'"),
        (("deal", "move", "D-1", "nowhere"), 3, "unknown stage 'nowhere'"),
        (("deal", "lose", "D-1"), 3, "a lost deal needs a reason code"),
        (("deal", "win", "D-1", "--reason", "value"), 3, "the deal cannot be closed as won"),
        (("next-step", "set", "D-1", "Call", "--due", "yesterday"), 2, "--due: not a date or time"),
        (("deal", "list", "--as", "ghost"), 4, "no user 'ghost'"),
        (("deal", "list", "--colour", "red"), 2, "No such option: --colour"),
    ],
)
def test_bad_input_gets_one_clear_line_and_changes_nothing(
    workspace: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    assert workspace("deal", "create", "Acme") == 0
    assert workspace("events", "export") == 0
    before = workspace.out
    assert workspace(*args) == code
    assert message in workspace.err
    assert workspace("events", "export") == 0
    assert workspace.out == before


def test_an_unreachable_or_unset_database_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    cli.db = "postgresql://nobody@127.0.0.1:1/none"
    assert cli("deal", "list") == 7
    assert cli.err.startswith("error: cannot reach the database at postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert len(cli.err.strip().splitlines()) == 1
    cli.db = f"sqlite:///{tmp_path / 'empty.db'}"
    assert cli("deal", "list") == 7
    assert "no dealflow workspace" in cli.err
    assert "run `dealflow init`" in cli.err
    assert not (tmp_path / "empty.db").exists()  # a read or a refusal never creates the file
    cli.db = "mysql://x@y/z"
    assert cli("deal", "list") == 2
    assert "unsupported database URL 'mysql'" in cli.err


def test_the_first_process_installed_stays_the_default_until_revops_chooses_another(
    workspace: Cli, tmp_path: Path
) -> None:
    saas = tmp_path / "saas.yaml"
    saas.write_text(load_template("saas")[1], encoding="utf-8")
    assert workspace("user", "add", "rep", "--name", "Rep", "--role", "ae") == 0
    assert workspace("process", "install", str(saas)) == 0  # installed later, and first by name
    listed = workspace.json("process", "list")
    assert [(p["key"], p["default"]) for p in listed] == [("saas", False), ("standard", True)]  # type: ignore[index]
    assert workspace("deal", "create", "Acme") == 0
    assert "in prospecting" in workspace.out  # the standard process's first stage
    assert workspace.json("metrics")["process"] == "standard"  # type: ignore[index]
    assert workspace("process", "default", "saas", "--as", "rep") == 5
    assert "only revops or admin" in workspace.err
    assert workspace("process", "default", "nosuch") == 4
    assert workspace("process", "default", "saas") == 0
    assert workspace.json("metrics")["process"] == "saas"  # type: ignore[index]
    assert workspace("rebuild") == 0
    listed = workspace.json("process", "list")
    assert [p["key"] for p in listed if p["default"]] == ["saas"]  # type: ignore[index]
    assert workspace("deal", "create", "Birch") == 0
    assert "in inbound_capture" in workspace.out


def test_tokens_and_webhooks_are_named_by_what_people_typed(workspace: Cli) -> None:
    assert workspace("token", "create", "nightly export", "--quiet") == 0
    (secret,) = workspace.out.split()
    assert secret.startswith("dft_")
    assert workspace("token", "revoke", "nightly export") == 0
    assert "revoked tok_" in workspace.out
    assert workspace("token", "revoke", "nightly export") == 4  # no active token by that name now
    url = "https://hooks.example.com/df"
    for events in ("DealMoved", "HandoffCreated"):
        assert workspace("webhook", "add", url, "--events", events) == 0
    assert workspace("webhook", "remove", url) == 0
    assert "removed 2 webhooks" in workspace.out
    assert workspace.json("webhook", "list") == []
    assert workspace("webhook", "remove", url) == 4


def test_a_password_without_a_terminal_says_to_use_password_stdin(workspace: Cli) -> None:
    assert workspace("user", "password", "founder") == 2
    assert "--password-stdin" in workspace.err


def test_the_calendar_url_starts_with_the_address_people_reach_the_server_at(
    workspace: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEALFLOW_BASE_URL", raising=False)
    assert workspace("calendar", "url") == 0
    assert workspace.out.startswith("http://127.0.0.1:8000/calendar/cal_")
    assert "the default" in workspace.err
    with UnitOfWork(engine) as uow:
        assert ws.announce_server(uow=uow, host="127.0.0.1", port=8123) == "http://127.0.0.1:8123"
    assert workspace("calendar", "url") == 0
    assert workspace.out.startswith("http://127.0.0.1:8123/calendar/cal_")
    assert "`dealflow serve` announced" in workspace.err
    monkeypatch.setenv("DEALFLOW_BASE_URL", "https://sales.example.com")
    assert workspace("calendar", "url") == 0
    assert workspace.out.startswith("https://sales.example.com/calendar/cal_")
    assert "DEALFLOW_BASE_URL" in workspace.err
