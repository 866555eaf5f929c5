"""The one-pass rows of a new deal's history equal what evolving the deal event by event projects:
the ``deals`` row with its JSON state, the finished stays, and the event rows, in PostgreSQL form
(Python values) and in SQLite form (what SQLAlchemy's column types bind)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.events import Event
from dealflow.store import tables as t
from dealflow.store.bulk import Storage, json_text
from dealflow.store.new_deals import (
    DEAL_COLUMNS,
    EVENT_COLUMNS,
    VISIT_COLUMNS,
    NewDeal,
    Step,
    json_time,
    new_deal_rows,
)
from dealflow.store.projections import deal_row, visit_row

STAGES = ["lead", "qualified", "demo", "proposal"]
PEOPLE = ["ann", "bob", "cy"]
START = datetime(2025, 1, 1, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

moments = st.builds(
    lambda seconds, micros, zone: (START + timedelta(seconds=seconds, microseconds=micros)).astimezone(zone),
    st.integers(min_value=-86_400, max_value=400 * 86_400),
    st.sampled_from([0, 0, 1, 250_000, 999_999]),
    st.sampled_from(ZONES),
)
plain = st.one_of(
    st.text(max_size=8), st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans()
)
field_values = {
    "amount": st.one_of(st.sampled_from(["0.00", "1200.00", "99.5", "1e3"]), st.integers(0, 10**9)),
    "close_date": st.sampled_from(["2025-03-01", "2025-04-15", "2026-01-31"]),
    "source": plain,
    "segment": st.text(max_size=300),
    "product": plain,
    "pain": plain,
}
changes = st.lists(st.sampled_from(sorted(field_values)), unique=True, max_size=3).flatmap(
    lambda names: st.fixed_dictionaries({name: st.one_of(st.none(), field_values[name]) for name in names})
)  # None clears the field
created_fields = st.fixed_dictionaries(
    {}, optional={name: st.one_of(st.none(), value) for name, value in field_values.items()}
)


def _created(stage: str, owner: str, title: str, account: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": title,
        "process": "imported",
        "process_version": 3,
        "account_id": account,
        "owner": owner,
        "stage": stage,
        "fields": fields,
        "imported": {"format": "events", "ref": "A-1"},
    }


later = st.one_of(
    st.tuples(st.just(ev.FIELDS_UPDATED), moments, changes.map(lambda c: {"fields": c})),
    st.tuples(
        st.just(ev.DEAL_MOVED),
        moments,
        st.fixed_dictionaries(
            {
                "from": st.sampled_from(STAGES),
                "to": st.sampled_from(STAGES),
                "kind": st.sampled_from(["forward", "skip", "backward", ""]),
                "reason": st.one_of(st.none(), st.text(max_size=5)),
                "override": st.booleans(),
                "imported": st.booleans(),
            }
        ),
    ),
    st.tuples(st.just(ev.DEAL_REASSIGNED), moments, st.fixed_dictionaries({"to_owner": st.sampled_from(PEOPLE)})),
    st.tuples(
        st.sampled_from([ev.DEAL_WON, ev.DEAL_LOST, ev.DEAL_DISQUALIFIED]),
        moments,
        st.fixed_dictionaries(
            {
                "reason": st.sampled_from(["price", "unknown"]),
                "stage": st.sampled_from(STAGES),
                "imported": st.just(True),
            }
        ),
    ),
)
histories = st.tuples(
    st.tuples(
        st.just(ev.DEAL_CREATED),
        moments,
        st.builds(
            _created,
            st.sampled_from(STAGES),
            st.sampled_from(PEOPLE),
            st.text(min_size=1, max_size=10),
            st.one_of(st.none(), st.just("acc-1")),
            created_fields,
        ),
    ),
    st.lists(later, max_size=12),
).map(lambda pair: [pair[0], *pair[1]])


def _evolved(deal_id: str, steps: list[Step], seqs: list[int]) -> tuple[Deal, list[dict[str, object]]]:
    deal: Deal | None = None
    visits = []
    for seq, (kind, at, data) in zip(seqs, steps, strict=True):
        event = Event(kind, f"deal:{deal_id}", at, "ann", data)
        after = evolve(deal, event)
        if (visit := visit_row(seq, deal, after, event)) is not None:
            visits.append(visit)
        deal = after
    assert deal is not None
    return deal, visits


def _sqlite_form(table: Table, columns: tuple[str, ...], row: dict[str, object]) -> tuple[object, ...]:
    """What SQLAlchemy binds on SQLite for ``row``."""
    dialect = sqlite.dialect()
    found = []
    for name in columns:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        value = row[name]
        found.append(value if processor is None or value is None else processor(value))
    return tuple(found)


@settings(max_examples=300, deadline=None)
@given(histories, st.sampled_from(["D-17", "EV-A_1"]))
def test_one_pass_rows_equal_the_evolved_deal(steps: list[Step], deal_id: str) -> None:
    seqs = list(range(101, 101 + 2 * len(steps), 2))
    deal, visits = _evolved(deal_id, steps, seqs)
    expected = deal_row(deal)

    rows = new_deal_rows(NewDeal(f"deal:{deal_id}", "ann", steps), seqs, Storage("postgresql"))
    assert rows is not None
    found = dict(zip(DEAL_COLUMNS, rows.deal, strict=True))
    assert found["state"] == json.dumps(expected["state"])  # the same JSON text, key for key
    assert {**found, "state": expected["state"]} == expected
    assert [dict(zip(VISIT_COLUMNS, v, strict=True)) for v in rows.visits] == visits
    assert rows.events == [
        (seq, f"deal:{deal_id}", version, kind, "ann", at, json.dumps(data))
        for version, (seq, (kind, at, data)) in enumerate(zip(seqs, steps, strict=True), start=1)
    ]

    on_sqlite = new_deal_rows(NewDeal(f"deal:{deal_id}", "ann", steps), seqs, Storage("sqlite"))
    assert on_sqlite is not None
    assert on_sqlite.deal == _sqlite_form(t.deals, DEAL_COLUMNS, expected)
    assert on_sqlite.visits == [_sqlite_form(t.stage_visits, VISIT_COLUMNS, v) for v in visits]
    events = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows.events]
    for event in events:
        event["data"] = json.loads(str(event["data"]))
    assert on_sqlite.events == [_sqlite_form(t.events, EVENT_COLUMNS, e) for e in events]


def test_a_history_the_pass_does_not_cover_is_left_to_evolve() -> None:
    created = (ev.DEAL_CREATED, START, _created("lead", "ann", "Acme", None, {"amount": "10.00"}))
    activity = (ev.ACTIVITY_LOGGED, START, {"kind": "call", "summary": "Hi", "at": START.isoformat()})
    listed = (ev.FIELDS_UPDATED, START, {"fields": {"pain": ["a", "list"]}})
    endless = (ev.FIELDS_UPDATED, START, {"fields": {"score": float("nan")}})
    covered = NewDeal("deal:D-1", "ann", [created])
    assert new_deal_rows(covered, [1], Storage("sqlite")) is not None
    for other in (activity, listed, endless):
        assert new_deal_rows(NewDeal("deal:D-1", "ann", [created, other]), [1, 2], Storage("sqlite")) is None
    not_first = NewDeal("deal:D-1", "ann", [activity, created])
    assert new_deal_rows(not_first, [1, 2], Storage("sqlite")) is None


def test_json_text_and_times_are_written_as_the_model_and_sqlalchemy_write_them() -> None:
    value = {"a": [1, 2.5, None, True, "é\n"], "b": {"c": 1e300}, "d": float("inf")}
    assert json_text(value) == json.dumps(value)
    assert json_text("plain") == json.dumps("plain")
    moment = datetime(2025, 6, 1, 8, 30, 5, 1500, tzinfo=UTC)
    dumped = Deal(
        id="D-1",
        title="x",
        process="p",
        process_version=1,
        owner="o",
        stage="s",
        created_at=moment,
        stage_entered_at=moment,
    ).model_dump(mode="json")
    assert json_time(moment) == dumped["created_at"] == "2025-06-01T08:30:05.001500Z"
