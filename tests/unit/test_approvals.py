"""Approvals mean something: only the roles a process names approve a kind, never the deal's owner
unless the process says so, and a gate does not count an approval its owner gave."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dealflow.domain import commands as cmds
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Refusal
from dealflow.domain.evidence import capture
from dealflow.domain.gates import check
from dealflow.domain.lifecycle import create_deal, reassign_deal
from dealflow.errors import ProcessFileError
from dealflow.process.criteria import ApprovalRecorded
from dealflow.process.loading import load_template, parse_process
from dealflow.process.models import Process

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = Actor(id="ada", roles=("ae",), team="east")
PEER = Actor(id="ben", roles=("ae",), team="east")
MANAGER = Actor(id="max", roles=("manager",), team="east")
FINANCE = Actor(id="fin", roles=("finance",), team=None)


def process_with(approvals: str) -> Process:
    source = load_template("standard")[1] + approvals
    return parse_process(source, name="standard.yaml")[0]


def deal_of(process: Process) -> Deal:
    command = cmds.CreateDeal(deal_id="D-1", title="Acme", owner="ada")
    (created,) = create_deal(command, process=process, actor=OWNER, now=NOW)  # type: ignore[misc]
    deal = evolve(None, created)
    assert deal is not None
    return deal


def approve(deal: Deal, process: Process, actor: Actor) -> Deal | Refusal:
    decision = capture(
        deal, cmds.RecordApproval(approval="discount", note="15% off"), process=process, actor=actor, now=NOW
    )
    if isinstance(decision, Refusal):
        return decision
    (recorded,) = decision
    after = evolve(deal, recorded)
    assert after is not None
    return after


GATE = ApprovalRecorded(kind="approval", approval="discount")


def test_by_default_a_manager_approves_and_never_the_owner_or_a_peer() -> None:
    process = load_template("standard")[0]
    deal = deal_of(process)
    refused = approve(deal, process, OWNER)
    assert isinstance(refused, Refusal)
    assert (refused.kind, refused.message) == (
        "forbidden",
        "you own this deal, so someone else must approve its discount (a manager or revops or admin)",
    )
    peer = approve(deal, process, PEER)
    assert isinstance(peer, Refusal)
    assert peer.message == "only a manager or revops or admin may approve a discount"
    approved = approve(deal, process, MANAGER)
    assert isinstance(approved, Deal)
    assert approved.approvals["discount"].by == "max"
    assert check(GATE, approved, process, NOW) is None


def test_the_process_names_who_approves_a_kind_and_may_let_the_owner() -> None:
    process = process_with(
        "\nroles: [sdr, ae, csm, manager, revops, admin, finance]\napprovals:\n  discount:\n    roles: [finance]\n"
    )
    deal = deal_of(process)
    assert isinstance(approve(deal, process, MANAGER), Refusal)
    assert isinstance(approve(deal, process, FINANCE), Deal)
    lenient = process_with("\napprovals:\n  discount:\n    roles: [ae]\n    owner_may_approve: true\n")
    assert isinstance(approve(deal_of(lenient), lenient, OWNER), Deal)


def test_an_approval_stops_counting_once_its_approver_owns_the_deal() -> None:
    process = load_template("standard")[0]
    approved = approve(deal_of(process), process, MANAGER)
    assert isinstance(approved, Deal)
    (moved,) = reassign_deal(approved, cmds.ReassignDeal(to_owner="max"), actor=MANAGER, now=NOW)  # type: ignore[misc]
    theirs = evolve(approved, moved)
    assert theirs is not None
    unmet = check(GATE, theirs, process, NOW)
    assert unmet is not None
    assert unmet.detail == "approved by max, who owns the deal"


@pytest.mark.parametrize("roles", ["[]", "[Finance Team]", "[finance]"])  # finance: not a role of the file
def test_a_bad_approvers_list_is_a_file_error(roles: str) -> None:
    with pytest.raises(ProcessFileError, match="approvals"):
        process_with(f"\napprovals:\n  discount:\n    roles: {roles}\n")
