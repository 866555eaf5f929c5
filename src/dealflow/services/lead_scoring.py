"""Use cases of lead scoring: the score at capture and on change, training the learned score,
and reopening nurtured leads whose date has come (a worker job)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import DBAPIError

from dealflow.analytics import lead_model
from dealflow.analytics.lead_model import LearnedModel
from dealflow.domain import events as ev
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, event
from dealflow.domain.lead_scores import RuleScore, score_lead
from dealflow.domain.lead_state import LeadState
from dealflow.errors import NotFound
from dealflow.process.models import Process
from dealflow.services.lookups import load_actor
from dealflow.services.recording import record_events
from dealflow.store import bulk, queries
from dealflow.store import lead_states as store
from dealflow.store import tables as t
from dealflow.store.event_log import allocate_seqs
from dealflow.store.new_deals import EVENT_COLUMNS
from dealflow.store.processes import default_process_key, load_process, named_or_default_process
from dealflow.store.projections import lead_changes
from dealflow.store.unit_of_work import UnitOfWork, translate

SYSTEM_ACTOR = "system"
_SYSTEM = Actor(id=SYSTEM_ACTOR, roles=())
REOPEN_BATCH = 1000


@dataclass(frozen=True)
class LeadScore:
    """Everything known of a lead's score: the rules that fired and the learned probability."""

    rules: RuleScore
    learned: float | None
    learned_factors: tuple[tuple[str, float], ...] = ()
    model: LearnedModel | None = None

    def payload(self) -> dict[str, Any]:
        """The LeadScored event's data."""
        factors = [f.as_json() for f in self.rules.factors]
        factors += [
            {"kind": "learned", "rule": lead_model.describe(n), "weight": round(w, 4)} for n, w in self.learned_factors
        ]
        learned = None if self.learned is None else round(self.learned, 4)
        return {"fit": self.rules.fit, "intent": self.rules.intent, "learned": learned, "factors": factors}


def learned_model(uow: UnitOfWork, *, process: str) -> LearnedModel | None:
    """The newest learned model of a process, or None when none was trained."""
    row = store.latest_model(uow.connection, process=process)
    return None if row is None else LearnedModel.from_json(row.model)


def compute_score(uow: UnitOfWork, *, lead: LeadState, process: Process) -> LeadScore:
    """A lead's rule-based scores and, when a model was trained, its learned probability."""
    rules = score_lead(lead, process, uow.clock())
    model = learned_model(uow, process=process.key)
    if model is None:
        return LeadScore(rules, None)
    features = lead_model.lead_features(lead, process)
    return LeadScore(rules, model.probability(features), tuple(model.factors(features)), model)


def load_lead(uow: UnitOfWork, *, lead_id: str) -> LeadState:
    """A lead's state, or NotFound."""
    lead = store.lead_state(uow.connection, lead_id=lead_id)
    if lead is None:
        raise NotFound(f"no lead '{lead_id}'")
    return lead


def lead_process(uow: UnitOfWork, *, lead: LeadState, requested: str | None = None) -> Process | None:
    """The process a lead runs under: the one asked for, else its own, else the default one."""
    key = requested or lead.process or default_process_key(uow.connection)
    return None if key is None else load_process(uow.connection, key=key)


def rescore(uow: UnitOfWork, *, lead_id: str, actor: Actor, process: Process | None = None) -> LeadScore | None:
    """Score a lead again after a change (an answer, a resubmission, its scorecard) and record
    LeadScored when the score moved (no commit: the caller's unit of work commits it with the
    change). None when the workspace has no process to score it by."""
    lead = load_lead(uow, lead_id=lead_id)
    process = process or lead_process(uow, lead=lead)
    if process is None:
        return None
    found = compute_score(uow, lead=lead, process=process)
    payload = found.payload()
    before = lead.scores
    if before is not None and (before.fit, before.intent, before.learned) == (
        payload["fit"],
        payload["intent"],
        payload["learned"],
    ):
        return found
    record_events(uow, [event(ev.LEAD_SCORED, f"lead:{lead_id}", actor, uow.clock(), **payload)])
    return found


def score_new_lead(uow: UnitOfWork, *, lead_id: str, actor: Actor, process: Process | None = None) -> None:
    """The score of a lead just captured (under ``process``, else the default one), recorded in the
    capture's unit of work."""
    rescore(uow, lead_id=lead_id, actor=actor, process=process)


@dataclass(frozen=True)
class Training:
    """A model just trained and stored, the process it learned from, and how many open leads it scored again."""

    model: LearnedModel
    rescored: int
    process: str


def train_model(uow: UnitOfWork, *, actor_id: str, process_key: str | None) -> Training:
    """Train the learned score on the won and lost deals of the process (by default the workspace's
    default one), store it and score the process's open leads with it, in one transaction; refuses
    on too little history."""
    actor = load_actor(uow.connection, user_id=actor_id)
    process = named_or_default_process(uow.connection, process_key)
    rows = store.closed_deals(uow.connection, process=process.key)
    won = [row.status == "won" for row in rows]
    lead_model.check_history(sum(won), len(won) - sum(won), process.key)
    features = [lead_model.deal_features(Deal.model_validate_json(r.state), process, r.first_touch_at) for r in rows]
    now = uow.clock()
    model = lead_model.train(features, won, now=now)
    store.save_model(
        uow.connection, process=process.key, by=actor_id, at=now, n=model.n, auc=model.auc, model=model.to_json()
    )
    rescored = rescore_open_leads(uow, process=process, actor=actor)
    uow.commit()
    return Training(model, rescored, process.key)


def rescore_open_leads(uow: UnitOfWork, *, process: Process, actor: Actor) -> int:
    """Score every open lead of a process again (after a new model); returns how many scores moved."""
    default = default_process_key(uow.connection)
    moved = 0
    for row in queries.list_leads(uow.connection, status="open"):
        lead = load_lead(uow, lead_id=row.id)
        if (lead.process or default) != process.key:
            continue
        before = lead.scores
        found = rescore(uow, lead_id=lead.id, actor=actor, process=process)
        moved += found is not None and (before is None or before.learned != found.payload()["learned"])
    return moved


def reopen_nurtured(engine: Engine, now: datetime) -> int:
    """Reopen every nurtured lead whose date has come (LeadReopened); returns how many.

    Set-based and idempotent: one indexed read finds the due leads, their events go in with one
    bulk write and their rows change with one update; a lead reopened is no longer due."""
    total = 0
    while True:
        with UnitOfWork(engine, clock=lambda: now) as uow:
            due = store.due_nurtured(uow.connection, today=now.date(), limit=REOPEN_BATCH)
            if not due:
                return total
            _reopen(uow, due, now)
            uow.commit()
        total += len(due)
        if len(due) < REOPEN_BATCH:
            return total


def _reopen(uow: UnitOfWork, due: Any, now: datetime) -> None:
    connection = uow.connection
    storage = bulk.storage(connection)
    found = [event(ev.LEAD_REOPENED, f"lead:{row.id}", _SYSTEM, now, reason="nurture date reached") for row in due]
    seqs = allocate_seqs(connection, len(due))
    rows = [
        (seq, e.stream, int(row.version or 0) + 1, e.type, e.actor, storage.stamp(e.at), storage.json(e.data))
        for seq, row, e in zip(seqs, due, found, strict=True)
    ]
    bulk.write_rows(connection, t.events, EVENT_COLUMNS, rows)
    ids = [row.id for row in due]
    try:
        connection.execute(update(t.leads).where(t.leads.c.id.in_(ids)).values(**lead_changes(found[0])))
    except DBAPIError as exc:
        raise translate(exc) from None
