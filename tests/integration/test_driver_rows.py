"""What a live command sends straight to the SQLite driver is what SQLAlchemy would have stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert

from dealflow.domain.events import Event
from dealflow.store import event_log, queries
from dealflow.store import tables as t

MOMENTS = (
    datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 2, 9, 0, 0, 250, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
)
DATA = ({"to": "qualification", "kind": "forward"}, {"title": "Café « 40 seats »", "n": 1.5, "x": None}, {})


@pytest.mark.parametrize("at", MOMENTS)
@pytest.mark.parametrize("data", DATA)
def test_an_event_through_the_driver_is_stored_as_sqlalchemy_stores_it(
    sqlite_engine: Engine, at: datetime, data: dict[str, object]
) -> None:
    event = Event(stream="deal:D-1", type="DealMoved", actor="ada", at=at, data=data)
    with sqlite_engine.begin() as connection:
        row = {"stream": "deal:D-2", "version": 1, "type": event.type, "actor": event.actor, "at": at, "data": data}
        connection.execute(insert(t.events), row)
        seqs = event_log._insert_events(connection, [event], 1)
        raw = {r[0]: r[1:] for r in connection.exec_driver_sql("SELECT stream, type, actor, at, data FROM events")}
        assert seqs == [connection.exec_driver_sql("SELECT max(seq) FROM events").scalar()]
    assert raw["deal:D-1"] == raw["deal:D-2"]


def test_the_user_and_deal_read_through_the_driver(sqlite_engine: Engine) -> None:
    now = MOMENTS[0]
    with sqlite_engine.begin() as connection:
        connection.execute(
            insert(t.users), {"id": "ada", "name": "Ada", "roles": ["sdr", "ae"], "team": None, "created_at": now}
        )
        assert queries.get_user_and_deal(connection, user_id="ada", deal_id="D-9") == (
            ("ada", ["sdr", "ae"], None),
            None,
        )
        assert queries.get_user_and_deal(connection, user_id="bob", deal_id="D-9") == (None, None)
