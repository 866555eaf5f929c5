"""Cadences as data and as rules: process-file keys checked at load, touches done in order, stops."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dealflow.domain import events as ev
from dealflow.domain.cadences import CadenceRun, RunTouch, record_touch, start_cadence, stop_cadence
from dealflow.domain.decisions import Actor, Refusal
from dealflow.errors import InvalidInput, ProcessFileError
from dealflow.process.cadences import cadence_for, plan, starts_on_create
from dealflow.process.loading import load_template, parse_process
from dealflow.process.models import DEFAULT_CADENCE, DEFAULT_LEAD_CADENCE

# The standard template without its own leads section (the tests below write one).
SOURCE = load_template("standard")[1].split("\nleads:\n")[0] + "\n"
ADA = Actor("ada", ("sdr",))
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
LEAD_CADENCE = """
leads:
  cadence:
    name: Inbound follow-up
    start: on_create
    stop_on: [meeting]
    grace_days: 2
    touches:
      - {day: 0, channel: email, template: "Hello"}
      - {day: 1, channel: call}
      - {day: 4, channel: email}
      - {day: 7, channel: linkedin}
      - {day: 12, channel: sms}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ProcessFileError) as caught:
        parse_process(text, name="p.yaml")
    return caught.value.problems


def test_every_shipped_template_still_loads_with_a_lead_and_a_deal_cadence_of_five_or_more() -> None:
    for name in ("standard", "small_business", "saas", "agency", "recruiting"):
        process = load_template(name)[0]
        assert len(process.leads.cadence.touches) >= 5
        assert len(process.cadence.touches) >= 5
        assert process.cadence.stop_on == ("reply", "meeting")
        assert starts_on_create(process.leads.cadence, "lead")
        assert not starts_on_create(process.cadence, "deal")


def test_a_process_declares_its_lead_cadence_under_leads() -> None:
    process, warnings = parse_process(SOURCE + LEAD_CADENCE, name="p.yaml")
    assert warnings == []
    found = cadence_for(process, "lead")
    assert (found.name, found.stop_on, found.grace_days, len(found.touches)) == (
        "Inbound follow-up",
        ("meeting",),
        2,
        5,
    )
    assert cadence_for(process, "deal") == process.cadence
    assert cadence_for(None, "lead") == DEFAULT_LEAD_CADENCE
    assert cadence_for(None, "deal") == DEFAULT_CADENCE


def test_lead_cadence_mistakes_are_named_with_their_line() -> None:
    text = SOURCE + LEAD_CADENCE.replace("{day: 4, channel: email}", "{day: 4, channel: fax}")
    (found,) = problems(text)
    assert "leads.cadence.touches[2].channel" in found
    assert "'call', 'email'" in found
    found = problems(SOURCE + LEAD_CADENCE.replace("{day: 7, channel: linkedin}", "{day: 3, channel: linkedin}"))
    assert found == [f"p.yaml:{found[0].split(':')[1]}: leads.cadence.touches: touches must be in order of their day"]
    empty = SOURCE + "\nleads:\n  cadence:\n    touches: []\n"
    assert any("leads.cadence.touches" in p and "at least 1" in p for p in problems(empty))
    assert any("stop_on" in p for p in problems(SOURCE + LEAD_CADENCE.replace("[meeting]", "[meeting, lunch]")))
    assert any("start" in p for p in problems(SOURCE + LEAD_CADENCE.replace("on_create", "at_dawn")))


def test_a_deal_cadence_may_start_when_the_deal_is_created() -> None:
    text = SOURCE.replace("cadence:\n  name:", "cadence:\n  start: on_create\n  name:", 1)
    process, _ = parse_process(text, name="p.yaml")
    assert starts_on_create(process.cadence, "deal")


def _run(*done: bool, stop_on: tuple[str, ...] = ("reply", "meeting")) -> CadenceRun:
    touches = tuple(
        RunTouch(step=i + 1, channel="email", template="", due_on=date(2026, 3, 2 + i), done=d)
        for i, d in enumerate(done)
    )
    return CadenceRun(subject="lead:L-1", run=7, cadence="c", stop_on=stop_on, touches=touches)


def test_starting_plans_every_touch_from_today_and_refuses_a_second_or_closed_one() -> None:
    planned = plan(DEFAULT_LEAD_CADENCE, NOW.date())
    found = start_cadence("lead:L-1", DEFAULT_LEAD_CADENCE, planned, owner="ada", status="open", running=False,
                          actor=ADA, now=NOW)  # fmt: skip
    assert not isinstance(found, Refusal)
    (started,) = found
    assert started.type == ev.CADENCE_STARTED
    assert [t["due_on"] for t in started.data["touches"]] == [
        date(2026, 3, 2 + t.day).isoformat() for t in DEFAULT_LEAD_CADENCE.touches
    ]
    again = start_cadence("lead:L-1", DEFAULT_LEAD_CADENCE, planned, owner="ada", status="open", running=True,
                          actor=ADA, now=NOW)  # fmt: skip
    assert isinstance(again, Refusal)
    closed = start_cadence("deal:D-1", DEFAULT_CADENCE, planned, owner="ada", status="won", running=False,
                           actor=ADA, now=NOW)  # fmt: skip
    assert isinstance(closed, Refusal)
    assert "D-1 is won" in closed.message


def test_a_touch_does_the_next_open_step_and_what_stops_the_cadence_is_the_process_s_to_say() -> None:
    found = record_touch("lead:L-1", _run(True, False, False), outcome="none", note=None, actor=ADA, now=NOW)
    assert not isinstance(found, Refusal)
    assert [(e.type, e.data["step"]) for e in found] == [(ev.TOUCH_DONE, 2)]
    replied = record_touch("lead:L-1", _run(True, False, False), outcome="reply", note=" hi ", actor=ADA, now=NOW)
    assert not isinstance(replied, Refusal)
    assert [e.type for e in replied] == [ev.TOUCH_DONE, ev.CADENCE_STOPPED]
    assert (replied[0].data["note"], replied[1].data["reason"]) == ("hi", "reply")
    only_meetings = _run(False, False, stop_on=("meeting",))
    runs_on = record_touch("lead:L-1", only_meetings, outcome="reply", note=None, actor=ADA, now=NOW)
    assert not isinstance(runs_on, Refusal)
    assert [e.type for e in runs_on] == [ev.TOUCH_DONE]
    last = record_touch("lead:L-1", _run(True, False), outcome="none", note=None, actor=ADA, now=NOW)
    assert not isinstance(last, Refusal)
    assert last[-1].data["reason"] == "completed"
    assert isinstance(record_touch("lead:L-1", None, outcome="none", note=None, actor=ADA, now=NOW), Refusal)
    with pytest.raises(InvalidInput, match="outcome"):
        record_touch("lead:L-1", _run(False), outcome="maybe", note=None, actor=ADA, now=NOW)
    stopped = stop_cadence("lead:L-1", _run(False), actor=ADA, now=NOW)
    assert not isinstance(stopped, Refusal)
    assert stopped[0].data == {"run": 7, "reason": "manual"}
