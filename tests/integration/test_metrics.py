"""Metrics on SQLite and PostgreSQL: a small known history built through the real services with the
clock, each metric checked against a plain calculation over what the test itself did."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, literal, select, union_all

from dealflow.analytics import funnel
from dealflow.analytics.metrics import Metrics, MetricSet, compute_metrics
from dealflow.analytics.percentiles import percentiles
from dealflow.analytics.periods import Period, parse_period
from dealflow.analytics.scope import Scope
from dealflow.domain import commands as cmds
from dealflow.errors import InvalidInput, NotFound
from dealflow.process.loading import load_template
from dealflow.process.models import Process
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import START, Clock
from .conftest import Cli

Factory = Callable[[], UnitOfWork]
DAY = 86_400.0
TOUCH_KINDS = ("call", "email", "meeting")
TEAMS = {"ada": "east", "ben": "east", "cyd": "west", "max": "east", "cat": "east"}
MANAGERS = {"east": "max", "west": "wes"}  # who overrides a gate: the manager of the owner's team
NOW_DAY = 41  # 2026-04-12 09:00, eleven days into Q2


def metered_source() -> str:
    """The standard template as another process that also has segment and product fields."""
    source = load_template("standard")[1]
    source = source.replace("key: standard\nname: Standard seven stages", "key: metered\nname: Metered")
    extra = "  segment:\n    type: choice\n    choices: [smb, enterprise]\n  product:\n    type: text\n"
    return source.replace("\nfields:\n", "\nfields:\n" + extra, 1)


@dataclass
class DealFacts:
    id: str
    owner: str
    source: str
    segment: str
    product: str
    created: datetime
    stage: str
    entered: datetime
    status: str = "open"
    closed: datetime | None = None
    amount: Decimal | None = None
    next_step: tuple[datetime, bool] | None = None
    closer: str | None = None  # who owned the deal when it closed

    @property
    def credited(self) -> str:
        """Whose deal it is in the figures: its owner at the close, else its owner now."""
        return self.closer or self.owner


@dataclass
class Stay:
    deal: str
    stage: str
    owner: str
    entered: datetime
    left: datetime
    exit: str
    overridden: bool

    @property
    def seconds(self) -> float:
        return (self.left - self.entered).total_seconds()


@dataclass
class Handoff:
    deal: str
    to_owner: str
    to_stage: str
    from_stage: str
    created: datetime
    due: datetime
    completeness: float
    status: str = "pending"
    resolved: datetime | None = None


@dataclass
class History:
    """Runs commands through the services at given days and writes down what each one did."""

    team: Factory
    clock: Clock
    process: Process
    deals: dict[str, DealFacts] = field(default_factory=dict)
    stays: list[Stay] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)
    touches: list[tuple[str, datetime]] = field(default_factory=list)

    def at(self, day: float) -> datetime:
        moment = START + timedelta(days=day)
        assert moment >= self.clock.now, "steps run in time order"
        self.clock.now = moment
        return moment

    def create(self, day: float, *, source: str, segment: str, product: str, **extra: str) -> str:
        now = self.at(day)
        fields = {"source": source, "segment": segment, "product": product, **extra}
        with self.team() as uow:
            deal = sd.create_deal(uow=uow, actor_id="ada", process_key="metered", title="Deal", fields=fields)
        amount = Decimal(extra["amount"]) if "amount" in extra else None
        self.deals[deal.id] = DealFacts(
            deal.id, "ada", source, segment, product, now, "prospecting", now, amount=amount
        )
        return deal.id

    def capture(self, day: float, deal_id: str, command: Any) -> None:
        now = self.at(day)
        with self.team() as uow:
            sd.capture_evidence(uow=uow, actor_id=self.deals[deal_id].owner, deal_id=deal_id, command=command)
        if isinstance(command, cmds.LogActivity) and command.kind in TOUCH_KINDS:
            self.touches.append((deal_id, now))
        if isinstance(command, cmds.SetNextStep):
            self.deals[deal_id].next_step = (command.due, command.buyer_confirmed)

    def _leave(self, deal: DealFacts, now: datetime, exit_kind: str, overridden: bool = False) -> None:
        self.stays.append(Stay(deal.id, deal.stage, deal.owner, deal.entered, now, exit_kind, overridden))

    def move(
        self,
        day: float,
        deal_id: str,
        to: str,
        *,
        override: bool = True,
        completeness: float = 0.0,
        handoff_to: str | None = None,
    ) -> None:
        """Move (forward through a manager's override unless told otherwise, or backward)."""
        now, deal = self.at(day), self.deals[deal_id]
        backward = self.process.index(to) < self.process.index(deal.stage)
        actor = MANAGERS[TEAMS[deal.owner]] if override or backward else deal.owner
        with self.team() as uow:
            after = sd.move_deal(
                uow=uow,
                actor_id=actor,
                deal_id=deal_id,
                to=to,
                override=override and not backward,
                reason="Call",
                handoff_to=handoff_to,
            )
        self._leave(deal, now, "backward" if backward else "forward", override and not backward)
        self._hand(deal, to, now, after.handoff.to_owner if after.handoff else None, completeness)
        deal.stage, deal.entered = to, now

    def _hand(self, deal: DealFacts, to: str, now: datetime, receiver: str | None, completeness: float) -> None:
        here, there = self.process.stage(deal.stage), self.process.stage(to)
        assert here is not None
        assert there is not None
        if here.owner_role != there.owner_role:
            assert receiver is not None
            due = now + there.handoff.sla
            self.handoffs.append(Handoff(deal.id, receiver, to, deal.stage, now, due, completeness))

    def settle(self, day: float, deal_id: str, *, accept: bool = True) -> None:
        now, deal = self.at(day), self.deals[deal_id]
        handoff = next(h for h in self.handoffs if h.deal == deal_id and h.status == "pending")
        with self.team() as uow:
            handoff_id = next(x.id for x in queries.list_handoffs(uow.connection) if x.deal_id == deal_id)
            if accept:
                sd.accept_handoff(uow=uow, actor_id=handoff.to_owner, handoff_id=handoff_id)
            else:
                sd.return_handoff(uow=uow, actor_id=handoff.to_owner, handoff_id=handoff_id, reason="Thin")
        handoff.status, handoff.resolved = ("accepted" if accept else "returned"), now
        if accept:
            deal.owner = handoff.to_owner
        else:
            self._leave(deal, now, "returned")
            deal.stage, deal.entered = handoff.from_stage, now

    def close(self, day: float, deal_id: str, outcome: str, *, amount: str | None = None) -> None:
        now, deal = self.at(day), self.deals[deal_id]
        reason = {"won": "value", "lost": "timing", "disqualified": "no_fit"}[outcome]
        fields = {"amount": amount} if amount else {}
        with self.team() as uow:
            after = sd.close_deal(
                uow=uow, actor_id=deal.owner, deal_id=deal_id, outcome=outcome, reason=reason, fields=fields
            )
        self._leave(deal, now, outcome)
        deal.status, deal.closed, deal.closer = outcome, now, deal.owner
        if amount:
            deal.amount = Decimal(amount)
        if outcome == "won":
            self._hand(deal, "follow_up", now, after.handoff.to_owner if after.handoff else None, 0.25)
            deal.stage, deal.entered = "follow_up", now


def build_history(team: Factory, clock: Clock) -> History:
    """Eight deals in the 'metered' process (and one in 'standard' that must never be counted)."""
    with team() as uow:
        process = ws.install_process(uow=uow, source=metered_source(), name="metered.yaml")
    with team() as uow:
        ws.add_user(uow=uow, user_id="wes", name="Wes", roles=["manager"], team="west")
    h = History(team, clock, process)
    d1 = h.create(0, source="inbound", segment="smb", product="core", pain="Slow quotes", urgency="high")
    h.capture(0, d1, cmds.LogActivity(kind="call", summary="Intro"))
    h.capture(0, d1, cmds.SetNextStep(action="Qualify", owner="ada", due=START + timedelta(days=2)))
    d5 = h.create(0.2, source="partner", segment="smb", product="core")
    d2 = h.create(0.5, source="outbound", segment="enterprise", product="core")
    h.move(1, d1, "qualification", override=False)  # the gate passes: evidence, not an override
    d3 = h.create(1, source="inbound", segment="smb", product="addon")
    d6 = h.create(1, source="inbound", segment="smb", product="core", amount="5000")
    h.capture(1, d6, cmds.SetNextStep(action="Call back", owner="ada", due=START + timedelta(days=3)))  # goes overdue
    h.capture(1, d5, cmds.LogActivity(kind="call", summary="Intro"))
    h.capture(1.5, d3, cmds.LogActivity(kind="call", summary="Intro"))
    h.capture(2, d3, cmds.LogActivity(kind="email", summary="Recap"))
    h.move(2, d2, "qualification")
    d4 = h.create(2, source="inbound", segment="enterprise", product="addon")
    for i in range(5):
        h.capture(2.1 + i / 20, d4, cmds.LogActivity(kind="email", summary=f"Follow-up {i}"))
    h.move(2.5, d3, "qualification")
    h.capture(2.6, d3, cmds.LogActivity(kind="note", summary="Internal: not a touch"))
    h.move(3, d1, "discovery", completeness=3 / 7)  # pain, urgency and the next step of seven items
    h.capture(3, d3, cmds.LogActivity(kind="call", summary="Chase"))
    h.move(3, d4, "qualification")
    h.settle(3.5, d1)
    h.move(4, d2, "discovery", handoff_to="cyd")
    h.close(4, d3, "lost")
    h.move(4.1, d4, "discovery", handoff_to="cyd")
    h.settle(4.2, d4)
    h.capture(5, d4, cmds.LogActivity(kind="call", summary="Demo prep"))
    d7 = h.create(5, source="referral", segment="enterprise", product="addon", amount="20000")
    h.move(5, d7, "qualification")
    h.settle(5.5, d2, accept=False)  # sent back: D2 returns to qualification
    h.move(6, d2, "discovery", handoff_to="cyd")
    h.move(6, d1, "presentation")
    h.move(7, d7, "discovery")
    h.settle(7.5, d7)
    h.settle(8, d2)  # a day late
    h.move(8, d1, "objection_handling")
    h.close(8.7, d5, "disqualified")  # 8.5 days in prospecting: past its 7-day SLA
    h.move(9, d1, "closing")
    h.close(9, d4, "lost")
    h.capture(9.5, d1, cmds.AttachDocument(document="contract", name="contract.pdf"))
    h.close(10, d1, "won", amount="10000")
    h.settle(11, d1)
    h.move(12, d2, "presentation")
    h.move(14, d2, "discovery")  # backward
    h.move(15, d2, "presentation")
    h.move(16, d2, "objection_handling")
    h.move(17, d2, "closing")
    h.capture(19, d2, cmds.AttachDocument(document="contract", name="contract.pdf"))
    h.close(20, d2, "won", amount="30000")  # its handoff to customer success is never accepted
    d9 = h.create(22, source="event", segment="smb", product="core")
    h.capture(
        23, d7, cmds.SetNextStep(action="Demo", owner="ben", due=START + timedelta(days=45), buyer_confirmed=True)
    )
    with team() as uow:
        sd.create_deal(uow=uow, actor_id="ada", process_key="standard", title="Elsewhere", fields={"amount": "999"})
    d8 = h.create(30, source="inbound", segment="smb", product="core")
    h.move(31, d9, "qualification")
    h.move(38, d8, "qualification")
    h.capture(38, d8, cmds.SetNextStep(action="Qualify", owner="ada", due=START + timedelta(days=44)))
    h.close(40, d9, "lost")
    h.at(NOW_DAY)
    return h


# ---- the plain calculation -------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    """Linear-interpolation percentile, written with the standard library."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    if q == 0.5:
        return statistics.median(values)
    return statistics.quantiles(values, n=10, method="inclusive")[round(q * 10) - 1]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Keep:
    """Which deals, stays and handoffs a slice or filter keeps."""

    deal: Callable[[DealFacts], bool] = lambda d: True
    stay: Callable[[Stay], bool] = lambda s: True
    handoff: Callable[[Handoff], bool] = lambda h: True


def by_owner(who: str | None) -> Keep:
    """Deals by their owner (at the close), stays by theirs, handoffs by their receiver."""
    return Keep(deal=lambda d: d.credited == who, stay=lambda s: s.owner == who, handoff=lambda x: x.to_owner == who)


def by_team(name: str | None) -> Keep:
    """The same through the owners' teams."""
    return Keep(
        deal=lambda d: TEAMS[d.credited] == name,
        stay=lambda s: TEAMS[s.owner] == name,
        handoff=lambda x: TEAMS[x.to_owner] == name,
    )


def by_deal(h: History, column: str, value: str | None) -> Keep:
    """Everything of the deals with ``column`` (source, segment, product) equal to ``value``."""
    deals = h.deals
    return Keep(
        deal=lambda d: getattr(d, column) == value,
        stay=lambda s: getattr(deals[s.deal], column) == value,
        handoff=lambda x: getattr(deals[x.deal], column) == value,
    )


def expect(h: History, now: datetime, period: Period | None = None, keep: Keep | None = None) -> dict[str, Any]:
    """Every metric, worked out from the history by hand."""
    keep = keep or Keep()
    process = h.process

    def inside(moment: datetime | None) -> bool:
        return moment is not None and (period is None or period.start <= moment < period.end)

    def open_at_end(d: DealFacts) -> bool:
        if period is None or period.end > now:
            return d.status == "open"
        return d.created < period.end and (d.closed is None or d.closed >= period.end)

    deals = [d for d in h.deals.values() if keep.deal(d)]
    stays = [s for s in h.stays if keep.stay(s)]
    closed = [d for d in deals if inside(d.closed)]
    won = [d for d in closed if d.status == "won"]
    lost = [d for d in closed if d.status == "lost"]
    opened = [d for d in deals if open_at_end(d)]
    cycles = [(d.closed - d.created).total_seconds() / DAY for d in won if d.closed]
    win_rate = share(len(won), len(won) + len(lost))
    avg_won = sum(d.amount for d in won if d.amount) / len(won) if won else None
    median = pct(cycles, 0.5)
    found: dict[str, Any] = {
        "deals_open": len(opened),
        "open_amount": sum((d.amount or Decimal(0) for d in opened), Decimal(0)),
        "deals_won": len(won),
        "deals_lost": len(lost),
        "deals_disqualified": sum(1 for d in closed if d.status == "disqualified"),
        "win_rate": win_rate,
        "avg_won_amount": avg_won,
        "cycle_days_median": median,
        "cycle_days_p80": pct(cycles, 0.8),
        "cycle_days_mean": statistics.fmean(cycles) if cycles else None,
        "sales_velocity_per_day": (
            len(opened) * win_rate * float(avg_won) / median if win_rate is not None and avg_won and median else None
        ),
    }
    # Funnel: entering = a stay there or being there now (open), first entry in the period.
    all_stays = [s for s in h.stays if keep.stay(s)]
    current = [
        Stay(d.id, d.stage, d.owner, d.entered, now, "", False)
        for d in h.deals.values()
        if d.status == "open" and keep.stay(Stay(d.id, d.stage, d.owner, d.entered, now, "", False))
    ]
    funnel = []
    for stage in process.sales_stages:
        entries = [s for s in all_stays + current if s.stage == stage.key]
        first: dict[str, datetime] = {}
        for s in entries:
            first[s.deal] = min(first.get(s.deal, s.entered), s.entered)
        cohort = {deal for deal, moment in first.items() if inside(moment)}
        onward = {s.deal for s in entries if s.exit in ("forward", "skip", "won") and s.deal in cohort}
        wins = {deal for deal in cohort if h.deals[deal].status == "won"}
        there = {s.deal for s in current if s.stage == stage.key and s.deal in cohort} - onward
        funnel.append((stage.key, len(cohort), len(onward), len(there), len(wins)))
    found["stage_conversion"] = funnel
    finished = [s for s in stays if inside(s.left)]
    times = []
    for stage in process.stages:
        seconds = [s.seconds for s in finished if s.stage == stage.key]
        sla = stage.sla.total_seconds() if stage.sla else None
        late_open = [
            d
            for d in h.deals.values()
            if d.status == "open"
            and d.stage == stage.key
            and sla is not None
            and (now - d.entered).total_seconds() > sla
            and keep.stay(Stay(d.id, d.stage, d.owner, d.entered, now, "", False))
        ]
        breaches = sum(1 for x in seconds if sla is not None and x > sla)
        median_days = None if not seconds else pct(seconds, 0.5) / DAY  # type: ignore[operator]
        p80_days = None if not seconds else pct(seconds, 0.8) / DAY  # type: ignore[operator]
        times.append((stage.key, len(seconds), median_days, p80_days, breaches, len(late_open)))
    found["time_in_stage"] = times
    moves = [s for s in finished if s.exit in ("forward", "skip", "backward", "returned")]
    found["moves"] = {
        "moves": len(moves),
        "backward": sum(1 for s in moves if s.exit == "backward"),
        "returned": sum(1 for s in moves if s.exit == "returned"),
        "skips": 0,
        "overrides": sum(1 for s in finished if s.overridden),
    }
    handoffs = [x for x in h.handoffs if keep.handoff(x) and inside(x.created)]
    accepted = [x for x in handoffs if x.status == "accepted"]
    returned = [x for x in handoffs if x.status == "returned"]
    waits = [(x.resolved - x.created).total_seconds() / 3600 for x in accepted if x.resolved]
    found["handoffs"] = {
        "handoffs": len(handoffs),
        "completeness_mean": statistics.fmean(x.completeness for x in handoffs) if handoffs else None,
        "accepted": len(accepted),
        "returned": len(returned),
        "acceptance_rate": share(len(accepted), len(accepted) + len(returned)),
        "median_hours_to_accept": pct(waits, 0.5),
        "within_sla_share": share(sum(1 for x in accepted if x.resolved and x.resolved <= x.due), len(accepted)),
        "pending_overdue": sum(1 for x in handoffs if x.status == "pending" and x.due < now),
    }
    open_now = [d for d in deals if d.status == "open"]
    compliant = [d for d in open_now if d.next_step and d.next_step[0] >= now]
    found["next_steps"] = {
        "open_deals": len(open_now),
        "compliance": share(len(compliant), len(open_now)),
        "buyer_confirmed_share": share(sum(1 for d in compliant if d.next_step and d.next_step[1]), len(open_now)),
    }
    depth = {}
    for outcome in ("lost", "disqualified"):
        ended = [d for d in closed if d.status == outcome]
        counts = [sum(1 for deal, at in h.touches if deal == d.id and d.closed and at <= d.closed) for d in ended]
        depth[outcome] = {
            "deals": len(ended),
            "touches_per_deal": statistics.fmean(counts) if counts else None,
            "share_five_or_more": share(sum(1 for c in counts if c >= 5), len(counts)),
        }
    found["follow_up"] = depth
    return found


def approx(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return pytest.approx(float(value), abs=0.01)
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-6, abs=1e-6)
    return value


def check(found: MetricSet, wanted: dict[str, Any]) -> None:
    """Compare a metrics block with the plain calculation, metric by metric."""
    for name in (
        "deals_open",
        "open_amount",
        "deals_won",
        "deals_lost",
        "deals_disqualified",
        "win_rate",
        "avg_won_amount",
        "cycle_days_median",
        "cycle_days_p80",
        "cycle_days_mean",
    ):
        got = getattr(found, name)
        assert (None if got is None else float(got)) == approx(wanted[name]), name
    velocity = found.sales_velocity_per_day
    wanted_velocity = wanted["sales_velocity_per_day"]
    if wanted_velocity is None:
        assert velocity is None
    else:  # to the cent
        assert velocity is not None
        assert float(velocity) == pytest.approx(wanted_velocity, abs=0.005)
    got_funnel = [(s.stage, s.entered, s.reached_next, s.still_there, s.won) for s in found.stage_conversion]
    assert got_funnel == wanted["stage_conversion"]
    for step in found.stage_conversion:
        assert step.drop_off == step.entered - step.reached_next - step.still_there
        assert step.conversion == (step.reached_next / step.entered if step.entered else None)
    got_times = [
        (s.stage, s.stays, s.median_days, s.p80_days, s.sla_breaches, s.open_past_sla) for s in found.time_in_stage
    ]
    assert got_times == [tuple(approx(v) for v in row) for row in wanted["time_in_stage"]]
    assert found.sla_breaches == sum(row[4] for row in wanted["time_in_stage"])
    assert found.open_past_sla == sum(row[5] for row in wanted["time_in_stage"])
    for name, value in wanted["moves"].items():
        assert getattr(found.moves, name) == value, name
    moves = wanted["moves"]["moves"]
    assert found.moves.backward_share == approx(share(wanted["moves"]["backward"], moves))
    assert found.moves.override_share == approx(share(wanted["moves"]["overrides"], moves))
    for group in ("handoffs", "next_steps"):
        for name, value in wanted[group].items():
            got = getattr(getattr(found, group), name)
            assert got == (pytest.approx(value, abs=1e-4) if isinstance(value, float) else value), (group, name)
    for outcome, figures in wanted["follow_up"].items():
        for name, value in figures.items():
            assert getattr(getattr(found.follow_up, outcome), name) == approx(value), (outcome, name)


def run(engine: Engine, h: History, **options: Any) -> Metrics:
    settings: dict[str, Any] = {"process": "metered", "period": None, "slice_by": None, "filters": {}, "target": None}
    with engine.connect() as connection:
        return compute_metrics(connection, now=h.clock.now, **{**settings, **options})


# ---- tests ---------------------------------------------------------------------------------


@pytest.fixture
def history(team: Factory, clock: Clock) -> History:
    return build_history(team, clock)


def test_every_metric_matches_a_plain_calculation(history: History, engine: Engine) -> None:
    found = run(engine, history, target=Decimal("100000"))
    wanted = expect(history, history.clock.now)
    check(found, wanted)
    # The history has what each metric needs to say something (guards the scenario itself).
    assert (found.deals_won, found.deals_lost, found.deals_disqualified, found.deals_open) == (2, 3, 1, 3)
    assert found.moves.backward == 1
    assert found.moves.returned == 1
    assert sum(s.still_there for s in found.stage_conversion) == 3  # the open deals: converting, not dropped
    assert found.moves.overrides > 0
    assert found.sla_breaches >= 1
    assert found.open_past_sla >= 1
    assert found.follow_up.lost.five_or_more == 1
    assert found.follow_up.leads is None
    assert "not available" in found.follow_up.leads_note
    assert found.pipeline_coverage == pytest.approx(float(wanted["open_amount"]) / 100000)
    assert found.handoffs.pending_overdue == 1
    assert found.handoffs.returned == 1


@pytest.mark.parametrize("label", ["2026-Q1", "2026-Q2", "2026-03"])
def test_periods_count_closes_entries_and_finished_stays_in_the_period(
    history: History, engine: Engine, label: str
) -> None:
    period = parse_period(label)
    found = run(engine, history, period=period)
    check(found, expect(history, history.clock.now, period))
    assert found.period is not None
    assert found.period.label == label


def test_slices_by_owner_team_stage_and_segment(history: History, engine: Engine) -> None:
    now = history.clock.now
    found = run(engine, history, slice_by="owner")
    assert {s.value for s in found.slices} >= {"ada", "ben", "cyd", "cat"}
    for part in found.slices:
        check(part, expect(history, now, keep=by_owner(part.value)))
    check(found, expect(history, now))  # the totals stay whole

    teams = run(engine, history, slice_by="team")
    assert [s.value for s in teams.slices] == ["east", "west"]
    for part in teams.slices:
        check(part, expect(history, now, keep=by_team(part.value)))

    quarter = parse_period("2026-Q1")
    segments = run(engine, history, slice_by="segment", period=quarter)
    assert [s.value for s in segments.slices] == ["enterprise", "smb"]
    for part in segments.slices:
        check(part, expect(history, now, quarter, by_deal(history, "segment", part.value)))

    stages = run(engine, history, slice_by="stage")
    closing = next(s for s in stages.slices if s.value == "closing")
    assert closing.deals_won == 2  # won deals count where they were won, not in follow-up
    assert [s.entered for s in closing.stage_conversion if s.stage == "closing"] == [2]


def test_filters_keep_only_matching_deals(history: History, engine: Engine) -> None:
    now = history.clock.now
    found = run(engine, history, filters={"product": "addon", "owner": None})
    check(found, expect(history, now, keep=by_deal(history, "product", "addon")))
    assert found.filters == {"product": "addon"}
    check(run(engine, history, filters={"team": "west"}), expect(history, now, keep=by_team("west")))
    check(run(engine, history, filters={"owner": "ben"}), expect(history, now, keep=by_owner("ben")))


@pytest.mark.parametrize(
    ("by", "period", "filters"),
    [
        (None, None, {}),
        ("owner", None, {}),
        ("team", None, {}),
        ("stage", "2026-Q1", {}),
        ("segment", "2026-03", {}),
        (None, "2026-Q2", {"team": "east"}),
    ],
)
def test_the_funnel_from_stage_masks_counts_what_grouping_each_deal_and_stage_counts(
    history: History, engine: Engine, by: str | None, period: str | None, filters: dict[str, str]
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("stage masks are how PostgreSQL counts the funnel")
    with engine.connect() as connection:
        process = load_process(connection, key="metered")
        chosen = parse_period(period) if period else None
        scope = Scope(process=process, period=chosen, now=history.clock.now, filters=filters, by=by)
        by_masks, by_pairs = funnel._by_masks(connection, scope), funnel._by_pairs(connection, scope)
    assert by_masks == by_pairs
    assert any(entered for stages in by_masks.values() for entered, *_ in stages.values())


def test_bad_input_is_refused_with_the_field_named(history: History, engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="cannot slice by 'region'"):
        run(engine, history, slice_by="region")
    with pytest.raises(InvalidInput, match="target"):
        run(engine, history, target=Decimal("-5"))
    with pytest.raises(NotFound, match="no process 'nope'"):
        run(engine, history, process="nope")
    assert run(engine, history, process=None).process == "standard"  # the default one: installed first
    with pytest.raises(InvalidInput, match="cannot filter on 'region'"):
        run(engine, history, filters={"region": "x"})


def test_percentiles_match_the_standard_library_on_both_backends(engine: Engine) -> None:
    rng = random.Random(5)
    groups = {("a", "x"): 1, ("a", "y"): 2, ("b", "x"): 7, ("b", "y"): 10, (None, "z"): 37}
    data = {g: [float(rng.randint(0, 30)) + rng.random() * (i % 2) for i in range(n)] for g, n in groups.items()}
    parts = [
        select(literal(k).label("k"), literal(g).label("g"), literal(x).label("x"))
        for (k, g), values in data.items()
        for x in values
    ]
    rows = union_all(*parts).subquery()
    query = select(rows.c.k, rows.c.g, rows.c.x)
    with engine.connect() as connection:
        found = percentiles(connection, query, (0.5, 0.8, 0.95))
    for group, values in data.items():
        low, high = sorted(values), len(values) - 1
        for q, got in zip((0.5, 0.8, 0.95), found[group], strict=True):
            h = high * q
            wanted = low[int(h)] + (h - int(h)) * (low[min(int(h) + 1, high)] - low[int(h)])
            assert got == pytest.approx(wanted), (group, q)
        assert found[group][0] == pytest.approx(statistics.median(values))


# ---- the command line -----------------------------------------------------------------------


def test_cli_json_carries_the_headline_metrics(history: History, cli: Cli) -> None:
    found = cli.json("metrics", "--process", "metered", "--target", "50000")
    assert isinstance(found, dict)
    for key in ("win_rate", "avg_won_amount", "cycle_days_median", "deals_open", "deals_won", "deals_lost"):
        assert key in found
    wanted = expect(history, history.clock.now)
    assert found["win_rate"] == pytest.approx(wanted["win_rate"])
    assert Decimal(found["avg_won_amount"]) == wanted["avg_won_amount"]
    assert (found["deals_won"], found["deals_lost"]) == (wanted["deals_won"], wanted["deals_lost"])
    funnel = [
        (s["stage"], s["entered"], s["reached_next"], s["still_there"], s["won"]) for s in found["stage_conversion"]
    ]
    assert funnel == wanted["stage_conversion"]
    assert found["pipeline_coverage"] == pytest.approx(float(wanted["open_amount"]) / 50000)
    assert found["slices"] == []
    assert cli("metrics", "--process", "metered", "--period", "2026-Q1") == 0
    assert "Funnel" in cli.out
    assert "█" in cli.out
    assert "Time in stage" in cli.out


def test_cli_by_emits_one_block_per_value(history: History, cli: Cli) -> None:
    found = cli.json("metrics", "--process", "metered", "--by", "segment")
    assert isinstance(found, dict)
    assert found["by"] == "segment"
    values = [s["value"] for s in found["slices"]]
    assert values == sorted({d.segment for d in history.deals.values()})
    assert sum(s["deals_won"] for s in found["slices"]) == found["deals_won"]
    assert cli("metrics", "--process", "metered", "--by", "owner") == 0
    for owner in ("ada", "ben", "cyd", "cat"):
        assert f"owner: {owner}" in cli.out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--by", "region"), 2, "--by: cannot slice by 'region'"),
        (("--period", "2026-Q5"), 2, "quarters 1 to 4"),
        (("--period", "last year"), 2, "is not a period"),
        (("--target", "-10"), 2, "--target: the target must be an amount above 0"),
        (("--target", "lots"), 2, "--target: not an amount"),
        (("--process", "nope"), 4, "no process 'nope'"),
    ],
)
def test_cli_bad_input_exits_with_a_clear_message(
    workspace: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    assert workspace("metrics", *args) == code
    assert message in workspace.err


def test_cli_on_an_empty_workspace(workspace: Cli) -> None:
    found = workspace.json("metrics")
    assert isinstance(found, dict)
    assert found["win_rate"] is None
    assert found["cycle_days_median"] is None
    assert found["avg_won_amount"] is None
    assert (found["deals_open"], found["deals_won"], found["deals_lost"]) == (0, 0, 0)
    assert [s["entered"] for s in found["stage_conversion"]] == [0] * 6
    assert found["handoffs"]["acceptance_rate"] is None
    assert workspace("metrics", "--by", "owner", "--period", "2026-Q1", "--target", "1000") == 0
    assert "Funnel" in workspace.out
