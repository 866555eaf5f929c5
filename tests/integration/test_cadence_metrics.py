"""Cadence metrics agree with the same figures worked out in plain Python from the event log."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from dealflow.analytics.cadence import measure_cadences
from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, event
from dealflow.services import cadences as sc
from dealflow.services import deals as sd
from dealflow.services import leads as sl
from dealflow.services.lookups import load_deal
from dealflow.store.event_log import read_events, record_events
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import Clock

Uow = Callable[[], UnitOfWork]
CLOSING = (ev.LEAD_CONVERTED, ev.LEAD_DISQUALIFIED, ev.DEAL_WON, ev.DEAL_LOST, ev.DEAL_DISQUALIFIED)
OWNER_KEY = {ev.LEAD_ASSIGNED: "owner", ev.DEAL_REASSIGNED: "to_owner", ev.HANDOFF_ACCEPTED: "to_owner"}


def _play(team: Uow, engine: Engine, clock: Clock, seed: int) -> None:
    """Leads and deals whose reps touch them on time, late or not at all; some reply, some get reassigned."""
    rng = random.Random(seed)
    subjects: list[str] = []
    for i in range(6):
        with team() as uow:
            subjects.append("lead:" + sl.capture_lead(uow=uow, actor_id="ada", name=f"Lead {i}", company=f"Co {i}"))
    for i in range(3):
        owner = ("ben", "cyd")[i % 2]
        with team() as uow:
            deal = sd.create_deal(uow=uow, actor_id=owner, process_key="standard", title=f"Deal {i}")
        with team() as uow:
            sc.start_cadence(uow=uow, actor_id=owner, subject=f"deal:{deal.id}")
        subjects.append(f"deal:{deal.id}")
    for _day in range(24):
        clock.advance(hours=rng.choice((20, 24, 30)))
        for subject in subjects:
            with engine.connect() as connection:
                running = sc.tasks.running(connection, subject=subject)
            if running is None or rng.random() < 0.45:
                continue
            outcome = rng.choices(("none", "reply", "meeting"), weights=(80, 12, 8))[0]
            with team() as uow:
                actor = next(
                    r.owner for r in sc.tasks.subject_tasks(uow.connection, subject=subject) if r.status != "done"
                )
                sc.record_touch(uow=uow, actor_id=actor, subject=subject, outcome=outcome)
            if rng.random() < 0.05 and subject.startswith("lead:"):
                with team() as uow:
                    moved = event(ev.LEAD_ASSIGNED, subject, Actor("max", ("manager",)), uow.clock(), owner="max")
                    record_events(uow, [moved])
                    uow.commit()
            elif rng.random() < 0.05 and subject.startswith("deal:"):
                with team() as uow:  # its owner closes it (max manages east only; cyd is west)
                    owner = load_deal(uow.connection, deal_id=subject[5:]).owner
                    sd.close_deal(uow=uow, actor_id=owner, deal_id=subject[5:], outcome="lost", reason="timing")
            elif rng.random() < 0.04 and subject.startswith("lead:"):
                with team() as uow:
                    sl.convert(
                        uow=uow, actor_id="max", lead_id=subject[5:], process_key="standard", override=True,
                        reason="Qualified on the phone",
                    )  # fmt: skip


def _expected(engine: Engine, today: date, grace: int) -> dict[str, Any]:
    """The metrics worked out from the events alone."""
    runs: dict[int, dict[str, Any]] = {}
    with engine.connect() as connection:
        events = list(read_events(connection))
    for seq, _version, e in events:
        d = e.data
        if e.type == ev.CADENCE_STARTED:
            touches = {t["step"]: {**t, "due_on": date.fromisoformat(t["due_on"]), "owner": d["owner"],
                                   "state": "active", "outcome": None, "late": None} for t in d["touches"]}  # fmt: skip
            runs[seq] = {"subject": e.stream, "touches": touches}
        elif e.type == ev.TOUCH_DONE:
            touch = runs[d["run"]]["touches"][d["step"]]
            touch.update(state="done", outcome=d["outcome"], late=(e.at.date() - touch["due_on"]).days)
        elif e.type == ev.CADENCE_STOPPED or e.type in CLOSING:
            stopped = e.type == ev.CADENCE_STOPPED
            chosen = [runs[d["run"]]] if stopped else [r for r in runs.values() if r["subject"] == e.stream]
            for run in chosen:
                for touch in run["touches"].values():
                    if touch["state"] == "active":
                        touch["state"] = "stopped"
        elif e.type in OWNER_KEY:
            for run in runs.values():
                if run["subject"] == e.stream:
                    for touch in run["touches"].values():
                        if touch["state"] == "active":
                            touch["owner"] = d[OWNER_KEY[e.type]]
    by_rep: dict[str, Counter[str]] = defaultdict(Counter)
    by_step: dict[str, Counter[str]] = defaultdict(Counter)
    outcomes: dict[str, dict[str, Counter[str]]] = {"step": defaultdict(Counter), "channel": defaultdict(Counter)}
    first: Counter[int] = Counter()
    depth: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs.values():
        touches = sorted(run["touches"].values(), key=lambda t: t["step"])
        # A next touch is waiting while its cadence runs; a later one is merely planned, and it
        # cannot be past its grace unless the next one is too (days are in order).
        waiting = next((t for t in touches if t["state"] == "active"), None)
        for t in touches:
            if t["state"] == "done":
                verdict = "on_time" if t["late"] <= grace else "late"
            elif t is waiting and t["due_on"] < today - timedelta(days=grace):
                verdict = "missed"
            else:
                continue
            by_rep[t["owner"]][verdict] += 1
            by_step[str(t["step"])][verdict] += 1
        done = [t for t in touches if t["state"] == "done"]
        for t in done:
            for key, name in (("step", str(t["step"])), ("channel", t["channel"])):
                outcomes[key][name]["touches"] += 1
                outcomes[key][name][t["outcome"]] += 1
        answered = [t["step"] for t in done if t["outcome"] in ("reply", "meeting")]
        if answered:
            first[min(answered)] += 1
        kind = run["subject"].split(":")[0]
        if waiting is not None:
            depth[kind]["running"] += 1
        elif len(done) >= 5:
            depth[kind]["five"] += 1
        elif answered:
            depth[kind]["answered"] += 1
        else:
            depth[kind]["dropped"] += 1
    return {"by_rep": by_rep, "by_step": by_step, "outcomes": outcomes, "first": first, "depth": depth}


@pytest.mark.parametrize("seed", [3, 11])
def test_cadence_metrics_match_a_count_from_the_events(team: Uow, engine: Engine, clock: Clock, seed: int) -> None:
    _play(team, engine, clock, seed)
    today, grace = clock.now.date(), 1
    want = _expected(engine, today, grace)
    with engine.connect() as connection:
        got = measure_cadences(connection, today=today, grace_days=grace)
    assert {r.key: (r.on_time, r.late, r.missed) for r in got.by_rep} == {
        k: (v["on_time"], v["late"], v["missed"]) for k, v in want["by_rep"].items()
    }
    assert {r.key: (r.on_time, r.late, r.missed) for r in got.by_step} == {
        k: (v["on_time"], v["late"], v["missed"]) for k, v in want["by_step"].items()
    }
    for key, found in (("step", got.outcomes_by_step), ("channel", got.outcomes_by_channel)):
        assert {r.key: (r.touches, r.replies, r.meetings) for r in found} == {
            k: (v["touches"], v["reply"], v["meeting"]) for k, v in want["outcomes"][key].items()
        }
        for r in found:
            assert r.reply_rate == pytest.approx(r.replies / r.touches)
    assert got.touches_to_first_reply == dict(sorted(want["first"].items()))
    assert {d.kind: (d.running, d.reached_five, d.answered_before_five, d.dropped_before_five) for d in got.depth} == {
        k: (v["running"], v["five"], v["answered"], v["dropped"]) for k, v in want["depth"].items()
    }
    total = got.compliance
    assert total.due == sum(sum(v.values()) for v in want["by_rep"].values()) > 0
    assert sum(want["first"].values()) > 0
    assert any(v["late"] for v in want["by_rep"].values())


def test_a_team_s_or_a_rep_s_compliance_covers_only_their_touches(team: Uow, engine: Engine, clock: Clock) -> None:
    _play(team, engine, clock, 5)
    today = clock.now.date()
    want = _expected(engine, today, 1)["by_rep"]
    with engine.connect() as connection:
        east = measure_cadences(connection, today=today, team="east").compliance
        west = measure_cadences(connection, today=today, team="west").compliance
        ben = measure_cadences(connection, today=today, owner="ben", kind="deal").compliance
    in_east = [v for rep, v in want.items() if rep in ("ada", "ben", "max", "cat")]
    assert (east.on_time, east.late, east.missed) == tuple(
        sum(v[k] for v in in_east) for k in ("on_time", "late", "missed")
    )
    assert west.due == sum(want["cyd"].values())
    assert ben.due == sum(want["ben"].values())
