"""A demo workspace: two teams and realistic deals at every stage, made through the real use cases.

Every deal advances only by capturing the evidence its gates ask for (read from the process
file, so any template works); a few are pushed through by a manager's override, some are
sent back at handoff, some are lost, some are won and handed to customer success.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

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
from dealflow.process.models import Process, Stage
from dealflow.services import deals as sd
from dealflow.services import leads as sl
from dealflow.services import workspace as ws
from dealflow.services.demo_cadences import FOLLOWED_LEADS, seed_cadences
from dealflow.store import queries
from dealflow.store.engine import make_engine
from dealflow.store.unit_of_work import UnitOfWork

TEAM = (
    ("alex", "Alex Rivera", ["revops", "admin"], None),
    ("morgan", "Morgan Lee", ["manager"], "east"),
    ("sam", "Sam Patel", ["sdr"], "east"),
    ("sofia", "Sofia Novak", ["sdr"], "east"),
    ("ava", "Ava Chen", ["ae"], "east"),
    ("omar", "Omar Haddad", ["ae"], "east"),
    ("chris", "Chris Okafor", ["csm"], "east"),
    ("jordan", "Jordan Brooks", ["manager"], "west"),
    ("lena", "Lena Fischer", ["sdr"], "west"),
    ("noah", "Noah Kim", ["ae"], "west"),
    ("maya", "Maya Singh", ["csm"], "west"),
)
TEAM_OF = {user_id: team for user_id, _, _, team in TEAM}
MANAGER_OF = {team: user_id for user_id, _, roles, team in TEAM if "manager" in roles}
SDRS = tuple(user_id for user_id, _, roles, _ in TEAM if "sdr" in roles)
ACCOUNTS = (
    "Acme Logistics",
    "Brightwave Health",
    "Cobalt Foods",
    "Dunmore Legal",
    "Evergreen Schools",
    "Fjord Analytics",
    "Granite Insurance",
    "Harbor Freight Lines",
    "Ionic Energy",
    "Juniper Retail",
    "Keystone Dental",
    "Lumen Media",
    "Meridian Bank",
    "Northwind Travel",
    "Orchid Cosmetics",
)
PAINS = (
    "Quotes take four days; they lose bids to faster competitors",
    "Renewals slip because nobody owns the follow-up",
    "Managers cannot see which deals are stuck until the quarter ends",
    "Three spreadsheets disagree on the pipeline every Monday",
)
LOSS_REASONS = ("no_decision", "competitor", "no_budget", "timing")


@dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, rng: random.Random, low_hours: float, high_hours: float, limit: datetime) -> None:
        self.now = min(self.now + timedelta(hours=rng.uniform(low_hours, high_hours)), limit)


class _Seeder:
    def __init__(self, engine: Engine, process: Process, rng: random.Random, limit: datetime) -> None:
        self.engine, self.process, self.rng, self.limit = engine, process, rng, limit
        self.clock = _Clock(limit)
        self.contacts = 0
        self.amounts: dict[str, str] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, clock=self.clock)

    def capture(self, actor: str, deal_id: str, command: Any) -> None:
        with self.uow() as uow:
            sd.capture_evidence(uow=uow, actor_id=actor, deal_id=deal_id, command=command)

    def _value(self, name: str) -> Any:
        kind = self.process.field_type(name)
        spec = self.process.fields.get(name)
        match kind:
            case "money":
                return str(self.rng.choice((12, 18, 24, 36, 48, 60, 90, 120)) * 1000)
            case "number":
                return str(self.rng.randint(5, 200))
            case "date":
                return (self.clock.now + timedelta(days=self.rng.randint(20, 90))).date().isoformat()
            case "choice":
                return self.rng.choice(spec.choices) if spec else None
            case _:
                return (
                    self.rng.choice(PAINS) if name == "pain" else f"{(spec.label if spec else name)} agreed with buyer"
                )

    def _contact(self, actor: str, deal_id: str, role: str) -> None:
        self.contacts += 1
        contact_id = f"c{self.contacts}"
        with self.uow() as uow:
            ws.add_contact(uow=uow, actor_id=actor, contact_id=contact_id, name=f"Contact {self.contacts}")
        self.capture(actor, deal_id, cmds.AttachContact(contact_id=contact_id, role=role))

    def satisfy(self, actor: str, deal_id: str, criterion: Criterion) -> None:
        """Capture the evidence one criterion asks for."""
        match criterion:
            case FieldCaptured(field=name):
                self.capture(actor, deal_id, cmds.UpdateFields(fields={name: self._value(name)}))
            case ActivitySince(activity=kind, min=minimum):
                for i in range(minimum):
                    self.capture(actor, deal_id, cmds.LogActivity(kind=kind, summary=f"{kind.capitalize()} #{i + 1}"))
            case NextStepSet():
                due = self.clock.now + timedelta(days=self.rng.randint(2, 9))
                step = cmds.SetNextStep(
                    action="Working session with the buyer", owner=actor, due=due, buyer_confirmed=True
                )
                self.capture(actor, deal_id, step)
            case ContactRole(role=role, min=minimum):
                for _ in range(minimum):
                    self._contact(actor, deal_id, role)
            case QualificationScore(framework=key, min=minimum):
                framework = self.process.framework(key)
                assert framework is not None
                for element in framework.elements[:minimum]:
                    command = cmds.ScoreQualification(
                        framework=key, element=element.key, note=f"{element.name} confirmed"
                    )
                    self.capture(actor, deal_id, command)
            case ApprovalRecorded(approval=kind):  # never by the deal's owner: their manager approves
                approver = MANAGER_OF[TEAM_OF[actor]]
                self.capture(approver, deal_id, cmds.RecordApproval(approval=kind, note="Approved"))
            case DocumentAttached(document=kind):
                self.capture(actor, deal_id, cmds.AttachDocument(document=kind, name=f"{kind}.pdf"))
            case _:
                pass

    def prepare_exit(self, actor: str, deal_id: str, stage: Stage, *, complete: bool) -> None:
        """Capture the stage's required fields and exit evidence (only part of it if not ``complete``)."""
        fields = {name: self._value(name) for name in stage.required}
        if "amount" not in fields:
            # An amount is set once; now and then a buyer widens or narrows the scope.
            if deal_id not in self.amounts or self.rng.random() < 0.08:
                self.amounts[deal_id] = self._value("amount")
            fields["amount"] = self.amounts[deal_id]
        self.capture(actor, deal_id, cmds.UpdateFields(fields=fields))
        criteria = list(stage.exit)
        if not complete:
            criteria = criteria[: max(0, len(criteria) // 2)]
        for criterion in criteria:
            self.clock.advance(self.rng, 2, 30, self.limit)
            self.satisfy(actor, deal_id, criterion)

    def move(self, actor: str, deal_id: str, to: str, *, settle: bool = True) -> str:
        """Move the deal (a manager overrides if a condition still blocks it); settle any handoff."""
        try:
            with self.uow() as uow:
                deal = sd.move_deal(uow=uow, actor_id=actor, deal_id=deal_id, to=to)
        except GateRefused:
            manager = MANAGER_OF[TEAM_OF[actor]]
            with self.uow() as uow:
                reason = "Buyer committed on a call with our VP; paperwork follows"
                deal = sd.move_deal(uow=uow, actor_id=manager, deal_id=deal_id, to=to, override=True, reason=reason)
        if deal.handoff is None or not settle:
            return deal.owner
        self.clock.advance(self.rng, 1, 20, self.limit)
        receiver = deal.handoff.to_owner
        if self.rng.random() < 0.2:
            with self.uow() as uow:
                reason = "Pain is vague and no stakeholder named; please complete the context"
                sd.return_handoff(uow=uow, actor_id=receiver, handoff_id=deal.handoff.id, reason=reason)
            self.clock.advance(self.rng, 2, 24, self.limit)
            back = self.process.stage(deal.handoff.from_stage)
            assert back is not None
            self.prepare_exit(actor, deal_id, back, complete=True)  # the stage's work counts from its new start
            return self.move(actor, deal_id, to, settle=settle)
        with self.uow() as uow:
            sd.accept_handoff(uow=uow, actor_id=receiver, handoff_id=deal.handoff.id)
        return receiver


def _build_team(seeder: _Seeder, source: str) -> None:
    with seeder.uow() as uow:
        ws.install_process(uow=uow, source=source, name="standard.yaml")
    for user_id, name, roles, team in TEAM:
        with seeder.uow() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=name, roles=roles, team=team, email=f"{user_id}@example.com")
    for i, account in enumerate(ACCOUNTS):
        with seeder.uow() as uow:
            ws.add_account(uow=uow, actor_id="alex", account_id=f"a{i + 1}", name=account)


LEADS = (
    ("Priya Raman", "Quanta Robotics", "inbound"),
    ("Leo Martins", "Riverside Clinics", "event"),
    ("Hana Sato", "Summit Outdoor", "referral"),
    ("Dev Student", None, "inbound"),
    ("Noah Berg", "Tidewater Ports", "outbound"),
)
# What the leads told us besides their name and email, for the scoring rules to read.
LEAD_ANSWERS: dict[str, dict[str, str]] = {
    "Priya Raman": {"title": "VP Operations", "company_size": "420", "pages": "/pricing /customers"},
    "Leo Martins": {"title": "Practice manager", "company_size": "35"},
    "Hana Sato": {"title": "Head of Ecommerce", "company_size": "160"},
    "Noah Berg": {"title": "Logistics analyst", "company_size": "2300"},
}


def _add_leads(seeder: _Seeder) -> None:
    """Fresh leads in the SDRs' queues; one is not a buyer and is disqualified."""
    for i, (name, company, source) in enumerate(LEADS):
        seeder.clock.advance(seeder.rng, 1, 12, seeder.limit)
        owner = SDRS[i % len(SDRS)]
        email = f"{name.split()[0].lower()}@{(company or 'mail').split()[0].lower()}.example"
        with seeder.uow() as uow:
            lead_id = sl.capture_lead(
                uow=uow, actor_id=owner, name=name, company=company, email=email, source=source,
                fields=LEAD_ANSWERS.get(name),
            )  # fmt: skip
        if company is None:
            with seeder.uow() as uow:
                sl.disqualify(
                    uow=uow, actor_id=owner, lead_id=lead_id, reason="student_or_spam", process_key="standard"
                )


def _run_deal(seeder: _Seeder, number: int, target: int, ending: str | None) -> None:
    """Take one deal from creation up to stage index ``target``, then end it if ``ending``."""
    process, rng = seeder.process, seeder.rng
    sales = process.sales_stages
    owner = rng.choice(SDRS)
    account = rng.randrange(len(ACCOUNTS))
    with seeder.uow() as uow:
        deal = sd.create_deal(
            uow=uow,
            actor_id=owner,
            process_key=process.key,
            title=f"{ACCOUNTS[account]}: {rng.choice(('pilot', 'rollout', 'expansion', 'renewal'))}",
            account_id=f"a{account + 1}",
        )
    for index in range(min(target, len(sales) - 1)):
        seeder.clock.advance(rng, 36, 200, seeder.limit)
        seeder.prepare_exit(owner, deal.id, sales[index], complete=True)
        last = index + 1 == min(target, len(sales) - 1)
        owner = seeder.move(
            owner, deal.id, sales[index + 1].key, settle=not (last and ending is None and number % 4 == 1)
        )
    here = sales[min(target, len(sales) - 1)]
    seeder.prepare_exit(owner, deal.id, here, complete=ending == "won" or number % 3 == 0)
    if ending is None:
        if number % 4 != 2:  # most open deals have a next step agreed for the days ahead
            due = seeder.limit + timedelta(days=rng.randint(1, 10))
            step = cmds.SetNextStep(action="Follow-up call", owner=owner, due=due, buyer_confirmed=number % 3 != 0)
            seeder.capture(owner, deal.id, step)
        return
    with seeder.uow() as uow:
        if ending == "won":
            sd.close_deal(uow=uow, actor_id=owner, deal_id=deal.id, outcome="won", reason="value")
        else:
            sd.close_deal(uow=uow, actor_id=owner, deal_id=deal.id, outcome="lost", reason=rng.choice(LOSS_REASONS))


def seed_demo(engine: Engine, *, deals: int = 60, history: int = 45, seed: int = 7, now: datetime | None = None) -> str:
    """Fill an empty workspace with the demo teams, ``deals`` current deals and ``history`` deals
    closed six to twelve months ago; return a short summary.

    The history gives the learned score more than the 50 outcomes it needs, and the forecast's
    back-test earlier quarters to re-run.

    A SQLite file is seeded without a flush to disk at each of its thousand commits, then flushed
    once at the end: several times faster, and a demo lost to a crash is seeded again.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return _seed(engine, deals=deals, history=history, seed=seed, now=now)
    quick = make_engine(engine.url.render_as_string(hide_password=False), durable=False)
    try:
        summary = _seed(quick, deals=deals, history=history, seed=seed, now=now)
    finally:
        quick.dispose()
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return summary


def _seed(engine: Engine, *, deals: int, history: int, seed: int, now: datetime | None) -> str:
    rng = random.Random(seed)
    limit = (now or datetime.now(UTC)) - timedelta(minutes=5)
    process, source = load_template("standard")
    seeder = _Seeder(engine, process, rng, limit)
    seeder.clock.now = limit - timedelta(days=150)
    _build_team(seeder, source)
    plans = _plan(deals, len(seeder.process.sales_stages), rng, limit)
    plans += _history(deals, history, len(seeder.process.sales_stages), rng, limit)
    for number, target, ending, start in sorted(plans, key=lambda plan: plan[3]):
        seeder.clock.now = start
        _run_deal(seeder, number, target, ending)
    _add_leads(seeder)
    followed = seed_cadences(engine, rng=rng, limit=limit, owners=SDRS)
    with seeder.uow() as uow:
        rows = queries.list_deals(uow.connection, status=None, limit=deals + history)
        pending = queries.list_handoffs(uow.connection)
        first = [r for r in rows if r.stage == seeder.process.stages[0].key]
        gates = {r.id: sd.check_gate(uow=uow, deal_id=r.id)[2] for r in first}
        blocked = next((r for r in first if (g := gates[r.id]) is not None and not g.passed), first[0])
    lines = [
        f"{len(TEAM)} users in {len(MANAGER_OF)} teams ({', '.join(u[0] for u in TEAM)}), {len(ACCOUNTS)} accounts, "
        f"{deals + history} deals, {len(LEADS) + len(FOLLOWED_LEADS)} leads, {followed} follow-up cadences",
        f"open deals by stage: {_count_by_stage(rows)}",
        "",
        "try:",
        "  dealflow deal list",
        f"  dealflow deal show {blocked.id}",
        f"  dealflow deal move {blocked.id} {seeder.process.stages[1].key} --as {blocked.owner}",
        "  dealflow handoff list",
        "  dealflow lead list",
        f"  dealflow day --as {SDRS[0]}",
        "  dealflow metrics cadence",
    ]
    if pending:
        lines.append(f"  dealflow handoff accept {pending[0].id} --as {pending[0].to_owner}")
    lines.append("  dealflow events export --format csv")
    return "\n".join(lines)


def _plan(deals: int, stages: int, rng: random.Random, limit: datetime) -> list[tuple[int, int, str | None, datetime]]:
    """Each demo deal's furthest stage, ending and start, in order of start.

    Closed deals spread over the last five months, so the metrics and the forecast have a history;
    open deals started recently, later stages longer ago, so most of the pipeline is current and
    a few deals sit past their service level for the inspection queue to find.
    """
    plans = []
    for number in range(deals):
        target = number % stages
        ending = "won" if target == stages - 1 and number % 4 != 3 else ("lost" if number % 9 in (4, 7) else None)
        if ending is None:
            ago = timedelta(days=5 * target + rng.uniform(2, 8 if number % 5 else 40))
        else:
            ago = timedelta(days=rng.uniform(50, 170))
        plans.append((number, target, ending, limit - ago))
    return sorted(plans, key=lambda plan: plan[3])


def _history(
    first: int, count: int, stages: int, rng: random.Random, limit: datetime
) -> list[tuple[int, int, str | None, datetime]]:
    """Deals started six to twelve months ago, all closed: two in five won, the rest lost at any stage."""
    plans: list[tuple[int, int, str | None, datetime]] = []
    for number in range(first, first + count):
        won = rng.random() < 0.4
        target = stages - 1 if won else rng.randrange(stages)
        plans.append((number, target, "won" if won else "lost", limit - timedelta(days=rng.uniform(190, 365))))
    return plans


def _count_by_stage(rows: Any) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        if row.status == "open":
            counts[row.stage] = counts.get(row.stage, 0) + 1
    return ", ".join(f"{stage} {count}" for stage, count in counts.items())
