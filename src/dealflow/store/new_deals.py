"""The rows a brand-new deal's whole history writes (its events, its ``deals`` row, its finished
stays), worked out in one pass without building a ``Deal`` after every event: what imports write.

The pass covers the events an import records (created, fields updated, moved, reassigned, won,
lost, disqualified) holding plain JSON values. For any other history :func:`new_deal_rows`
answers None and the caller projects the deal through ``evolve``, like live use and replay do.
Its rows hold the values ``deal_row`` and ``visit_row`` give for the evolved deal, so that
``dealflow rebuild`` after an import changes nothing (the tests compare the two on generated
histories).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from dealflow.domain import events as ev
from dealflow.domain.deals import entered_by
from dealflow.domain.events import Event
from dealflow.store.bulk import Storage
from dealflow.store.projections import deal_number

EVENT_COLUMNS = ("seq", "stream", "version", "type", "actor", "at", "data")
DEAL_COLUMNS = (
    "id", "number", "title", "process", "process_version", "account_id", "owner", "stage", "status", "amount",
    "close_date", "created_at", "stage_entered_at", "closed_at", "version", "state", "source", "segment",
    "product", "outcome_reason", "close_date_pushes",
)  # fmt: skip
VISIT_COLUMNS = (
    "deal_id", "seq", "process", "stage", "owner", "entered_at", "left_at", "seconds", "exit", "to_stage",
    "overridden", "imported",
)  # fmt: skip

Step = tuple[str, datetime, dict[str, Any]]  # an event's type, time and data
Row = tuple[object, ...]
_CLOSED = {ev.DEAL_WON: "won", ev.DEAL_LOST: "lost", ev.DEAL_DISQUALIFIED: "disqualified"}


class NewDeal(NamedTuple):
    """A deal not yet in the workspace with its whole history, every event by one actor, its
    creation first."""

    stream: str
    actor: str
    steps: list[Step]

    def events(self) -> list[Event]:
        """The history as events."""
        return [Event(kind, self.stream, at, self.actor, data) for kind, at, data in self.steps]


@dataclass
class NewDealRows:
    """One new deal's rows: its events, its ``deals`` row and its finished stays (``stage_visits``)."""

    events: list[Row]
    deal: Row
    visits: list[Row]


def event_rows(deal: NewDeal, seqs: Sequence[int], storage: Storage) -> list[Row]:
    """The ``events`` rows of a new deal's history, numbered ``seqs``, the first at version 1."""
    stamp, to_json, stream, actor = storage.stamp, storage.json, deal.stream, deal.actor
    return [
        (seq, stream, version, kind, actor, stamp(at), to_json(data))
        for version, (seq, (kind, at, data)) in enumerate(zip(seqs, deal.steps, strict=True), start=1)
    ]


def _plain(value: object) -> bool:
    """A value the Deal model keeps as it is in JSON (so no model is needed to write it)."""
    kind = type(value)
    return kind is str or kind is int or kind is bool or (kind is float and math.isfinite(value))  # type: ignore[arg-type]


def json_time(moment: datetime) -> str:
    """A timestamp as the Deal model writes it in JSON (UTC as ``Z``)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _created(data: dict[str, Any]) -> bool:
    """Whether a creation payload holds what the Deal model would take as it is."""
    account = data.get("account_id")
    return (
        type(data["title"]) is str
        and type(data["owner"]) is str
        and type(data["stage"]) is str
        and type(data["process"]) is str
        and type(data["process_version"]) is int
        and (account is None or type(account) is str)
    )


def new_deal_rows(deal: NewDeal, seqs: Sequence[int], storage: Storage) -> NewDealRows | None:
    """The rows of a new deal's history, its events numbered ``seqs``, in ``storage`` form; None when
    the history holds an event or a value this pass does not cover."""
    stream, actor, steps = deal.stream, deal.actor, deal.steps
    kind, at, created = steps[0]
    if kind != ev.DEAL_CREATED or not _created(created):
        return None
    stamp, to_json = storage.stamp, storage.json
    deal_id = ev.stream_id(stream)
    process, owner, stage, status = created["process"], created["owner"], created["stage"], "open"
    entered, entered_stamp, entry = at, stamp(at), entered_by(created)
    created_stamp, closed_at, closed_stamp, reason, pushes = entered_stamp, None, None, None, 0
    created_json = json_time(at)
    fields: dict[str, dict[str, Any]] = {}
    if _update_fields(fields, created.get("fields", {}), actor, created_json) is None:
        return None
    rows: list[Row] = [(seqs[0], stream, 1, kind, actor, entered_stamp, to_json(created))]
    visits: list[Row] = []
    yes, no = storage.flag(True), storage.flag(False)
    for version in range(2, len(steps) + 1):
        kind, at, data = steps[version - 1]
        seq, at_stamp = seqs[version - 1], stamp(at)
        rows.append((seq, stream, version, kind, actor, at_stamp, to_json(data)))
        if kind == ev.FIELDS_UPDATED:
            pushed = _update_fields(fields, data["fields"], actor, json_time(at))
            if pushed is None:
                return None
            pushes += pushed
            continue
        if kind == ev.DEAL_REASSIGNED:
            owner = data["to_owner"]
            continue
        if kind != ev.DEAL_MOVED and kind not in _CLOSED:
            return None
        # The stay in the stage ends when the deal changes stage or closes, but not again after
        # a close ended it (see visit_row).
        was_open, was_stage, was_entered, was_stamp = status == "open", stage, entered, entered_stamp
        ends = was_open or closed_at is None or entered >= closed_at
        if kind == ev.DEAL_MOVED:
            stage, entered, entered_stamp, entry = data["to"], at, at_stamp, entered_by(data)
        else:
            status, closed_at, closed_stamp, reason = _CLOSED[kind], at, at_stamp, data["reason"]
        if ends and ((was_open and status != "open") or stage != was_stage or entered != was_entered):
            visit = (
                deal_id,
                seq,
                process,
                was_stage,
                owner,
                was_stamp,
                at_stamp,
                (at - was_entered).total_seconds(),
                _CLOSED.get(kind) or str(data.get("kind") or "forward"),
                stage if stage != was_stage else None,
                yes if data.get("override") else no,
                yes if data.get("imported") else no,
            )
            visits.append(visit)
    state = {
        "id": deal_id,
        "title": created["title"],
        "process": process,
        "process_version": created["process_version"],
        "account_id": created.get("account_id"),
        "owner": owner,
        "stage": stage,
        "status": status,
        "created_at": created_json,
        "stage_entered_at": created_json if entered is steps[0][1] else json_time(entered),
        "closed_at": None if closed_at is None else json_time(closed_at),
        "outcome_reason": reason,
        "fields": fields,
        "activities": [],
        "contacts": [],
        "next_step": None,
        "qualification": {},
        "approvals": {},
        "documents": {},
        "handoff": None,
        "entered_by": entry,
        "close_date_pushes": pushes,
        "version": len(steps),
    }
    amount, close_date = _value(fields, "amount"), _value(fields, "close_date")
    row = (
        deal_id,
        deal_number(deal_id),
        created["title"],
        process,
        created["process_version"],
        state["account_id"],
        owner,
        stage,
        status,
        None if amount is None else storage.money(Decimal(str(amount))),
        None if close_date is None else storage.day(date.fromisoformat(str(close_date))),
        created_stamp,
        entered_stamp,
        closed_stamp,
        len(steps),
        to_json(state),
        _dimension(fields, "source"),
        _dimension(fields, "segment"),
        _dimension(fields, "product"),
        reason,
        pushes,
    )
    return NewDealRows(rows, row, visits)


def _update_fields(fields: dict[str, dict[str, Any]], changes: dict[str, Any], actor: str, json_at: str) -> int | None:
    """Apply captured values to the evidence of ``fields`` as the Deal model writes it; returns 1
    when the close date moved later, else 0, or None for a value that is not plain JSON."""
    pushed = 0
    close_date = _value(fields, "close_date")
    for name, value in changes.items():
        if name == "close_date" and close_date is not None and value:
            pushed = int(value > date.fromisoformat(str(close_date)).isoformat())
        if value is None:
            fields.pop(name, None)
        elif _plain(value):
            fields[name] = {"value": value, "by": actor, "at": json_at}
        else:
            return None
    return pushed


def _value(fields: dict[str, dict[str, Any]], name: str) -> Any:
    evidence = fields.get(name)
    return None if evidence is None else evidence["value"]


def _dimension(fields: dict[str, dict[str, Any]], name: str) -> str | None:
    value = _value(fields, name)
    return None if value is None else str(value)[:200]
