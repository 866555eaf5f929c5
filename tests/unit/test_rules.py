"""The pure core: gates list every unmet criterion, moves, overrides, handoffs and outcomes."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Refusal
from dealflow.domain.evidence import capture
from dealflow.domain.gates import check, exit_gate
from dealflow.domain.handoffs import accept_handoff, return_handoff
from dealflow.domain.lifecycle import create_deal
from dealflow.domain.moves import move_deal
from dealflow.domain.outcomes import close_deal
from dealflow.errors import InvalidInput
from dealflow.process.loading import load_template, parse_process
from tests.factories import (
    AE,
    MANAGER,
    NOW,
    PROCESS,
    SDR,
    apply,
    confirmed_step,
    events_of,
    give,
    new_deal,
    qualified_deal,
)


def test_a_refused_gate_lists_every_unmet_criterion_not_only_the_first() -> None:
    deal = new_deal()
    decision = move_deal(deal, cmds.MoveDeal(to="qualification"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(decision, Refusal)
    assert decision.kind == "gate"
    assert decision.reasons == (
        "No conversation logged yet (log at least one call) (0 so far)",
        "No qualification call scheduled (none set)",
    )


def test_gate_passes_once_the_evidence_is_there_and_the_move_is_recorded() -> None:
    deal = qualified_deal()
    assert deal.stage == "qualification"
    assert exit_gate(deal, PROCESS, "discovery", NOW).passed


def test_required_fields_count_as_part_of_the_gate() -> None:
    deal = qualified_deal()
    deal = give(deal, cmds.UpdateFields(fields={"urgency": None}))
    unmet = [str(u) for u in exit_gate(deal, PROCESS, "discovery", NOW).unmet]
    assert unmet == ["Urgency not captured"]


def test_evidence_expires_after_max_age() -> None:
    deal = qualified_deal()
    later = NOW + timedelta(days=91)
    deal = give(
        deal,
        cmds.SetNextStep(action="Call", owner="ada", due=later + timedelta(days=2), buyer_confirmed=True),
        at=later,
    )
    unmet = [str(u) for u in exit_gate(deal, PROCESS, "discovery", later).unmet]
    assert unmet == [
        "BANT not qualified (at least 3 of 4 confirmed in the last 90 days) (score 0)",
        "Budget not confirmed in the last 90 days (last captured 2026-03-02)",
    ]


def test_next_step_must_be_in_the_future_and_buyer_confirmed() -> None:
    deal = qualified_deal()
    unconfirmed = cmds.SetNextStep(action="Demo", owner="ada", due=NOW + timedelta(days=1))
    deal = give(deal, unconfirmed)
    (unmet,) = exit_gate(deal, PROCESS, "discovery", NOW).unmet
    assert str(unmet) == "No discovery meeting confirmed by the buyer ('Demo' is not confirmed by the buyer)"
    (unmet,) = exit_gate(deal, PROCESS, "discovery", NOW + timedelta(days=2)).unmet
    assert "'Demo' was due 2026-03-03" in str(unmet)


def test_activities_count_only_since_entering_the_stage() -> None:
    deal = give(new_deal(), cmds.LogActivity(kind="call", summary="Intro"))
    deal = give(deal, confirmed_step())
    deal = apply(deal, move_deal(deal, cmds.MoveDeal(to="qualification"), process=PROCESS, actor=SDR, now=NOW))
    back = cmds.MoveDeal(to="prospecting", reason="Wrong contact")
    later = NOW + timedelta(hours=1)
    deal = apply(deal, move_deal(deal, back, process=PROCESS, actor=SDR, now=later))
    unmet = [u.kind for u in exit_gate(deal, PROCESS, "qualification", later).unmet]
    assert unmet == ["activity", "next_step"]  # the next step too was set before this stay began


def test_a_move_to_an_unknown_stage_or_a_skip_is_refused() -> None:
    deal = new_deal()
    unknown = move_deal(deal, cmds.MoveDeal(to="closng"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(unknown, Refusal)
    assert unknown.message == "unknown stage 'closng'"
    skip = move_deal(deal, cmds.MoveDeal(to="closing"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(skip, Refusal)
    assert skip.reasons == ("The next stage is Qualification",)


def test_a_backward_move_needs_a_reason() -> None:
    deal = qualified_deal()
    refused = move_deal(deal, cmds.MoveDeal(to="prospecting"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    moved = events_of(
        move_deal(deal, cmds.MoveDeal(to="prospecting", reason="No budget yet"), process=PROCESS, actor=SDR, now=NOW)
    )
    assert [(e.type, e.data["kind"]) for e in moved] == [(ev.DEAL_MOVED, "backward")]


def test_only_allowed_roles_override_and_only_with_a_reason() -> None:
    deal = new_deal()
    as_sdr = move_deal(
        deal, cmds.MoveDeal(to="qualification", override=True, reason="x"), process=PROCESS, actor=SDR, now=NOW
    )
    assert isinstance(as_sdr, Refusal)
    assert as_sdr.kind == "forbidden"
    no_reason = move_deal(
        deal, cmds.MoveDeal(to="qualification", override=True), process=PROCESS, actor=MANAGER, now=NOW
    )
    assert isinstance(no_reason, Refusal)
    assert no_reason.message == "an override needs a written reason"
    found = events_of(
        move_deal(
            deal,
            cmds.MoveDeal(to="qualification", override=True, reason="CEO referral"),
            process=PROCESS,
            actor=MANAGER,
            now=NOW,
        )
    )
    assert [e.type for e in found] == [ev.GATE_OVERRIDDEN, ev.DEAL_MOVED]
    assert found[0].data["unmet"] == [
        "No conversation logged yet (log at least one call) (0 so far)",
        "No qualification call scheduled (none set)",
    ]
    assert found[0].data["reason"] == "CEO referral"
    assert found[1].data["override"] is True


def test_a_move_that_changes_role_creates_a_handoff_with_context() -> None:
    deal = qualified_deal()
    command = cmds.MoveDeal(to="discovery", handoff_to="ben", handoff_to_roles=("ae",))
    found = events_of(move_deal(deal, command, process=PROCESS, actor=SDR, now=NOW))
    assert [e.type for e in found] == [ev.DEAL_MOVED, ev.HANDOFF_CREATED]
    handoff = found[1].data
    assert (handoff["from_owner"], handoff["to_owner"]) == ("ada", "ben")
    assert handoff["context"]["pain"] == "Slow quotes"
    assert handoff["context"]["qualification"] == {"bant": ["authority", "budget", "need"]}
    assert handoff["missing"] == ["use_case", "contacts"]
    assert handoff["completeness"] == round(5 / 7, 4)
    assert handoff["due_at"] == (NOW + timedelta(days=1)).isoformat()


def test_a_receiver_without_the_stage_role_is_refused() -> None:
    deal = qualified_deal()
    command = cmds.MoveDeal(to="discovery", handoff_to="max", handoff_to_roles=("manager",))
    refused = move_deal(deal, command, process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    assert refused.reasons == ("max is manager, but Discovery is owned by ae",)


def handed_off() -> Deal:
    deal = qualified_deal()
    command = cmds.MoveDeal(to="discovery", handoff_to="ben", handoff_to_roles=("ae",))
    return apply(deal, move_deal(deal, command, process=PROCESS, actor=SDR, now=NOW))


def test_accepting_a_handoff_gives_the_deal_to_the_receiver() -> None:
    deal = handed_off()
    assert deal.handoff is not None
    assert deal.owner == "ada"
    stranger = accept_handoff(deal, deal.handoff.id, PROCESS, actor=Actor(id="cyd", roles=("ae",)), now=NOW)
    assert isinstance(stranger, Refusal)
    assert stranger.kind == "forbidden"
    deal = apply(deal, accept_handoff(deal, deal.handoff.id, PROCESS, actor=AE, now=NOW + timedelta(hours=2)))
    assert (deal.owner, deal.stage, deal.handoff) == ("ben", "discovery", None)


def test_a_handoff_sent_back_returns_the_deal_to_its_sender() -> None:
    deal = handed_off()
    assert deal.handoff is not None
    blank = return_handoff(deal, deal.handoff.id, "  ", actor=AE, now=NOW)
    assert isinstance(blank, Refusal)
    deal = apply(deal, return_handoff(deal, deal.handoff.id, "No stakeholder named", actor=AE, now=NOW))
    assert (deal.owner, deal.stage, deal.handoff) == ("ada", "qualification", None)


def test_winning_needs_the_right_stage_a_reason_code_and_the_contract() -> None:
    deal = qualified_deal()
    refused = close_deal(deal, cmds.CloseDeal(outcome="won", reason="magic"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    assert "'magic' is not a reason code" in refused.reasons[0]
    refused = close_deal(deal, cmds.CloseDeal(outcome="won", reason="value"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    assert refused.reasons == (
        "A deal is won only from: Closing",
        "Amount not captured",
        "No signed contract attached",
    )


def test_losing_records_the_reason_code_and_fields() -> None:
    deal = qualified_deal()
    command = cmds.CloseDeal(outcome="lost", reason="competitor", fields={"amount": "12000"})
    deal = apply(deal, close_deal(deal, command, process=PROCESS, actor=SDR, now=NOW))
    assert (deal.status, deal.outcome_reason, deal.value("amount")) == ("lost", "competitor", "12000.00")
    again = close_deal(deal, cmds.CloseDeal(outcome="won", reason="value"), process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(again, Refusal)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "-5"}, "amount: must not be negative (got -5)"),
        ({"amount": "lots"}, "amount: not an amount: 'lots'"),
        ({"close_date": "31/12/2026"}, "close_date: not a date: '31/12/2026' (write YYYY-MM-DD)"),
        ({"urgency": "extreme"}, "urgency: 'extreme' is not one of: low, medium, high"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"pain": "x" * 10_000_001}, "pain: too long (10,000,001 characters; at most 10,000)"),
    ],
)
def test_bad_field_values_are_named(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        capture(new_deal(), cmds.UpdateFields(fields=fields), process=PROCESS, actor=SDR, now=NOW)
    assert caught.value.message.startswith(message)


def test_the_core_imports_no_database_web_or_cli_library() -> None:
    root = Path(__file__).parents[2] / "src" / "dealflow"
    banned = ("sqlalchemy", "alembic", "fastapi", "typer", "rich", "jinja2", "psycopg")
    for folder in ("process", "domain"):
        for path in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                assert not [n for n in names if n.split(".")[0] in banned], f"{path.name} imports {names}"


def test_the_owner_keeps_the_deal_across_a_role_change_only_if_they_hold_the_role() -> None:
    deal = qualified_deal()
    as_sdr = cmds.MoveDeal(to="discovery", handoff_to="ada", handoff_to_roles=("sdr",))
    refused = move_deal(deal, as_sdr, process=PROCESS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    assert refused.reasons == ("ada is sdr, but Discovery is owned by ae",)
    founder = cmds.MoveDeal(to="discovery", handoff_to="ada", handoff_to_roles=("sdr", "ae"))
    found = events_of(move_deal(deal, founder, process=PROCESS, actor=SDR, now=NOW))
    assert [e.type for e in found] == [ev.DEAL_MOVED]


@pytest.mark.parametrize(
    ("expr", "fields", "holds"),
    [
        ("close_date > today", {"close_date": "2026-03-30"}, True),
        ("close_date > today", {"close_date": "2026-03-01"}, False),
        ("days_until(close_date) <= 30", {"close_date": "2026-03-30"}, True),
        ("close_date <= date('2026-03-31')", {"close_date": "2026-04-01"}, False),
        ("urgency in ('high', 'medium')", {"urgency": "medium"}, True),
        ("urgency in ('high', 'medium')", {"urgency": "low"}, False),
        ("amount >= 5000 and urgency == 'high'", {"amount": "5000", "urgency": "high"}, True),
    ],
)
def test_conditions_compare_dates_as_dates_and_take_tuples(expr: str, fields: dict[str, str], holds: bool) -> None:
    source = load_template("standard")[1].replace('expr: "amount > 0"', f'expr: "{expr}"')
    process = parse_process(source, name="p.yaml")[0]
    command = cmds.CreateDeal(deal_id="D-1", title="Acme", owner="ada", fields=fields)
    deal = apply(None, create_deal(command, process=process, actor=SDR, now=NOW))
    stage = process.stage("objection_handling")
    assert stage is not None
    (condition,) = [c for c in stage.exit if c.kind == "condition"]
    assert (check(condition, deal, process, NOW) is None) is holds
