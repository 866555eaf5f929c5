"""The inspection queue and the deal review agenda, on SQLite and PostgreSQL, over deals built
through the real use cases with a hand-moved clock."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from dealflow.analytics.inspection import Finding, inspect_deals
from dealflow.analytics.metrics import compute_metrics
from dealflow.analytics.review import agenda_text, review_deal
from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.errors import NotFound
from dealflow.services import deals as sd
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import Clock
from .conftest import Cli

Factory = Callable[[], UnitOfWork]
RANK = {"high": 3, "medium": 2, "low": 1}


def create(team: Factory, title: str, **fields: Any) -> str:
    with team() as uow:
        deal = sd.create_deal(
            uow=uow, actor_id="ada", process_key="standard", title=title, fields={"source": "inbound", **fields}
        )
    return deal.id


def capture(team: Factory, deal_id: str, command: Any, actor: str = "ada") -> None:
    with team() as uow:
        sd.capture_evidence(uow=uow, actor_id=actor, deal_id=deal_id, command=command)


def step(team: Factory, deal_id: str, due: datetime, *, confirmed: bool = True, actor: str = "ada") -> None:
    capture(team, deal_id, cmds.SetNextStep(action="Call back", owner=actor, due=due, buyer_confirmed=confirmed), actor)


def move(team: Factory, deal_id: str, to: str, actor: str = "ada", **options: Any) -> None:
    with team() as uow:
        sd.move_deal(uow=uow, actor_id=actor, deal_id=deal_id, to=to, **options)


def pending_handoff(team: Factory, deal_id: str) -> str:
    with team() as uow:
        return str(next(h.id for h in queries.list_handoffs(uow.connection) if h.deal_id == deal_id))


def qualify(team: Factory, clock: Clock, deal_id: str) -> None:
    """Capture what the qualification gate asks for, with a buyer-confirmed next step."""
    capture(team, deal_id, cmds.UpdateFields(fields={"pain": "Slow quotes", "urgency": "high", "budget": "20000"}))
    for element in ("budget", "authority", "need"):
        capture(team, deal_id, cmds.ScoreQualification(framework="bant", element=element))
    step(team, deal_id, clock.now + timedelta(days=10))


def to_qualification(team: Factory, clock: Clock, deal_id: str) -> None:
    capture(team, deal_id, cmds.LogActivity(kind="call", summary="First call"))
    step(team, deal_id, clock.now + timedelta(days=10))
    move(team, deal_id, "qualification")


def reasons_by_deal(findings: list[Finding]) -> dict[str, set[str]]:
    return {f.deal_id: {r.code for r in f.reasons} for f in findings}


def test_each_deal_gets_exactly_its_reasons_and_a_healthy_deal_is_left_out(
    team: Factory, clock: Clock, engine: Engine
) -> None:
    start = clock.now
    stalled = create(team, "Stalled")
    step(team, stalled, start + timedelta(days=30))
    clock.advance(days=8)
    t1 = clock.now
    no_step = create(team, "No step")
    overdue = create(team, "Overdue")
    step(team, overdue, t1 + timedelta(hours=1))
    unconfirmed = create(team, "Unconfirmed")
    step(team, unconfirmed, t1 + timedelta(days=10), confirmed=False)
    pushed = create(team, "Pushed", close_date="2026-04-01")
    capture(team, pushed, cmds.UpdateFields(fields={"close_date": "2026-04-15"}))
    capture(team, pushed, cmds.UpdateFields(fields={"close_date": "2026-05-01"}))
    step(team, pushed, t1 + timedelta(days=10))
    late_close = create(team, "Late close", close_date=(t1 - timedelta(days=1)).date().isoformat())
    step(team, late_close, t1 + timedelta(days=10))
    swing = create(team, "Swing", amount="10000")
    capture(team, swing, cmds.UpdateFields(fields={"amount": "15000"}))
    step(team, swing, t1 + timedelta(days=10))
    handoff = create(team, "Handoff")
    to_qualification(team, clock, handoff)
    qualify(team, clock, handoff)
    move(team, handoff, "discovery", handoff_to="ben")
    thin = create(team, "Thin")
    move(team, thin, "qualification", actor="max", override=True, reason="Warm referral")
    move(team, thin, "discovery", actor="max", override=True, reason="Warm referral", handoff_to="ben")
    with team() as uow:
        sd.accept_handoff(uow=uow, actor_id="ben", handoff_id=pending_handoff(team, thin))
    missing = create(team, "Missing")
    to_qualification(team, clock, missing)
    step(team, missing, t1 + timedelta(days=10))
    healthy = create(team, "Healthy")
    step(team, healthy, t1 + timedelta(days=10))
    clock.advance(days=3)

    with engine.connect() as connection:
        findings = inspect_deals(connection, now=clock.now)

    assert reasons_by_deal(findings) == {
        stalled: {"stalled_sla"},
        no_step: {"no_next_step"},
        overdue: {"next_step_overdue"},
        unconfirmed: {"next_step_unconfirmed"},
        pushed: {"close_date_pushed"},
        late_close: {"close_date_past"},
        swing: {"amount_swing"},
        handoff: {"handoff_unaccepted"},
        thin: {"handoff_thin", "no_next_step", "entered_by_override"},  # its move into discovery was an override
        missing: {"missing_required"},
    }
    by_id = {f.deal_id: f for f in findings}
    severities = {d: {r.code: r.severity for r in f.reasons} for d, f in by_id.items()}
    assert severities[stalled] == {"stalled_sla": "medium"}  # 11 days in a 7-day stage: under twice the SLA
    assert severities[unconfirmed] == {"next_step_unconfirmed": "low"}  # prospecting does not demand confirmation
    assert severities[no_step] == {"no_next_step": "high"}
    assert severities[handoff] == {"handoff_unaccepted": "high"}
    assert by_id[thin].severity == "high"
    assert by_id[stalled].days_in_stage == pytest.approx(11.0)
    assert "Pain points" in next(r.message for r in by_id[missing].reasons)
    assert "50%" in next(r.message for r in by_id[swing].reasons)
    # Most severe first, then the longest in its stage.
    order = sorted(findings, key=lambda f: (-RANK[f.severity], f.stage_entered_at, f.deal_id))
    assert [f.deal_id for f in findings] == [f.deal_id for f in order]
    assert findings[0].severity == "high"
    assert findings[-1].deal_id == unconfirmed

    with engine.connect() as connection:
        assert [f.deal_id for f in inspect_deals(connection, now=clock.now, owner="ben")] == [thin]
        assert inspect_deals(connection, now=clock.now, team="west") == []
        east = inspect_deals(connection, now=clock.now, team="east", process="standard")
        assert {f.deal_id for f in east} == set(by_id)
        assert inspect_deals(connection, now=clock.now, process="saas") == []


def test_a_stay_beyond_the_stage_p80_is_flagged_once_the_stage_has_history(
    team: Factory, clock: Clock, engine: Engine
) -> None:
    hours = [1, 2, 3, 5, 8]
    for number, stay in enumerate(hours):
        deal_id = create(team, f"Quick {number}")
        capture(team, deal_id, cmds.LogActivity(kind="call", summary="Call"))
        step(team, deal_id, clock.now + timedelta(days=30))
        clock.advance(hours=stay)
        move(team, deal_id, "qualification")
        qualify(team, clock, deal_id)  # keeps these deals out of the queue
    p80 = statistics.quantiles(hours, n=5, method="inclusive")[3]  # linear interpolation, in hours
    slow = create(team, "Slow")
    step(team, slow, clock.now + timedelta(days=30))
    clock.advance(hours=1)
    later = create(team, "Later")
    step(team, later, clock.now + timedelta(days=30))
    clock.advance(hours=p80 - 1.1)  # the slow deal is 0.1 hour short of the p80
    with engine.connect() as connection:
        assert inspect_deals(connection, now=clock.now) == []
    clock.advance(hours=0.2)
    with engine.connect() as connection:
        found = inspect_deals(connection, now=clock.now)
    assert reasons_by_deal(found) == {slow: {"stalled_p80"}}
    assert f"{round(p80)} hours" in found[0].reasons[0].message


def test_inspect_and_review_on_the_command_line(team: Factory, clock: Clock, cli: Cli) -> None:
    # The command line reads the real clock: both deals are long past their stage's service level.
    nothing = create(team, "Nothing next")
    ready = create(team, "All set")
    step(team, ready, clock.now + timedelta(days=4000))
    rows = cli.json("inspect")
    assert isinstance(rows, list)
    codes = {r["deal_id"]: {reason["code"] for reason in r["reasons"]} for r in rows}
    assert codes == {nothing: {"no_next_step", "stalled_sla"}, ready: {"stalled_sla"}}
    assert cli("inspect", "--owner", "ada") == 0
    assert nothing in cli.out
    assert ready in cli.out
    assert "2 deals need attention (2 high)" in cli.out  # over twice the service level
    high = cli.json("inspect", "--severity", "high")
    assert [r["deal_id"] for r in high] == [nothing, ready]  # type: ignore[union-attr]
    assert cli("inspect", "--owner", "cyd") == 0
    assert "no open deal needs attention" in cli.out
    assert cli("inspect", "--severity", "urgent") == 2
    assert "--severity" in cli.err
    assert cli("review", ready) == 0
    assert cli.out.startswith(f"Review of {ready} All set")
    assert "1. Why did it move, and what evidence supported each move?" in cli.out
    assert "Yes: 'Call back' owned by ada" in cli.out
    review = cli.json("review", ready)
    assert isinstance(review, dict)
    assert review["next_step"]["buyer_confirmed"] is True
    assert [item["number"] for item in review["agenda"]] == [1, 2, 3, 4, 5]
    assert cli("review", "D-99") == 4
    assert "no deal 'D-99'" in cli.err


def event_rows(engine: Engine, deal_id: str, kind: str) -> list[Any]:
    """The deal's events of one type, read straight from the log table."""
    e = t.events
    query = select(e.c.seq, e.c.at, e.c.actor, e.c.data).where(e.c.stream == f"deal:{deal_id}", e.c.type == kind)
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(e.c.seq)))


def test_the_review_names_the_evidence_the_override_and_the_handoff_sent_back(
    team: Factory, clock: Clock, engine: Engine
) -> None:
    # Two other deals with history in the same stages.
    lost = create(team, "Lost one")
    to_qualification(team, clock, lost)
    clock.advance(days=2)
    with team() as uow:
        sd.close_deal(uow=uow, actor_id="ada", deal_id=lost, outcome="lost", reason="competitor")
    pushed = create(team, "Pushed through")
    to_qualification(team, clock, pushed)
    clock.advance(days=4)
    move(team, pushed, "discovery", actor="max", override=True, reason="Big logo", handoff_to="ben")
    with team() as uow:
        sd.accept_handoff(uow=uow, actor_id="ben", handoff_id=pending_handoff(team, pushed))
    clock.advance(days=1)
    move(team, pushed, "qualification", actor="ben", reason="Budget not real")

    # The deal under review.
    created_at = clock.advance(hours=1)
    deal_id = create(team, "Under review")
    call_at = clock.advance(hours=1)
    capture(team, deal_id, cmds.LogActivity(kind="call", summary="Intro call"))
    step_at = clock.advance(hours=1)
    step(team, deal_id, clock.now + timedelta(days=5), confirmed=False)
    qualified_at = clock.advance(hours=1)
    move(team, deal_id, "qualification")
    override_at = clock.advance(days=1)
    move(team, deal_id, "discovery", actor="max", override=True, reason="CEO referral", handoff_to="ben")
    returned_at = clock.advance(hours=2)
    with team() as uow:
        sd.return_handoff(uow=uow, actor_id="ben", handoff_id=pending_handoff(team, deal_id), reason="No pain captured")
    pain_at = clock.advance(hours=1)
    qualify(team, clock, deal_id)
    moved_at = clock.advance(hours=1)
    move(team, deal_id, "discovery", handoff_to="ben")
    clock.advance(hours=1)
    with team() as uow:
        sd.accept_handoff(uow=uow, actor_id="ben", handoff_id=pending_handoff(team, deal_id))
    now = clock.advance(days=1)

    with engine.connect() as connection:
        review = review_deal(connection, deal_id=deal_id, now=now)
        with pytest.raises(NotFound, match="no deal 'D-99'"):
            review_deal(connection, deal_id="D-99", now=now)

    assert [(m.kind, m.overridden, m.from_stage, m.to_stage) for m in review.moves] == [
        ("forward", False, "prospecting", "qualification"),
        ("forward", True, "qualification", "discovery"),
        ("returned", False, "discovery", "qualification"),
        ("forward", False, "qualification", "discovery"),
    ]
    first, override, returned, second = review.moves
    # The first move: every criterion met, each backed by the event that supplied it.
    assert all(c.met for c in first.checks)
    evidence = {c.requirement: c.evidence for c in first.checks}
    created = event_rows(engine, deal_id, ev.DEAL_CREATED)[0]
    call = event_rows(engine, deal_id, ev.ACTIVITY_LOGGED)[0]
    next_step = event_rows(engine, deal_id, ev.NEXT_STEP_SET)[0]
    assert [(p.by, p.at, p.seq) for p in evidence["Lead source captured"]] == [("ada", created_at, created.seq)]
    assert [(p.by, p.at, p.seq) for p in evidence["1 call logged in the stage"]] == [("ada", call_at, call.seq)]
    assert [(p.by, p.at, p.seq) for p in evidence["A next step in the future"]] == [("ada", step_at, next_step.seq)]
    assert first.at == qualified_at
    # The override: who, why, and what the gate lacked, as the log recorded it.
    gate_overridden = event_rows(engine, deal_id, ev.GATE_OVERRIDDEN)[0]
    assert (override.actor, override.at, override.reason) == ("max", override_at, "CEO referral")
    assert list(override.unmet) == gate_overridden.data["unmet"]
    assert "Pain points not captured" in override.unmet
    assert not all(c.met for c in override.checks)
    # Sent back at handoff, then moved again on evidence.
    assert (returned.actor, returned.at, returned.reason) == ("ben", returned_at, "No pain captured")
    assert all(c.met for c in second.checks)
    pain = next(c for c in second.checks if c.requirement == "Pain points captured")
    assert [(p.what, p.by, p.at) for p in pain.evidence] == [("'Slow quotes'", "ada", pain_at)]
    assert second.at == moved_at

    # Handoffs: completeness and missing context as stored, and how each ended.
    with engine.connect() as connection:
        stored = list(
            connection.execute(
                select(t.handoffs).where(t.handoffs.c.deal_id == deal_id).order_by(t.handoffs.c.created_at)
            )
        )
    assert [(h.id, h.status, h.reason, h.completeness) for h in review.handoffs] == [
        (row.id, row.status, row.reason, row.completeness) for row in stored
    ]
    assert [h.status for h in review.handoffs] == ["returned", "accepted"]
    empty = (None, "", [], {})
    assert sorted(review.handoffs[0].missing) == sorted(k for k, v in stored[0].context.items() if v in empty)
    assert review.next_step is not None
    assert review.next_step.buyer_confirmed

    # Friction on similar deals, from the two other deals built above.
    friction = {f.stage: f for f in review.friction}
    assert list(friction) == ["prospecting", "qualification", "discovery"]
    qualification = friction["qualification"]
    assert (qualification.other_deals, qualification.lost, qualification.overridden, qualification.went_back) == (
        2,
        0.5,
        0.5,
        0.0,
    )
    assert [(r.reason, r.deals) for r in qualification.lost_reasons] == [("competitor", 1)]
    assert qualification.median_days == pytest.approx((2 + 4) / 2)
    stays = (override_at - qualified_at) + (moved_at - returned_at)
    assert qualification.this_deal_days == pytest.approx(stays / timedelta(days=1), abs=0.01)
    discovery = friction["discovery"]
    assert (discovery.other_deals, discovery.went_back, discovery.median_days) == (1, 1.0, pytest.approx(1.0))
    assert discovery.this_deal_days == pytest.approx(
        ((returned_at - override_at) + (now - moved_at)) / timedelta(days=1), abs=0.01
    )

    text = agenda_text(review)
    print(text)
    assert "max moved it Qualification -> Discovery past a failed gate (override): 'CEO referral'" in text
    assert "[ ] unmet at the time: Pain points not captured" in text
    assert "ben sent it back at handoff from Discovery to Qualification: 'No pain captured'" in text
    assert f"[x] Pain points captured: 'Slow quotes' (ada, {pain_at:%Y-%m-%d %H:%M}" in text
    assert f"[x] 1 call logged in the stage: call: Intro call (ada, {call_at:%Y-%m-%d %H:%M}, event {call.seq})" in text
    # ben accepted the handoff: ada's next step passed to him, and Discovery's gate asks for its own
    assert "Yes: 'Call back' owned by ben" in text
    assert "('Call back' was set on" in text
    assert "before this stage: set this stage's)" in text
    assert "most common lost reasons: competitor (1)" in text
    assert "5. What does Discovery still need before it can move to Presentation?" in text


def test_the_review_of_a_lost_deal_says_why_it_closed(team: Factory, clock: Clock, engine: Engine) -> None:
    deal_id = create(team, "Gone")
    clock.advance(days=1)
    with team() as uow:
        sd.close_deal(uow=uow, actor_id="ada", deal_id=deal_id, outcome="lost", reason="timing")
    with engine.connect() as connection:
        review = review_deal(connection, deal_id=deal_id, now=clock.now)
    assert [(m.kind, m.reason, m.from_stage) for m in review.moves] == [("lost", "timing", "prospecting")]
    assert (review.next_stage, review.still_lacks) == (None, ())
    assert [item.number for item in review.agenda] == [1, 2, 3, 4]
    assert "ada closed it as lost in Prospecting (reason: timing)" in agenda_text(review)
    assert "No: no next step is set." in agenda_text(review)


def test_a_next_step_due_this_very_moment_is_overdue_everywhere(team: Factory, clock: Clock, engine: Engine) -> None:
    deal_id = create(team, "On the dot")
    due = clock.now + timedelta(hours=2)
    step(team, deal_id, due)
    clock.now = due  # the boundary: due exactly now
    with team() as uow:
        _, _, gate = sd.check_gate(uow=uow, deal_id=deal_id)
        findings = {f.deal_id: {r.code for r in f.reasons} for f in inspect_deals(uow.connection, now=clock.now)}
        metrics = compute_metrics(
            uow.connection, process="standard", period=None, slice_by=None, filters={}, now=clock.now, target=None
        )
        review = review_deal(uow.connection, deal_id=deal_id, now=clock.now)
    assert gate is not None
    assert any(u.kind == "next_step" and "was due" in u.detail for u in gate.unmet)
    assert "next_step_overdue" in findings[deal_id]
    assert (metrics.next_steps.overdue, metrics.next_steps.compliant) == (1, 0)
    assert review.next_step is not None
    assert review.next_step.overdue
