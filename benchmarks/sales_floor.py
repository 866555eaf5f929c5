"""A sales floor for the page and load benchmarks: three teams (a manager, SDRs, AEs, a CSM each),
an admin, and thousands of open deals spread over the stages and owners, with the history the real
use cases leave behind: fields, calls, emails and meetings, contacts, BANT, proposals, next steps,
moves, handoffs accepted, sent back or still pending, a few overrides, and some closed deals.

Every step is decided by the pure domain rules (the same calls the services make, gates included)
on the deal as it stands, and each deal's events go in with ``record_deal_events``, which writes the
projections live use writes; a batch of deals shares one transaction (seeding 2,000 deals one
committed action at a time takes many minutes). ``seed`` is called by ``bench_pages.py`` and
``bench_load.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from dealflow.domain import commands as cmds
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Decision, Refusal
from dealflow.domain.events import Event
from dealflow.domain.evidence import capture
from dealflow.domain.handoffs import accept_handoff, return_handoff
from dealflow.domain.lifecycle import create_deal
from dealflow.domain.moves import move_deal
from dealflow.domain.outcomes import close_deal
from dealflow.errors import GateRefused
from dealflow.process.criteria import (
    ActivitySince,
    ApprovalRecorded,
    ContactRole,
    Criterion,
    DocumentAttached,
    FieldCaptured,
    NextStepSet,
    QualificationScore,
)
from dealflow.process.loading import load_template
from dealflow.process.models import Process
from dealflow.services import auth
from dealflow.services import workspace as ws
from dealflow.store import credentials
from dealflow.store import tables as t
from dealflow.store.event_log import record_deal_events
from dealflow.store.unit_of_work import UnitOfWork

PASSWORD = "load-bench-password"
ADMIN = "admin"
TEAMS = ("east", "west", "central")
SDRS_PER_TEAM, AES_PER_TEAM = 2, 4
# Open deals by sales stage (prospecting .. closing): a funnel, wide at the top.
STAGE_WEIGHTS = (30, 22, 18, 12, 10, 8)
ACCOUNTS = 60
BATCH = 40
LOSS_REASONS = ("no_decision", "competitor", "no_budget", "timing")


@dataclass
class Floor:
    """Who works on the floor and which deals the load run can use."""

    admin: str
    managers: dict[str, str]  # team -> manager id
    reps: list[tuple[str, str, str]]  # (id, role, team)
    open_deals: int
    closed_deals: int
    # Prospecting deals with a source and a next step, no call since they entered the stage: a move to
    # qualification is refused until a call is logged, then passes (the load run's move cycle).
    cycle_deals: dict[str, list[str]] = field(default_factory=dict)  # sdr id -> deal ids

    def users(self) -> list[str]:
        """Every user id."""
        return [self.admin, *self.managers.values(), *(r[0] for r in self.reps)]

    def actors(self) -> list[Actor]:
        """Every user as the rules see them."""
        found = [Actor(self.admin, ("revops", "admin"), None)]
        found += [Actor(m, ("manager",), team) for team, m in self.managers.items()]
        return found + [Actor(user, (role,), team) for user, role, team in self.reps]


class _Batch(UnitOfWork):
    """One open transaction for a batch of deals; ``commit`` is deferred to :meth:`flush`."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        super().__init__(engine, clock=clock)
        self._connection = engine.connect()
        self._connection.begin()

    def commit(self) -> None:
        return None

    def flush(self) -> None:
        """Commit what the batch wrote."""
        self.connection.commit()

    def close(self) -> None:
        """Roll back anything not flushed and give the connection back."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.rollback()
            connection.close()


@dataclass
class _Clock:
    now: datetime
    limit: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, rng: random.Random, low_hours: float, high_hours: float) -> None:
        self.now = min(self.now + timedelta(hours=rng.uniform(low_hours, high_hours)), self.limit)


class _Walker:
    """Walks deals through the process with the evidence each gate asks for. Each step is decided by
    the pure rules on the deal as it stands; a deal's events go in with one ``record_deal_events``."""

    def __init__(self, uow: _Batch, clock: _Clock, process: Process, rng: random.Random, floor: Floor) -> None:
        self.uow, self.clock, self.process, self.rng, self.floor = uow, clock, process, rng, floor
        self.actors = {a.id: a for a in floor.actors()}
        self.load: dict[str, int] = {}
        self.deal: Deal | None = None
        self.found: list[Event] = []

    def apply(self, decision: Decision) -> Deal:
        if isinstance(decision, Refusal):
            raise GateRefused(decision.message, decision.reasons) if decision.kind == "gate" else RuntimeError(decision)
        for e in decision:
            self.deal = evolve(self.deal, e)
        self.found += decision
        assert self.deal is not None
        return self.deal

    def capture(self, actor: str, command: Any) -> None:
        assert self.deal is not None
        self.apply(capture(self.deal, command, process=self.process, actor=self.actors[actor], now=self.clock.now))

    def value(self, name: str) -> Any:
        kind, spec = self.process.field_type(name), self.process.fields.get(name)
        match kind:
            case "money":
                return str(self.rng.choice((8, 12, 18, 24, 36, 48, 60, 90, 120, 250)) * 1000)
            case "date":
                return (self.clock.now + timedelta(days=self.rng.randint(20, 120))).date().isoformat()
            case "choice":
                return self.rng.choice(spec.choices) if spec else None
            case "number":
                return str(self.rng.randint(5, 200))
        return f"{spec.label if spec and spec.label else name} agreed with the buyer"

    def contact(self, actor: str, role: str, account: str) -> None:
        assert self.deal is not None
        contact_id = f"{self.deal.id.lower()}-c{len(self.deal.contacts) + 1}"
        name = f"Buyer {contact_id}"
        ws.add_contact(uow=self.uow, actor_id=actor, contact_id=contact_id, name=name, account_id=account)
        self.capture(actor, cmds.AttachContact(contact_id=contact_id, role=role))

    def satisfy(self, actor: str, criterion: Criterion, account: str) -> None:
        """Capture the evidence one criterion asks for."""
        match criterion:
            case FieldCaptured(field=name):
                self.capture(actor, cmds.UpdateFields(fields={name: self.value(name)}))
            case ActivitySince(activity=kind, min=minimum):
                for i in range(minimum):
                    self.capture(actor, cmds.LogActivity(kind=kind, summary=f"{kind.title()} #{i + 1}"))
            case NextStepSet():
                due = self.clock.now + timedelta(days=self.rng.randint(2, 9))
                self.capture(actor, cmds.SetNextStep("Working session", actor, due, buyer_confirmed=True))
            case ContactRole(role=role, min=minimum):
                for _ in range(minimum):
                    self.contact(actor, role, account)
            case QualificationScore(framework=key, min=minimum):
                framework = self.process.framework(key)
                for element in framework.elements[:minimum] if framework else ():
                    self.capture(actor, cmds.ScoreQualification(framework=key, element=element.key, note="Confirmed"))
            case ApprovalRecorded(approval=kind):
                self.capture(actor, cmds.RecordApproval(approval=kind, note="Approved"))
            case DocumentAttached(document=kind):
                self.capture(actor, cmds.AttachDocument(document=kind, name=f"{kind}.pdf"))

    def chatter(self, actor: str) -> None:
        """The emails and calls of a working week that no gate asks for."""
        for _ in range(self.rng.randint(0, 3)):
            self.clock.advance(self.rng, 2, 20)
            kind = self.rng.choice(("email", "email", "call", "note"))
            self.capture(actor, cmds.LogActivity(kind=kind, summary=f"{kind.title()} with the buyer"))

    def prepare_exit(self, actor: str, index: int, account: str, *, complete: bool) -> None:
        stage = self.process.sales_stages[index]
        fields = {name: self.value(name) for name in stage.required}
        if index == 0 or self.rng.random() < 0.1:
            fields["amount"] = self.value("budget")
        if fields:
            self.capture(actor, cmds.UpdateFields(fields=fields))
        criteria = list(stage.exit)
        for criterion in criteria if complete else criteria[: len(criteria) // 2]:
            self.clock.advance(self.rng, 2, 30)
            self.satisfy(actor, criterion, account)
        self.chatter(actor)

    def receiver(self, deal: Deal, to: str) -> tuple[str | None, tuple[str, ...]]:
        """Who takes the deal in ``to``: nobody new unless the role changes, else the least-loaded holder
        of the role in the owner's team (what ``services.lookups.pick_receiver`` does, counted here)."""
        here, there = self.process.stage(deal.stage), self.process.stage(to)
        if here is None or there is None or here.owner_role == there.owner_role:
            return None, ()
        team = self.actors[deal.owner].team
        holders = [a for a in self.actors.values() if there.owner_role in a.roles and a.team == team]
        chosen = min(holders, key=lambda a: (self.load.get(a.id, 0), a.id))
        self.load[chosen.id] = self.load.get(chosen.id, 0) + 1
        return chosen.id, chosen.roles

    def move(self, actor: str, to: str, manager: str, *, settle: bool) -> str:
        """Move the deal (the manager overrides a gate left unmet); settle the handoff if any."""
        assert self.deal is not None
        receiver, roles = self.receiver(self.deal, to)
        command = cmds.MoveDeal(to=to, handoff_to=receiver, handoff_to_roles=roles)
        now = self.clock.now
        try:
            deal = self.apply(move_deal(self.deal, command, process=self.process, actor=self.actors[actor], now=now))
        except GateRefused:
            reason = "Buyer committed on a call with our VP; paperwork follows"
            command = cmds.MoveDeal(to, reason, override=True, handoff_to=receiver, handoff_to_roles=roles)
            deal = self.apply(move_deal(self.deal, command, process=self.process, actor=self.actors[manager], now=now))
        if deal.handoff is None or not settle:
            return deal.owner
        self.clock.advance(self.rng, 1, 20)
        taker, handoff = self.actors[deal.handoff.to_owner], deal.handoff.id
        if self.rng.random() < 0.15:
            reason = "Pain is vague and no stakeholder named; please complete the context"
            self.apply(return_handoff(deal, handoff, reason, actor=taker, now=self.clock.now))
            self.clock.advance(self.rng, 2, 24)
            return self.move(actor, to, manager, settle=settle)
        self.apply(accept_handoff(deal, handoff, self.process, actor=taker, now=self.clock.now))
        return taker.id

    def open(self, number: int, owner: str, title: str, account: str, **fields: Any) -> None:
        self.deal, self.found = None, []
        command = cmds.CreateDeal(deal_id=f"D-{number}", title=title, owner=owner, account_id=account, fields=fields)
        self.apply(create_deal(command, process=self.process, actor=self.actors[owner], now=self.clock.now))

    def record(self) -> str:
        record_deal_events(self.uow, deal=None, found=self.found)
        assert self.deal is not None
        return self.deal.id

    def walk(self, number: int, target: int, *, closed: bool, pending: bool) -> str:
        """Open a deal, take it to sales stage ``target``, leave it open (or close it)."""
        rng, sales = self.rng, self.process.sales_stages
        sdr, _, team = rng.choice([r for r in self.floor.reps if r[1] == "sdr"])
        manager, account = self.floor.managers[team], f"a{rng.randrange(ACCOUNTS) + 1}"
        title = f"Account {account[1:]}: {rng.choice(('pilot', 'rollout', 'expansion', 'renewal'))}"
        self.open(number, sdr, title, account)
        owner = sdr
        for index in range(target):
            self.clock.advance(rng, 24, 120)
            # Now and then a stage is left with evidence missing, and the manager overrides the gate.
            self.prepare_exit(owner, index, account, complete=rng.random() > 0.04)
            last = index + 1 == target
            owner = self.move(owner, sales[index + 1].key, manager, settle=not (last and pending))
        self.prepare_exit(owner, target, account, complete=rng.random() < 0.35)
        assert self.deal is not None
        if closed:
            command = cmds.CloseDeal(outcome="lost", reason=rng.choice(LOSS_REASONS))
            self.apply(
                close_deal(self.deal, command, process=self.process, actor=self.actors[owner], now=self.clock.now)
            )
        elif rng.random() < 0.8:
            due = self.clock.now + timedelta(days=rng.randint(1, 12))  # overdue for deals that went quiet
            self.capture(owner, cmds.SetNextStep("Follow-up call", owner, due, buyer_confirmed=rng.random() < 0.6))
        return self.record()

    def cycle_deal(self, number: int, sdr: str) -> str:
        """A prospecting deal with a source and a next step, and no call yet in the stage."""
        account = f"a{self.rng.randrange(ACCOUNTS) + 1}"
        self.open(number, sdr, f"Account {account[1:]}: load cycle", account, source="inbound", amount="24000")
        self.capture(sdr, cmds.SetNextStep("Qualification call", sdr, self.clock.now + timedelta(days=60)))
        return self.record()


def _team(uow: UnitOfWork, process_source: str) -> Floor:
    ws.install_process(uow=uow, source=process_source, name="standard.yaml")
    ws.add_user(uow=uow, user_id=ADMIN, name="Alex Admin", roles=["revops", "admin"], team=None)
    floor = Floor(admin=ADMIN, managers={}, reps=[], open_deals=0, closed_deals=0)
    for team in TEAMS:
        members = [(f"{team}-manager", "manager")]
        members += [(f"{team}-sdr{i + 1}", "sdr") for i in range(SDRS_PER_TEAM)]
        members += [(f"{team}-ae{i + 1}", "ae") for i in range(AES_PER_TEAM)]
        members += [(f"{team}-csm", "csm")]
        for user_id, role in members:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.replace("-", " ").title(), roles=[role], team=team)
            if role == "manager":
                floor.managers[team] = user_id
            else:
                floor.reps.append((user_id, role, team))
    for i in range(ACCOUNTS):
        ws.add_account(uow=uow, actor_id=ADMIN, account_id=f"a{i + 1}", name=f"Account {i + 1}")
    return floor


def _plan(open_deals: int, closed: int, rng: random.Random) -> Iterator[tuple[int, bool, bool]]:
    """(target stage, closed, handoff left pending) for each deal, in random order."""
    stages = range(len(STAGE_WEIGHTS))
    plans = [(s, False) for s in rng.choices(stages, weights=STAGE_WEIGHTS, k=open_deals)]
    plans += [(s, True) for s in rng.choices(stages, weights=STAGE_WEIGHTS, k=closed)]
    rng.shuffle(plans)
    for target, is_closed in plans:
        yield target, is_closed, not is_closed and rng.random() < 0.08


def seed(
    engine: Engine,
    *,
    open_deals: int,
    closed_deals: int | None = None,
    cycle_per_sdr: int = 0,
    now: datetime | None = None,
    seed_value: int = 11,
    progress: Callable[[int, int], None] | None = None,
) -> Floor:
    """Fill an empty, migrated workspace with the floor; everyone's password is ``PASSWORD``."""
    rng = random.Random(seed_value)
    end = (now or datetime.now(UTC)) - timedelta(minutes=5)
    clock = _Clock(end - timedelta(days=120), end)
    closed = open_deals // 4 if closed_deals is None else closed_deals
    process, source = load_template("standard")
    with UnitOfWork(engine, clock=clock) as uow:
        floor = _team(uow, source)
        uow.commit()
    floor.open_deals, floor.closed_deals = open_deals, closed
    plans = list(_plan(open_deals, closed, rng))
    for start in range(0, len(plans), BATCH):
        batch = _Batch(engine, clock)
        try:
            walker = _Walker(batch, clock, process, rng, floor)
            for number, (target, is_closed, pending) in enumerate(plans[start : start + BATCH], start + 1):
                # Later stages started longer ago, so the floor's history spans about four months.
                clock.now = end - timedelta(days=rng.uniform(2, 12) + 12 * target)
                walker.walk(number, target, closed=is_closed, pending=pending)
            batch.flush()
        finally:
            batch.close()
        if progress:
            progress(min(start + BATCH, len(plans)), len(plans))
    _cycle_deals(engine, floor, process, rng, end, cycle_per_sdr, len(plans))
    _passwords(engine, floor, clock)
    return floor


def _cycle_deals(
    engine: Engine, floor: Floor, process: Process, rng: random.Random, end: datetime, count: int, after: int
) -> None:
    clock = _Clock(end - timedelta(days=1), end)
    batch = _Batch(engine, clock)
    try:
        walker = _Walker(batch, clock, process, rng, floor)
        numbers = iter(range(after + 1, after + 1 + count * len(floor.reps)))
        for sdr, role, _ in floor.reps:
            if role == "sdr":
                floor.cycle_deals[sdr] = [walker.cycle_deal(next(numbers), sdr) for _ in range(count)]
                floor.open_deals += count
        batch.flush()
    finally:
        batch.close()


def _passwords(engine: Engine, floor: Floor, clock: _Clock) -> None:
    hashed = auth.hash_password(PASSWORD)  # one argon2 hash for all: seeding need not pay for thirty
    with UnitOfWork(engine, clock=clock) as uow:
        for user_id in floor.users():
            credentials.save_password_hash(uow.connection, user_id=user_id, hashed=hashed, now=clock.now)
        uow.commit()


def open_deal_count(engine: Engine) -> int:
    """How many deals are open (a check that the floor holds what was asked)."""
    with engine.connect() as connection:
        query = select(func.count()).select_from(t.deals).where(t.deals.c.status == "open")
        return int(connection.execute(query).scalar() or 0)


def read_floor(engine: Engine) -> Floor:
    """The floor of a workspace ``seed`` filled earlier (its users and open deals, not its cycle deals)."""
    with engine.connect() as connection:
        users = connection.execute(select(t.users).order_by(t.users.c.id)).all()
    floor = Floor(admin=ADMIN, managers={}, reps=[], open_deals=open_deal_count(engine), closed_deals=0)
    for user in users:
        if "manager" in user.roles:
            floor.managers[user.team] = user.id
        elif user.id != ADMIN:
            floor.reps.append((user.id, user.roles[0], user.team))
    return floor
