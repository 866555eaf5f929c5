"""The intake commands: CSV lead import, out of office, rerouting and the escalation pass."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli


def test_import_away_route_and_escalate_from_the_command_line(workspace: Cli, tmp_path: Path) -> None:
    for user, team in (("sam", "east"), ("sofia", "east"), ("lena", "west")):
        assert workspace("user", "add", user, "--name", user.title(), "--role", "sdr", "--team", team) == 0
    assert workspace("user", "add", "jordan", "--name", "Jordan", "--role", "manager", "--team", "west") == 0
    assert workspace("user", "away", "sam", "--until", "+3d", "--as", "founder") == 0
    assert "sam is away until" in workspace.out
    path = tmp_path / "leads.csv"
    path.write_text("name,email,company,region\nAnn,ann@acme.io,Acme,east\nBo,bo@bolt.io,Bolt,east\n")
    assert workspace("lead", "import", str(path)) == 0
    assert "imported 2 leads; 0 already there" in workspace.out
    leads = workspace.json("lead", "list")
    assert sorted(lead["owner"] for lead in leads) == ["sofia", "sofia"]  # sam is away
    assert workspace("lead", "import", str(path)) == 0
    assert "imported 0 leads; 2 already there" in workspace.out
    assert workspace("user", "away", "sam", "--back", "--as", "founder") == 0
    assert workspace("lead", "route", "L-1") == 0
    assert "L-1 assigned to sam" in workspace.out
    assert workspace("lead", "escalate", "--at", "+1h") == 0
    assert "escalated 2 leads" in workspace.out
    assert workspace("lead", "escalate", "--at", "+1h") == 0
    assert "escalated 0 leads" in workspace.out
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAnn,nope\n")
    assert workspace("lead", "import", str(bad)) == 2
    assert "line 2: email: not an email address" in workspace.err + workspace.out
    assert workspace("user", "away", "sam") == 2
