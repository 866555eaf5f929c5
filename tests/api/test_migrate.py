"""RevOps moves the running deals of a process onto a newer version: stages mapped (same key, or
as given), the new gate judged and reported, nothing lost, and a dry run first."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dealflow.cli.app import run
from dealflow.process.loading import load_template
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.store import tables as t

from .conftest import Api

V1 = "/api/v1"


def install_v2(api: Api) -> None:
    """Version 2 of standard: Presentation becomes Demo."""
    source = load_template("standard")[1].replace("version: 1", "version: 2").replace("key: presentation", "key: demo")
    with api.uow() as uow:
        ws.install_process(uow=uow, source=source, name="standard.yaml", actor_id="root")


def running_deals(api: Api) -> tuple[str, str, str]:
    with api.uow() as uow:
        first = sd.create_deal(uow=uow, actor_id="ada", process_key=None, title="Early")
    with api.uow() as uow:
        later = sd.create_deal(
            uow=uow, actor_id="max", process_key=None, title="Late", owner="ada", stage="presentation",
            override=True, reason="From the old CRM",
        )  # fmt: skip
    with api.uow() as uow:
        closed = sd.create_deal(uow=uow, actor_id="ada", process_key=None, title="Gone")
    with api.uow() as uow:
        sd.close_deal(uow=uow, actor_id="ada", deal_id=closed.id, outcome="lost", reason="timing")
    return first.id, later.id, closed.id


def versions(api: Api) -> dict[str, tuple[int, str]]:
    with api.uow() as uow:
        rows = uow.connection.execute(select(t.deals.c.id, t.deals.c.process_version, t.deals.c.stage)).all()
    return {row.id: (row.process_version, row.stage) for row in rows}


def test_a_dry_run_shows_the_result_and_changes_nothing(api: Api) -> None:
    first, later, _closed = running_deals(api)
    install_v2(api)
    before, events = versions(api), api.count()
    body = {"to_version": 2, "mapping": {"presentation": "demo"}, "dry_run": True}
    answer = api.client("root").post(f"{V1}/processes/standard/migrate", json=body)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["migrated"] == 2
    assert {d["deal_id"]: d["to_stage"] for d in report["deals"]} == {first: "prospecting", later: "demo"}
    early = next(d for d in report["deals"] if d["deal_id"] == first)
    assert early["next_stage"] == "qualification"
    assert early["exit_unmet"]  # the new gate out of prospecting, judged on the deal's evidence
    assert versions(api) == before
    assert api.count() == events


def test_migrating_maps_stages_keeps_the_evidence_and_leaves_closed_deals(api: Api) -> None:
    first, later, closed = running_deals(api)
    install_v2(api)
    with api.uow() as uow:
        evidence = sd.check_gate(uow=uow, deal_id=later)[0].fields
    answer = api.client("root").post(
        f"{V1}/processes/standard/migrate", json={"to_version": 2, "mapping": {"presentation": "demo"}}
    )
    assert answer.status_code == 200, answer.text
    assert versions(api) == {first: (2, "prospecting"), later: (2, "demo"), closed: (1, "prospecting")}
    with api.uow() as uow:
        deal, process, gate = sd.check_gate(uow=uow, deal_id=later)
    assert deal.fields == evidence
    assert (process.version, gate is not None) == (2, True)
    again = api.client("root").post(f"{V1}/processes/standard/migrate", json={"to_version": 2})
    assert again.json()["migrated"] == 0  # nothing left on version 1 that runs


def test_a_stage_with_nowhere_to_go_refuses_the_whole_migration(api: Api) -> None:
    running_deals(api)
    install_v2(api)
    before = api.count()
    answer = api.client("root").post(f"{V1}/processes/standard/migrate", json={"to_version": 2})
    assert answer.status_code == 422
    assert "has no stage for: presentation" in answer.json()["error"]["message"]
    wrong = api.client("root").post(
        f"{V1}/processes/standard/migrate", json={"to_version": 2, "mapping": {"presentation": "nowhere"}}
    )
    assert wrong.status_code == 422
    assert "presentation -> nowhere" in wrong.json()["error"]["reasons"][0]
    assert api.count() == before


@pytest.mark.parametrize("actor", ["ada", "max"])
def test_only_revops_or_an_admin_migrates(api: Api, actor: str) -> None:
    running_deals(api)
    install_v2(api)
    answer = api.client(actor).post(
        f"{V1}/processes/standard/migrate", json={"to_version": 2, "mapping": {"presentation": "demo"}}
    )
    assert answer.status_code == 403


def test_the_command_line_migrates_after_a_dry_run(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _first, later, _ = running_deals(api)
    install_v2(api)
    base = ["process", "migrate", "standard", "--to", "2", "--map", "presentation=demo", "--db", database_url]
    assert run([*base, "--as", "ada"]) == 5
    assert run([*base, "--dry-run", "--as", "root"]) == 0
    assert "would move 2 deal(s) to standard@2" in capsys.readouterr().out
    assert versions(api)[later] == (1, "presentation")
    assert run([*base, "--as", "root"]) == 0
    assert "moved 2 deal(s)" in capsys.readouterr().out
    assert versions(api)[later] == (2, "demo")
    assert run(["process", "migrate", "standard", "--to", "2", "--map", "oops", "--db", database_url]) == 2
