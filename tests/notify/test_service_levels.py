"""The pure rule: a stage stay or a handoff is late only past its deadline, and what the event says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealflow.domain.service_levels import handoff_breach, stage_breach

ENTERED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_stay_is_late_only_past_its_stages_sla() -> None:
    sla = timedelta(days=7)
    on_time = stage_breach("D-1", stage="discovery", owner="ada", entered_at=ENTERED, sla=sla, now=ENTERED + sla)
    assert on_time is None
    late = stage_breach("D-1", stage="discovery", owner="ada", entered_at=ENTERED, sla=sla, now=ENTERED + sla * 2)
    assert late is not None
    assert (late.type, late.stream, late.actor, late.at) == ("SlaBreached", "deal:D-1", "system", ENTERED + sla * 2)
    assert late.data == {
        "deal_id": "D-1",
        "kind": "stage",
        "stage": "discovery",
        "owner": "ada",
        "since": "2026-03-02T09:00:00+00:00",
        "due_at": "2026-03-09T09:00:00+00:00",
    }


def test_a_handoff_is_late_only_past_its_deadline() -> None:
    due = ENTERED + timedelta(days=1)

    def check(now: datetime) -> dict[str, object] | None:
        found = handoff_breach(
            "D-1", handoff_id="D-1-H3", stage="discovery", receiver="ben", created_at=ENTERED, due_at=due, now=now
        )
        return None if found is None else found.data

    assert check(due) is None
    late = check(due + timedelta(seconds=1))
    assert late is not None
    assert (late["kind"], late["handoff_id"], late["owner"], late["since"]) == (
        "handoff",
        "D-1-H3",
        "ben",
        ENTERED.isoformat(),
    )
