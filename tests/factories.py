"""What tests build and read, shared between them: deals walked through the pure rules, generated
event logs to import, and dumps of the tables to compare (tests import these, never each other)."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, select

from dealflow.analytics import lead_model
from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Decision, Refusal
from dealflow.domain.evidence import EvidenceCommand, capture
from dealflow.domain.lifecycle import create_deal
from dealflow.domain.moves import move_deal
from dealflow.process.loading import load_template
from dealflow.store import tables as t

# --- Deals through the pure rules (the standard process, a clock stopped at NOW) ---------------

PROCESS = load_template("standard")[0]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SDR = Actor(id="ada", roles=("sdr",), team="east")
AE = Actor(id="ben", roles=("ae",), team="east")
MANAGER = Actor(id="max", roles=("manager",), team="east")


def events_of(decision: Decision) -> list[ev.Event]:
    assert not isinstance(decision, Refusal), decision
    return decision


def apply(deal: Deal | None, decision: Decision) -> Deal:
    for event in events_of(decision):
        deal = evolve(deal, event)
    assert deal is not None
    return deal


def new_deal() -> Deal:
    command = cmds.CreateDeal(deal_id="D-1", title="Acme", owner="ada", fields={"source": "inbound"})
    return apply(None, create_deal(command, process=PROCESS, actor=SDR, now=NOW))


def give(deal: Deal, command: EvidenceCommand, *, at: datetime = NOW, actor: Actor = SDR) -> Deal:
    return apply(deal, capture(deal, command, process=PROCESS, actor=actor, now=at))


def confirmed_step(days: int = 3) -> cmds.SetNextStep:
    return cmds.SetNextStep(action="Discovery call", owner="ada", due=NOW + timedelta(days=days), buyer_confirmed=True)


def qualified_deal() -> Deal:
    """A deal in qualification with every piece of evidence its exit gate asks for."""
    deal = give(new_deal(), cmds.LogActivity(kind="call", summary="Intro"))
    deal = give(deal, confirmed_step())
    deal = apply(deal, move_deal(deal, cmds.MoveDeal(to="qualification"), process=PROCESS, actor=SDR, now=NOW))
    deal = give(deal, cmds.UpdateFields(fields={"pain": "Slow quotes", "urgency": "high", "budget": "40000"}))
    for element in ("budget", "authority", "need"):
        deal = give(deal, cmds.ScoreQualification(framework="bant", element=element, note="confirmed"))
    return deal


# --- Event logs to import and tables to compare -----------------------------------------------


STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation")
HEADER = ("deal_id", "stage", "timestamp", "owner", "amount", "title", "account", "team", "source", "segment",
          "product", "reason", "close_date")  # fmt: skip
LOG_START = datetime(2024, 1, 1, tzinfo=UTC)


def deal_rows(number: int, rnd: random.Random, *, noisy: bool) -> list[tuple[str, ...]]:
    """One deal's rows: stages entered (forward, skip, backward, again), amount changes, and how it ended."""
    owner = rnd.choice(["Ann Smith", "Bob Jones", "Cy Δelta", "Dee"])
    fixed = (owner, f"Deal {number}", rnd.choice(["Acme", "Globex", ""]), rnd.choice(["east", "west"]),
             rnd.choice(["web", "event", ""]), rnd.choice(["smb", "ent"]), "core")  # fmt: skip
    at = LOG_START + timedelta(seconds=rnd.randrange(500 * 86_400), microseconds=rnd.choice([0, 0, 250_000]))
    stage, rows = 0, []
    for step in range(rnd.randrange(1, 9)):
        roll = rnd.random()
        amount = rnd.choice(["", "", "1200", "1,250.50", "$300"]) if step else "1000"
        when = at.isoformat().replace("+00:00", rnd.choice(["Z", "+00:00", ""]))
        if noisy and roll < 0.01:
            when = "2024-02-30T10:00:00"  # impossible: reported and skipped
        if noisy and roll > 0.99:
            amount = "lots"  # not a number: reported and ignored
        close_date = rnd.choice(["", "", "2025-03-01"]) if noisy else ""
        rows.append((f"R{number}", STAGES[stage], when, *fixed[:1], amount, *fixed[1:], "", close_date))
        at += timedelta(hours=rnd.randrange(1, 24 * 20))
        move = rnd.random()
        stage = max(
            0, min(len(STAGES) - 1, stage + (1 if move < 0.6 else 2 if move < 0.75 else 0 if move < 0.85 else -1))
        )
    ending = rnd.random()
    if ending < 0.6:
        outcome = "Closed Won" if ending < 0.25 else ("Closed Lost" if ending < 0.5 else "Disqualified")
        rows.append((f"R{number}", outcome, at.isoformat(), *fixed[:1], "", *fixed[1:], "price", ""))
    return rows


def write_event_log(path: Path, deals: int, *, seed: int, noisy: bool = True) -> list[tuple[str, ...]]:
    """An event-log CSV of ``deals`` deals, its rows in order of time like an export; returns the rows."""
    rnd = random.Random(seed)
    rows = [row for number in range(deals) for row in deal_rows(number, rnd, noisy=noisy)]
    rows.sort(key=lambda row: row[2].replace("Z", "").replace("+00:00", ""))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return rows


def raw_dump(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as the driver returns them (no SQLAlchemy type processing), by primary key."""
    found = {}
    for table in t.metadata.sorted_tables:
        key = ", ".join(column.name for column in table.primary_key.columns)
        found[table.name] = [
            tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {key}")
        ]
    return found


def empty(engine: Engine) -> None:
    """Delete every row of every table."""
    with engine.begin() as connection:
        for table in reversed(t.metadata.sorted_tables):
            connection.execute(delete(table))


def dump(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every projection table's rows, in a stable order."""
    found = {}
    for table in t.PROJECTIONS:
        key = list(table.primary_key.columns)
        rows = connection.execute(select(table).order_by(*key)).mappings().all()
        found[table.name] = [dict(r) for r in rows]
    return found


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        query = select(t.deals.c.status, func.count()).group_by(t.deals.c.status)
        return {status: int(n) for status, n in connection.execute(query)}


def event_total(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(t.events)).scalar() or 0)


# What an export can hold besides the plain rows, each on about one row in a hundred.
ODD_ROWS: list[tuple[int, Callable[[str], str]]] = [
    (5, lambda title: f'{title}, "quoted"'),  # a comma and quotes in a field
    (5, lambda title: f"Déal ünïcode {title} — ✓"),
    (5, lambda title: f"tab\there, back\\slash {title}"),
    (5, lambda title: " " * 3 + title + "\u00a0"),  # spaces around, stripped
]


def _odd(rows: list[tuple[str, ...]], rnd: random.Random) -> list[tuple[str, ...]]:
    """The rows with odd values here and there: titles, a missing stage, id or source, negative
    amounts, dates without a time, extra outcome rows, dates in the future, reasons."""
    found = []
    for row in rows:
        values = list(row)
        roll = rnd.random()
        if roll < 0.04:
            values[5] = ODD_ROWS[int(roll * 100)][1](values[5])
        elif roll < 0.05:
            values[8] = ""
        elif roll < 0.055:
            values[1] = ""
        elif roll < 0.06:
            values[0] = ""
        elif roll < 0.07:
            values[4] = "-5"
        elif roll < 0.09:
            values[2] = values[2][:10]
        elif roll < 0.095:
            values[1] = "Closed Won"
        elif roll < 0.1:
            values[2] = "2031-01-01T00:00:00Z"
        elif roll < 0.12:
            values[11] = "budget"
        elif roll < 0.13:
            values[10] = ""  # product named first on a later row: dimensions in another order
        found.append(tuple(values))
    return found


def write_log(path: Path, deals: int, *, seed: int, odd: bool = True, close_dates: bool = False) -> None:
    """An event log like the bulk tests' (bad dates and amounts), with odd rows and a blank one."""
    rnd = random.Random(seed)
    rows = [row for number in range(deals) for row in deal_rows(number, rnd, noisy=True)]
    rows.sort(key=lambda row: row[2].replace("Z", "").replace("+00:00", ""))
    header = list(HEADER)
    if not close_dates:
        header, rows = header[:-1], [row[:-1] for row in rows]
    if odd:
        rows = _odd(rows, rnd)
        rows.insert(len(rows) // 2, ("",) * len(header))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


# --- Closed deals to learn a lead score from ---------------------------------------------------


def synthetic_history(n: int, seed: int = 7) -> tuple[list[lead_model.Features], list[bool]]:
    """Closed deals whose outcome depends on the source being a demo request, plus noise features."""
    rng = random.Random(seed)
    rows, won = [], []
    for _ in range(n):
        demo = rng.random() < 0.4
        row: lead_model.Features = {
            f"source={'demo_request' if demo else rng.choice(['content', 'chat', 'webinar'])}": 1.0
        }
        row[f"urgency={rng.choice(['low', 'medium', 'high'])}"] = 1.0
        row["#company_size"] = float(np.log1p(rng.randint(5, 5000)))
        if rng.random() < 0.5:
            row["meddic:metrics"] = 1.0
        rows.append(row)
        won.append(rng.random() < (0.8 if demo else 0.15))
    return rows, won
