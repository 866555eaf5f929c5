"""A synthetic sales history at scale for the analytics benchmarks: deals that walk the standard
process (forward, skips, backward moves, overrides, wins, losses), with their events and the
projections (`deals`, `stage_visits` and their summaries `deal_journeys` and `stay_durations`) written
straight to the tables.

Run ``.venv/bin/python benchmarks/synthetic.py --deals 1000000 [--db URL]`` to (re)fill a database
(every table in it is dropped first; default: the PostgreSQL database ``dealflow_history``). Other
benchmarks import :func:`fill`. PostgreSQL is loaded with COPY; SQLite with multi-row inserts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert
from sqlalchemy.engine import make_url

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import stay_summaries as summaries
from dealflow.store import tables as t
from dealflow.store.engine import upgrade
from dealflow.store.unit_of_work import UnitOfWork

NOW = datetime(2026, 10, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
STAGES = ("prospecting", "qualification", "discovery", "presentation", "objection_handling", "closing")
MEAN_DAYS = (4.0, 6.0, 10.0, 8.0, 12.0, 9.0)
LOSS = (0.10, 0.12, 0.15, 0.12, 0.15, 0.25)
REPS = tuple(f"rep{i:02d}" for i in range(60))
TEAMS = ("east", "west", "north", "south", "central", "emea")
SOURCES = ("inbound", "outbound", "referral", "event", "partner")
SEGMENTS = ("smb", "mid_market", "enterprise")
PRODUCTS = ("core", "pro", "suite")


@dataclass
class Rows:
    """The rows of one batch of deals, ready to load."""

    events: list[tuple[object, ...]]
    deals: list[tuple[object, ...]]
    visits: list[tuple[object, ...]]
    journeys: list[tuple[object, ...]]


EVENT_COLUMNS = ("stream", "version", "type", "actor", "at", "data")
DEAL_COLUMNS = (
    "id", "number", "title", "process", "process_version", "account_id", "owner", "stage", "status", "amount",
    "close_date", "created_at", "stage_entered_at", "closed_at", "version", "state", "source", "segment",
    "product", "outcome_reason", "close_date_pushes",
)  # fmt: skip
VISIT_COLUMNS = (
    "deal_id", "seq", "process", "stage", "owner", "entered_at", "left_at", "seconds", "exit", "to_stage",
    "overridden", "imported",
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def walk(number: int, rnd: random.Random, first_seq: int) -> tuple[Rows, int]:
    """One deal's history as rows; returns them and the next free event seq."""
    deal_id, stream = f"D-{number}", f"deal:D-{number}"
    owner = REPS[rnd.randrange(len(REPS))]
    created = NOW - SPAN * rnd.random()
    amount = round(math.exp(rnd.gauss(9.3, 0.9)), -2)
    source, segment, product = rnd.choice(SOURCES), rnd.choice(SEGMENTS), rnd.choice(PRODUCTS)
    fields = {"title": f"Deal {number}", "amount": f"{amount:.2f}", "source": source, "segment": segment,
              "product": product}  # fmt: skip
    events: list[tuple[object, ...]] = []
    visits: list[tuple[object, ...]] = []
    seq = first_seq

    def add(kind: str, at: datetime, data: dict[str, object]) -> int:
        nonlocal seq
        events.append((stream, len(events) + 1, kind, owner, at, json.dumps(data)))
        seq += 1
        return seq - 1

    add("DealCreated", created, {"title": fields["title"], "process": "standard", "process_version": 1,
                                 "account_id": None, "owner": owner, "stage": STAGES[0], "fields": fields})  # fmt: skip
    stage, entered, status, closed_at, reason = 0, created, "open", None, None
    while True:
        left = entered + timedelta(days=rnd.expovariate(1 / MEAN_DAYS[stage]))
        if left > NOW:
            break
        roll = rnd.random()
        exit_kind, to, override = "forward", stage + 1, False
        if stage == len(STAGES) - 1 and roll < 0.55:
            exit_kind = "won"
        elif roll < LOSS[stage]:
            exit_kind = "lost"
        elif stage <= 1 and roll < LOSS[stage] + 0.04:
            exit_kind = "disqualified"
        elif stage > 0 and roll > 0.94:
            exit_kind, to = "backward", stage - 1
        elif stage < len(STAGES) - 2 and roll > 0.91:
            exit_kind, to = "skip", stage + 2
        elif stage == len(STAGES) - 1:
            exit_kind = "lost"
        override = exit_kind in ("forward", "skip") and rnd.random() < 0.04
        if exit_kind in ("won", "lost", "disqualified"):
            reason = {"won": "value", "lost": "competitor", "disqualified": "no_fit"}[exit_kind]
            kind = {"won": "DealWon", "lost": "DealLost", "disqualified": "DealDisqualified"}[exit_kind]
            ended = add(kind, left, {"reason": reason, "stage": STAGES[stage]})
            visits.append((deal_id, ended, "standard", STAGES[stage], owner, entered, left,
                           (left - entered).total_seconds(), exit_kind, None, False, False))  # fmt: skip
            status, closed_at = exit_kind, left
            break
        if override:
            add("GateOverridden", left, {"from": STAGES[stage], "to": STAGES[to], "unmet": ["x"], "reason": "push"})
        move = {"from": STAGES[stage], "to": STAGES[to], "kind": exit_kind, "reason": None, "override": override}
        ended = add("DealMoved", left, move)
        visits.append((deal_id, ended, "standard", STAGES[stage], owner, entered, left,
                       (left - entered).total_seconds(), exit_kind, STAGES[to], override, False))  # fmt: skip
        stage, entered = to, left
    version = len(events)
    state = {
        "id": deal_id, "title": fields["title"], "process": "standard", "process_version": 1, "account_id": None,
        "owner": owner, "stage": STAGES[stage], "status": status, "created_at": _iso(created),
        "stage_entered_at": _iso(entered), "closed_at": _iso(closed_at) if closed_at else None,
        "outcome_reason": reason,
        "fields": {k: {"value": v, "by": owner, "at": _iso(created)} for k, v in fields.items()},
        "activities": [], "contacts": [], "next_step": None, "qualification": {}, "approvals": {}, "documents": {},
        "handoff": None, "close_date_pushes": 0, "version": version,
    }  # fmt: skip
    deal = (deal_id, number, fields["title"], "standard", 1, None, owner, STAGES[stage], status, amount, None,
            created, entered, closed_at, version, json.dumps(state), source, segment, product, reason, 0)  # fmt: skip
    journey = summaries.journey_row(deal_id, "standard", status, STAGES[stage], [(v[3], v[8]) for v in visits])
    return Rows(events, [deal], visits, [journey]), seq


def batches(deals: int, seed: int, size: int = 20_000) -> Iterator[Rows]:
    """The rows of ``deals`` deals, ``size`` deals at a time (event seqs numbered from 1)."""
    rnd = random.Random(seed)
    seq = 1
    for start in range(1, deals + 1, size):
        batch = Rows([], [], [], [])
        for number in range(start, min(start + size, deals + 1)):
            rows, seq = walk(number, rnd, seq)
            batch.events += rows.events
            batch.deals += rows.deals
            batch.visits += rows.visits
            batch.journeys += rows.journeys
        yield batch


def _setup(engine: Engine) -> int:
    """Schema, the standard process and the team; returns the number of events they wrote."""
    upgrade(engine)
    with UnitOfWork(engine, clock=lambda: NOW - SPAN - timedelta(days=1)) as uow:
        ws.install_process(uow=uow, source=load_template("standard")[1], name="standard.yaml")
    for i, rep in enumerate(REPS):
        with UnitOfWork(engine, clock=lambda: NOW - SPAN - timedelta(days=1)) as uow:
            ws.add_user(uow=uow, user_id=rep, name=f"Rep {i}", roles=["ae"], team=TEAMS[i % len(TEAMS)])
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM events").scalar() or 0)


def fill(engine: Engine, deals: int, *, seed: int = 1) -> dict[str, int]:
    """Load ``deals`` synthetic deals into an empty workspace; returns row counts."""
    offset = _setup(engine)
    counts = {"deals": 0, "events": 0, "stage_visits": 0}
    postgres = engine.dialect.name == "postgresql"
    durations = summaries.Durations()
    for batch in batches(deals, seed):
        events = [(*row[:4], row[4], row[5]) for row in batch.events]
        visits = [(v[0], v[1] + offset, *v[2:]) for v in batch.visits]
        summaries.count_durations(durations, ((v[2], v[3], v[8], v[10], v[7]) for v in visits))  # type: ignore[misc]
        with engine.begin() as connection:
            if postgres:
                raw = connection.connection.driver_connection
                with raw.cursor() as cursor:  # type: ignore[union-attr]
                    for table, columns, rows in (
                        ("events", EVENT_COLUMNS, events),
                        ("deals", DEAL_COLUMNS, batch.deals),
                        ("stage_visits", VISIT_COLUMNS, visits),
                        ("deal_journeys", summaries.JOURNEY_COLUMNS, batch.journeys),
                    ):
                        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
            else:
                connection.execute(insert(t.events), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in events])
                deal_rows = [dict(zip(DEAL_COLUMNS, r, strict=True)) for r in batch.deals]
                for row in deal_rows:
                    row["state"] = json.loads(str(row["state"]))
                connection.execute(insert(t.deals), deal_rows)
                connection.execute(insert(t.stage_visits), [dict(zip(VISIT_COLUMNS, r, strict=True)) for r in visits])
                summaries.insert_journeys(connection, batch.journeys)
        counts["deals"] += len(batch.deals)
        counts["events"] += len(events)
        counts["stage_visits"] += len(visits)
    with engine.begin() as connection:
        summaries.write_durations(connection, durations)
    if postgres:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT setval('events_seq_seq', {counts['events'] + offset + 1})")
            connection.commit()
        # The state a database that has run for a while is in (autovacuum's work): statistics, hint
        # bits and the visibility map that index-only scans rely on.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/dealflow_history")
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from bench_moves import prepare_database

    url = Settings(database_url=args.db).database_url
    engine = prepare_database(url)
    start = time.perf_counter()
    counts = fill(engine, args.deals, seed=args.seed)
    print(f"{make_url(url).render_as_string(hide_password=True)}: {counts} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
