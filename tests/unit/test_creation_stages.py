"""Where a process lets deals be created: the first stage unless ``moves.create_in`` says more;
a stage listed there still needs its entry criteria; a stage not listed is an override."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dealflow.domain import commands as cmds
from dealflow.domain.decisions import Actor, Refusal
from dealflow.domain.lifecycle import create_deal
from dealflow.errors import ProcessFileError
from dealflow.process.loading import load_template, parse_process
from dealflow.process.models import Process

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REP = Actor(id="ada", roles=("sdr",), team="east")
MANAGER = Actor(id="max", roles=("manager",), team="east")


def standard(create_in: str) -> Process:
    source = load_template("standard")[1].replace("create_in: [prospecting]", f"create_in: {create_in}")
    return parse_process(source, name="standard.yaml")[0]


def create(process: Process, stage: str | None, actor: Actor = REP, **options: object) -> object:
    command = cmds.CreateDeal(deal_id="D-1", title="Acme", owner="ada", stage=stage, **options)  # type: ignore[arg-type]
    return create_deal(command, process=process, actor=actor, now=NOW)


def test_by_default_deals_start_in_the_first_stage_only() -> None:
    process = load_template("standard")[0]
    assert process.creation_stages == ("prospecting",)
    (created,) = create(process, None)  # type: ignore[misc]
    assert created.data["stage"] == "prospecting"
    assert "override" not in created.data
    refused = create(process, "qualification")
    assert isinstance(refused, Refusal)
    assert refused.kind == "gate"
    assert "creates deals in Prospecting" in refused.message


def test_a_listed_stage_takes_deals_without_an_override() -> None:
    process = standard("[prospecting, qualification]")
    (created,) = create(process, "qualification")  # type: ignore[misc]
    assert created.data["stage"] == "qualification"
    assert "override" not in created.data


def test_an_override_needs_the_role_and_a_reason_and_records_what_was_unmet() -> None:
    process = load_template("standard")[0]
    refused = create(process, "presentation", override=True, reason="From the old CRM")
    assert isinstance(refused, Refusal)
    assert refused.kind == "forbidden"
    assert "only a manager" in refused.message
    assert "you are sdr" in refused.message
    unexplained = create(process, "presentation", MANAGER, override=True, reason="  ")
    assert isinstance(unexplained, Refusal)
    assert "reason" in unexplained.message
    (created,) = create(process, "presentation", MANAGER, override=True, reason="From the old CRM")  # type: ignore[misc]
    assert created.actor == "max"
    assert created.data["override"] is True
    assert created.data["reason"] == "From the old CRM"
    assert created.data["unmet"]  # the exit evidence of prospecting, qualification and discovery


@pytest.mark.parametrize(
    ("create_in", "problem"),
    [("[nowhere]", "unknown stage 'nowhere'"), ("[follow_up]", "post-sale stage")],
)
def test_the_process_file_names_real_sales_stages(create_in: str, problem: str) -> None:
    with pytest.raises(ProcessFileError, match=problem):
        standard(create_in)
