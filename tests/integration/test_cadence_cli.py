"""Cadences from the command line, on the demo workspace: my day, touches, starting, metrics."""

from __future__ import annotations

from typing import Any

from .conftest import Cli


def test_the_demo_has_cadences_to_work_from_the_command_line(cli: Cli) -> None:
    assert cli("demo", "--deals", "24") == 0, cli.err
    assert "dealflow day --as" in cli.out
    found: Any = cli.json("metrics", "cadence")
    assert found["compliance"]["on_time"] > 0
    assert found["compliance"]["late"] + found["compliance"]["missed"] > 0
    assert sum(found["touches_to_first_reply"].values()) > 0
    assert {d["kind"] for d in found["depth"]} == {"lead", "deal"}
    leads: Any = cli.json("metrics", "cadence", "--kind", "lead")
    assert {d["kind"] for d in leads["depth"]} == {"lead"}
    assert cli("metrics", "cadence", "--kind", "both") == 2
    assert "--kind: must be lead or deal" in cli.err
    assert cli("metrics", "cadence") == 0
    assert "On time by rep" in cli.out
    plain: Any = cli.json("metrics")  # the process metrics still answer without a sub-command
    assert plain["process"] == "standard"
    due = {user: cli.json("day", "--as", user) for user in ("sam", "sofia", "lena")}
    assert any(due.values()), "the SDRs have touches due on their day"
    user, rows = next((u, r) for u, r in due.items() if r)
    first: Any = rows[0]  # type: ignore[index]
    assert first["template"]
    assert cli("touch", "done", first["id"], "--outcome", "maybe", "--as", user) == 2
    assert "outcome: must be one of none, reply, meeting" in cli.err
    assert cli("touch", "done", first["id"], "--outcome", "meeting", "--note", "Booked", "--as", user) == 0, cli.err
    assert f"touch {first['step']} ({first['channel']}) done, outcome meeting; the cadence stopped (meeting)" in cli.out
    after: Any = cli.json("day", "--as", user)
    assert first["subject"] not in {r["subject"] for r in after}
    shown: Any = cli.json("cadence", "show", first["id"], "--as", user)
    assert {r["stop_reason"] for r in shown if r["status"] == "stopped"} <= {"meeting"}
    assert cli("touch", "done", "L-999", "--as", user) == 4


def test_a_deal_cadence_is_started_and_stopped_by_its_owner(workspace: Cli) -> None:
    assert workspace("deal", "create", "Acme pilot") == 0, workspace.err
    assert workspace("cadence", "start", "D-1") == 0, workspace.err
    assert "started 'Five-touch follow-up' on D-1: 6 touches, first email due" in workspace.out
    assert workspace("cadence", "start", "D-1") == 3
    assert "D-1 already has a cadence running; stop it first" in workspace.err
    assert workspace("touch", "done", "D-1") == 0
    assert workspace("cadence", "stop", "D-1") == 0
    rows: Any = workspace.json("cadence", "show", "D-1")
    assert [r["status"] for r in rows] == ["done"] + ["stopped"] * 5
    assert workspace("touch", "done", "D-1") == 3
    assert "D-1 has no cadence running" in workspace.err
    assert workspace("cadence", "start", "D-404") == 4
    assert workspace("day", "--json") == 0
