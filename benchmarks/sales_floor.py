"""A sales floor for the page and load benchmarks: three teams (a manager, SDRs, AEs, a CSM each),
an admin, and thousands of open deals spread over the stages and owners, with the history the real
use cases leave behind: fields, calls, emails and meetings, contacts, BANT, proposals, next steps,
moves, handoffs accepted, sent back or still pending, a few overrides, and some closed deals.

Every change goes through the service functions (``services.deals``), so the events and projections
are what live use writes. Only the commits are batched: a batch of deals shares one transaction,
which the services' own ``commit`` calls leave open (seeding 2,000 deals one commit per action
would take many minutes). ``seed`` is called by ``bench_pages.py`` and ``bench_load.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, func, select

from dealflow.domain import commands as cmds
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
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.store import credentials
from dealflow.store import tables as t
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


class _Batch(UnitOfWork):
    """One open transaction shared by the service calls of a batch of deals; the services'
    ``commit`` is deferred to :meth:`flush`, and ``with`` neither opens nor closes it."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        super().__init__(engine, clock=clock)
        self._connection = engine.connect()
        self._connection.begin()

    def __enter__(self) -> _Batch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

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
    """Walks deals through the process with the evidence each gate asks for, in one batch."""

    def __init__(self, uow: _Batch, clock: _Clock, process: Process, rng: random.Random, floor: Floor) -> None:
        self.uow, self.clock, self.process, self.rng, self.floor = uow, clock, process, rng, floor
        self.contacts = 0

    def capture(self, actor: str, deal_id: str, command: Any) -> None:
        sd.capture_evidence(uow=self.uow, actor_id=actor, deal_id=deal_id, command=command)

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

    def contact(self, actor: str, deal_id: str, role: str, account: str) -> None:
        self.contacts += 1
        contact_id = f"{deal_id.lower()}-c{self.contacts}"
        ws.add_contact(
            uow=self.uow, actor_id=actor, contact_id=contact_id, name=f"Buyer {contact_id}", account_id=account
        )
        self.capture(actor, deal_id, cmds.AttachContact(contact_id=contact_id, role=role))

    def satisfy(self, actor: str, deal_id: str, criterion: Criterion, account: str) -> None:
        """Capture the evidence one criterion asks for."""
        match criterion:
            case FieldCaptured(field=name):
                self.capture(actor, deal_id, cmds.UpdateFields(fields={name: self.value(name)}))
            case ActivitySince(activity=kind, min=minimum):
                for i in range(minimum):
                    self.capture(actor, deal_id, cmds.LogActivity(kind=kind, summary=f"{kind.title()} #{i + 1}"))
            case NextStepSet():
                due = self.clock.now + timedelta(days=self.rng.randint(2, 9))
                self.capture(actor, deal_id, cmds.SetNextStep("Working session", actor, due, buyer_confirmed=True))
            case ContactRole(role=role, min=minimum):
                for _ in range(minimum):
                    self.contact(actor, deal_id, role, account)
            case QualificationScore(framework=key, min=minimum):
                framework = self.process.framework(key)
                for element in framework.elements[:minimum] if framework else ():
                    command = cmds.ScoreQualification(framework=key, element=element.key, note="Confirmed")
                    self.capture(actor, deal_id, command)
            case ApprovalRecorded(approval=kind):
                self.capture(actor, deal_id, cmds.RecordApproval(approval=kind, note="Approved"))
            case DocumentAttached(document=kind):
                self.capture(actor, deal_id, cmds.AttachDocument(document=kind, name=f"{kind}.pdf"))

    def chatter(self, actor: str, deal_id: str) -> None:
        """The emails and calls of a working week that no gate asks for."""
        for _ in range(self.rng.randint(0, 3)):
            self.clock.advance(self.rng, 2, 20)
            kind = self.rng.choice(("email", "email", "call", "note"))
            self.capture(actor, deal_id, cmds.LogActivity(kind=kind, summary=f"{kind.title()} with the buyer"))

    def prepare_exit(self, actor: str, deal_id: str, index: int, account: str, *, complete: bool) -> None:
        stage = self.process.sales_stages[index]
        fields = {name: self.value(name) for name in stage.required}
        if index == 0 or self.rng.random() < 0.1:
            fields["amount"] = self.value("budget")
        if fields:
            self.capture(actor, deal_id, cmds.UpdateFields(fields=fields))
        criteria = list(stage.exit)
        for criterion in criteria if complete else criteria[: len(criteria) // 2]:
            self.clock.advance(self.rng, 2, 30)
            self.satisfy(actor, deal_id, criterion, account)
        self.chatter(actor, deal_id)

    def move(self, actor: str, deal_id: str, to: str, manager: str, *, settle: bool) -> str:
        """Move the deal (now and then a manager overrides the gate); settle the handoff if any."""
        try:
            deal = sd.move_deal(uow=self.uow, actor_id=actor, deal_id=deal_id, to=to)
        except GateRefused:
            reason = "Buyer committed on a call with our VP; paperwork follows"
            deal = sd.move_deal(uow=self.uow, actor_id=manager, deal_id=deal_id, to=to, override=True, reason=reason)
        if deal.handoff is None or not settle:
            return deal.owner
        self.clock.advance(self.rng, 1, 20)
        receiver = deal.handoff.to_owner
        if self.rng.random() < 0.15:
            reason = "Pain is vague and no stakeholder named; please complete the context"
            sd.return_handoff(uow=self.uow, actor_id=receiver, handoff_id=deal.handoff.id, reason=reason)
            self.clock.advance(self.rng, 2, 24)
            return self.move(actor, deal_id, to, manager, settle=settle)
        sd.accept_handoff(uow=self.uow, actor_id=receiver, handoff_id=deal.handoff.id)
        return receiver

    def walk(self, target: int, *, closed: bool, pending: bool) -> str:
        """Open a deal, take it to sales stage ``target``, leave it open (or close it)."""
        rng, sales = self.rng, self.process.sales_stages
        sdr, _, team = rng.choice([r for r in self.floor.reps if r[1] == "sdr"])
        manager, account = self.floor.managers[team], f"a{rng.randrange(ACCOUNTS) + 1}"
        title = f"Account {account[1:]}: {rng.choice(('pilot', 'rollout', 'expansion', 'renewal'))}"
        deal = sd.create_deal(uow=self.uow, actor_id=sdr, process_key=self.process.key, title=title, account_id=account)
        owner = sdr
        for index in range(target):
            self.clock.advance(rng, 24, 120)
            # Now and then a stage is left with evidence missing, and the manager overrides the gate.
            self.prepare_exit(owner, deal.id, index, account, complete=rng.random() > 0.04)
            last = index + 1 == target
            owner = self.move(owner, deal.id, sales[index + 1].key, manager, settle=not (last and pending))
        self.prepare_exit(owner, deal.id, target, account, complete=rng.random() < 0.35)
        if closed:
            reason = rng.choice(LOSS_REASONS)
            sd.close_deal(uow=self.uow, actor_id=owner, deal_id=deal.id, outcome="lost", reason=reason)
        elif rng.random() < 0.8:
            due = self.clock.now + timedelta(days=rng.randint(1, 12))  # overdue for deals that went quiet
            step = cmds.SetNextStep("Follow-up call", owner, due, buyer_confirmed=rng.random() < 0.6)
            self.capture(owner, deal.id, step)
        return deal.id

    def cycle_deal(self, sdr: str) -> str:
        """A prospecting deal with a source and a next step, and no call yet in the stage."""
        account = f"a{self.rng.randrange(ACCOUNTS) + 1}"
        deal = sd.create_deal(
            uow=self.uow, actor_id=sdr, process_key=self.process.key, title=f"Account {account[1:]}: load cycle",
            account_id=account, fields={"source": "inbound", "amount": "24000"},
        )  # fmt: skip
        due = self.clock.now + timedelta(days=60)
        self.capture(sdr, deal.id, cmds.SetNextStep("Qualification call", sdr, due))
        return deal.id


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
            for target, is_closed, pending in plans[start : start + BATCH]:
                # Later stages started longer ago, so the floor's history spans about four months.
                clock.now = end - timedelta(days=rng.uniform(2, 12) + 12 * target)
                walker.walk(target, closed=is_closed, pending=pending)
            batch.flush()
        finally:
            batch.close()
        if progress:
            progress(min(start + BATCH, len(plans)), len(plans))
    _cycle_deals(engine, floor, process, rng, end, cycle_per_sdr)
    _passwords(engine, floor, clock)
    return floor


def _cycle_deals(engine: Engine, floor: Floor, process: Process, rng: random.Random, end: datetime, count: int) -> None:
    clock = _Clock(end - timedelta(days=1), end)
    batch = _Batch(engine, clock)
    try:
        walker = _Walker(batch, clock, process, rng, floor)
        for sdr, role, _ in floor.reps:
            if role == "sdr":
                floor.cycle_deals[sdr] = [walker.cycle_deal(sdr) for _ in range(count)]
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
