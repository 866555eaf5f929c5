"""Turning deal histories from other systems into dealflow events, in one transaction.

Imported history is a record of what happened elsewhere: its moves are not gated (they carry
``imported: true``, and audits compare them with the process like any other move). Each deal's
id is the source's id with a prefix, so importing the same file again changes nothing, and a
later export of the same deals appends only what happened since.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from statistics import fmean
from typing import Any

from sqlalchemy import Connection, select

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Refusal
from dealflow.domain.events import Event
from dealflow.domain.fields import parse_field
from dealflow.domain.moves import classify, move_kind
from dealflow.errors import InvalidInput
from dealflow.imports.history import DealHistory, ImportReport, StageEntry, outcome_of, person_id, slug
from dealflow.process.loading import parse_process
from dealflow.process.models import Process
from dealflow.store import bulk, queries
from dealflow.store import tables as t
from dealflow.store.appender import NewDealAppender
from dealflow.store.event_log import record_deal_events, record_events, record_first_events
from dealflow.store.new_deals import NewDeal, Step
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork

IMPORTER = "import"
BATCH = 2_000  # deals per multi-row insert
_REF = re.compile(r"[^A-Za-z0-9._-]+")
FUTURE = timedelta(days=1)  # dates later than this past the import's clock are refused
_UNPARSED = object()
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Target:
    """Where histories go: the process, and how the source's stage names map onto its stages."""

    process: Process
    stages: dict[str, str]  # source stage name -> stage key
    # True for a process someone wrote and installed: its moves are rules the history is judged
    # by. A process an import generated only describes the history (no move of it is forbidden).
    checked: bool = True
    # Who imports: every deal event is theirs (the source's owner stays the deal's owner, and its
    # user's name is kept in the creation's ``imported`` record).
    importer: str = IMPORTER

    def forbids(self, from_stage: str, to_stage: str) -> bool:
        """Whether the process does not allow the move (a skip not listed, a move back when never)."""
        return self.checked and isinstance(classify(self.process, from_stage, to_stage), Refusal)

    @cached_property
    def positions(self) -> dict[str, int]:
        """The place of each stage key in the process order."""
        return {stage.key: i for i, stage in enumerate(self.process.stages)}

    @cached_property
    def parsed(self) -> dict[tuple[str, type, str], Any]:
        """Field values already parsed for this process, by field name and raw value written out
        (what parse_field reads of it; the same amounts and sources come back deal after deal)."""
        return {}


def deal_id(prefix: str, ref: str) -> str:
    """The dealflow id of a source deal: ``HS-12345``."""
    return f"{prefix}-{_REF.sub('_', ref.strip())}"[:64]


def stage_order(histories: Sequence[DealHistory]) -> list[str]:
    """The working stages named in the histories, in the order deals usually go through them."""
    positions: dict[str, list[float]] = defaultdict(list)
    for history in histories:
        names = [e.stage for e in history.entries if outcome_of(e.stage) is None]
        for i, name in enumerate(dict.fromkeys(names)):
            positions[name].append(i / max(len(names) - 1, 1) if len(names) > 1 else 0.0)
    return sorted(positions, key=lambda name: (fmean(positions[name]), -len(positions[name]), name))


def _yaml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def generated_process(
    key: str, name: str, stages: Sequence[str], won_from: Sequence[str], fields: Sequence[str]
) -> str:
    """A process file describing an imported pipeline: its stages in order, no gates."""
    if len(stages) < 2:  # a process has two stages at least: one more, from which deals may be won too
        extra = "Closing" if "Closing" not in stages else "Open"
        stages, won_from = [*stages, extra], [*won_from, extra]
    lines = [
        f"key: {key}",
        f"name: {_yaml(name)}",
        "version: 1",
        "description: Stages as found in imported history. Add exit criteria to make them gates.",
        "roles: [rep, manager, revops, admin]",
        "overrides:",
        "  roles: [manager, revops, admin]",
        "fields:",
    ]
    lines += [f"  {f}:\n    type: text\n    label: {_yaml(f.replace('_', ' ').title())}" for f in fields]
    lines.append("stages:")
    for stage in stages:
        lines += [f"  - key: {slug(stage)}", f"    name: {_yaml(stage[:100])}", "    owner_role: rep"]
    keys = [slug(s) for s in stages]
    won = [slug(s) for s in won_from if slug(s) in keys] or [keys[-1]]
    lines += ["moves:", "  backward: with_reason", "outcomes:", "  won:", f"    from: [{', '.join(won)}]"]
    return "\n".join(lines) + "\n"


def resolve_target(
    uow: UnitOfWork,
    histories: Sequence[DealHistory],
    *,
    key: str,
    name: str,
    fields: Sequence[str],
    report: ImportReport,
    order: Sequence[str] | None = None,
    won_from: Iterable[str] | None = None,
    importer: str = IMPORTER,
) -> Target:
    """The installed process ``key`` (its stages matched by key or name), or a new one generated
    from the stages the histories name (``order`` and ``won_from``, the stages won deals were last in,
    when given, instead of what the histories say)."""
    connection = uow.connection
    order = list(order) if order else stage_order(histories)
    if not order:
        raise InvalidInput(
            "the file holds no stage entries (no rows, or only outcome rows such as Won or Lost): nothing to import",
            field="file",
        )
    if queries.process_source(connection, key=key) is not None:
        process = load_process(connection, key=key)
        by_name = {slug(s.key): s.key for s in process.stages} | {slug(s.name): s.key for s in process.stages}
        stages = {name: by_name[slug(name)] for name in order if slug(name) in by_name}
        unknown = [name for name in order if name not in stages]
        if unknown and not stages:
            names = ", ".join(s.name for s in process.stages)
            raise InvalidInput(
                f"none of the stages in the file ({', '.join(unknown[:6])}) is a stage of {key} ({names}); "
                "import into a new process with --process NEW_KEY or map them with --mapping",
                field="--process",
            )
        for name in unknown:
            report.add("unknown_stage", f"stage {name!r} is not a stage of {key}: deals that reach it are skipped")
        report.process = f"{process.key}@{process.version}"
        return Target(process, stages, checked=_installed_by_a_person(connection, process), importer=importer)
    if won_from is None:
        won_from = {e.stage for h in histories if h.outcome == "won" and h.entries for e in h.entries[-1:]}
    source = generated_process(key, name, order, sorted(won_from), fields)
    process, _ = parse_process(source, name=f"{key}.yaml")
    data = {"key": process.key, "version": process.version, "name": process.name, "source": source}
    record_events(uow, [Event(ev.PROCESS_INSTALLED, f"process:{process.key}", uow.clock(), IMPORTER, data)])
    report.process = f"{process.key}@{process.version} (new)"
    return Target(process, {name: slug(name) for name in order}, checked=False, importer=importer)


def _installed_by_a_person(connection: Connection, process: Process) -> bool:
    """Whether ``process`` was written by someone (its moves are rules), not generated by an import."""
    p = t.processes
    query = select(p.c.installed_by).where(p.c.key == process.key, p.c.version == process.version)
    return connection.execute(query).scalar() != IMPORTER


def ensure_people(
    uow: UnitOfWork, histories: Sequence[DealHistory], *, role: str, managers: dict[str, str], report: ImportReport
) -> dict[str, str]:
    """User ids for every owner named in the histories, adding the people not yet in the workspace."""
    connection = uow.connection
    known = {row.id for row in queries.list_users(connection)}
    people: dict[str, str] = {}
    teams: dict[str, str | None] = {}
    for history in histories:
        if history.owner:
            people[history.owner] = person_id(history.owner)
            teams.setdefault(history.owner, history.team)
    for manager, team in managers.items():
        people.setdefault(manager, person_id(manager))
        teams.setdefault(manager, team)
    found = []
    for name, user_id in sorted(people.items()):
        if user_id in known:
            continue
        known.add(user_id)
        roles = ["manager"] if name in managers else [role]
        data = {"name": name[:200], "roles": roles, "team": (teams.get(name) or None), "email": None}
        found.append(Event(ev.USER_ADDED, f"user:{user_id}", uow.clock(), IMPORTER, data))
    record_first_events(uow, found)
    report.users_added += len(found)
    return people


def ensure_accounts(uow: UnitOfWork, names: set[str], *, report: ImportReport) -> dict[str, str]:
    """Account ids for account names, adding the accounts not yet in the workspace."""
    connection = uow.connection
    existing = {row.name: row.id for row in connection.execute(select(t.accounts.c.id, t.accounts.c.name))}
    ids = set(existing.values())
    found: dict[str, str] = {}
    created: list[Event] = []
    for name in sorted(names):
        if name in existing:
            found[name] = existing[name]
            continue
        account_id = f"acc-{person_id(name)}"[:64]
        while account_id in ids:
            account_id = f"{account_id[:60]}-{len(ids) % 1000}"
        ids.add(account_id)
        data = {"name": name[:200], "domain": None}
        created.append(Event(ev.ACCOUNT_CREATED, f"account:{account_id}", uow.clock(), IMPORTER, data))
        found[name] = account_id
    record_first_events(uow, created)
    report.accounts_added += len(created)
    return found


def _field(target: Target, name: str, raw: object, history: DealHistory, report: ImportReport) -> Any:
    key = (name, type(raw), str(raw))
    if (value := target.parsed.get(key, _UNPARSED)) is not _UNPARSED:
        return value
    try:
        value = target.parsed[key] = parse_field(target.process, name, raw)
    except InvalidInput as exc:
        report.add("bad_value", f"{name}: {exc.message}; left out", row=history.row, ref=history.ref)
        return None
    return value


def history_events(
    history: DealHistory,
    *,
    target: Target,
    stream: str,
    owner: str,
    account_id: str | None,
    fmt: str,
    now: datetime,
    report: ImportReport,
) -> list[Event] | None:
    """The events that tell ``history`` in dealflow's terms, or None (reported) when it cannot be told."""
    steps = history_steps(history, target=target, owner=owner, account_id=account_id, fmt=fmt, now=now, report=report)
    return None if steps is None else [Event(kind, stream, at, target.importer, data) for kind, at, data in steps]


def history_steps(
    history: DealHistory,
    *,
    target: Target,
    owner: str,
    account_id: str | None,
    fmt: str,
    now: datetime,
    report: ImportReport,
) -> list[Step] | None:
    """What :func:`history_events` tells, as each event's type, time and data (all by the importer;
    ``owner`` owns the deal)."""
    process = target.process
    entries = sorted(history.entries, key=_entered_at)
    steps = [(target.stages.get(e.stage), e) for e in entries if outcome_of(e.stage) is None]
    missing = [e.stage for key, e in steps if key is None]
    if missing:
        report.add(
            "unknown_stage",
            f"stage {missing[0]!r} is not in {process.key}; deal skipped",
            row=history.row,
            ref=history.ref,
        )
        return None
    if not steps:
        report.add("no_stage", "no working stage with a date; deal skipped", row=history.row, ref=history.ref)
        return None
    horizon = now + FUTURE
    if entries[-1].at > horizon or (history.closed_at and history.closed_at > horizon):
        report.add("future_date", "dated in the future; deal skipped", row=history.row, ref=history.ref)
        return None
    if history.closed_at is not None and history.closed_at < steps[-1][1].at:
        report.add(
            "impossible_dates",
            f"closed on {history.closed_at.date()} before it entered {steps[-1][1].stage!r} on "
            f"{steps[-1][1].at.date()}; deal skipped",
            row=history.row,
            ref=history.ref,
        )
        return None
    provenance = {"format": fmt, "ref": history.ref, "user": history.owner or None}
    fields: dict[str, Any] = {"title": _field(target, "title", history.title or history.ref, history, report)}
    if history.amount is not None:
        fields["amount"] = _field(target, "amount", history.amount, history, report)
    for name, raw in history.fields.items():
        if raw and process.field_type(name) is not None:
            fields[name] = _field(target, name, raw, history, report)
    first_key, first = steps[0]
    assert first_key is not None
    created = {
        "title": fields["title"],
        "process": process.key,
        "process_version": process.version,
        "account_id": account_id,
        "owner": owner,
        "stage": first_key,
        "fields": {k: v for k, v in fields.items() if v is not None},
        "imported": provenance,
    }
    found: list[Step] = [(ev.DEAL_CREATED, first.at, created)]
    here, amount, forbidden = first_key, fields.get("amount"), False
    for key, entry in steps[1:]:
        assert key is not None
        if entry.amount is not None and (value := _field(target, "amount", entry.amount, history, report)) != amount:
            amount = value
            found.append((ev.FIELDS_UPDATED, entry.at, {"fields": {"amount": value}}))
        if key == here:
            continue
        kind = move_kind(process, here, key)
        data = {"from": here, "to": key, "kind": kind, "reason": None, "override": False, "imported": True}
        if forbidden := target.forbids(here, key):
            data["forbidden"] = True
        found.append((ev.DEAL_MOVED, entry.at, data))
        here = key
    if history.outcome is not None and history.closed_at is not None:
        closing: dict[str, Any] = {}
        if history.close_date is not None:
            closing["close_date"] = history.close_date.isoformat()
        if history.closing_amount is not None:
            value = _field(target, "amount", history.closing_amount, history, report)
            if value is not None and value != amount:
                closing["amount"] = value
        if closing:
            found.append((ev.FIELDS_UPDATED, history.closed_at, {"fields": closing}))
        closed = {"won": ev.DEAL_WON, "lost": ev.DEAL_LOST, "disqualified": ev.DEAL_DISQUALIFIED}[history.outcome]
        data = {"reason": history.reason or "unknown", "stage": here, "imported": True}
        found.append((closed, history.closed_at, data))
    elif history.close_date is not None:
        found.append((ev.FIELDS_UPDATED, steps[-1][1].at, {"fields": {"close_date": history.close_date.isoformat()}}))
    if history.outcome is None and forbidden:
        name = process.stage(here).name  # type: ignore[union-attr]
        report.add(
            "forbidden_move",
            f"left open in {name}, which it reached by a move {process.key} does not allow; flagged in inspection",
            row=history.row,
            ref=history.ref,
        )
    return found


def _entered_at(entry: StageEntry) -> datetime:
    return entry.at


def _same(a: Event, b: Event) -> bool:
    """The same history, whoever imported it."""
    return (a.type, a.at, a.data) == (b.type, b.at, b.data)


def _existing(connection: Connection, streams: list[str]) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = defaultdict(list)
    e = t.events
    for start in range(0, len(streams), 500):
        chunk = streams[start : start + 500]
        query = select(e.c.stream, e.c.type, e.c.at, e.c.actor, e.c.data).where(e.c.stream.in_(chunk))
        for row in connection.execute(query.order_by(e.c.stream, e.c.version)):
            found[row.stream].append(Event(row.type, row.stream, row.at, row.actor, row.data))
    return found


def known_deals(connection: Connection, prefix: str) -> set[str]:
    """The ids of the deals already in the workspace that an import with ``prefix`` may have made."""
    head = deal_id(prefix, "")
    query = select(t.deals.c.id).where(t.deals.c.id.startswith(head, autoescape=True))
    return set(connection.execute(query).scalars())


def record_histories(
    uow: UnitOfWork,
    histories: Sequence[DealHistory],
    *,
    target: Target,
    prefix: str,
    people: dict[str, str],
    accounts: dict[str, str],
    report: ImportReport,
    progress: Progress | None = None,
) -> None:
    """Append the events of every history not yet (or not fully) in the workspace.

    Deals the workspace does not have yet go in through a :class:`NewDealAppender`, in bulk; the
    others are compared with what an earlier import recorded and extended one by one."""
    sorter = _Sorter(uow, target=target, prefix=prefix, people=people, accounts=accounts, report=report)
    with bulk.large_writes(uow.connection), NewDealAppender(uow) as appender:
        for start in range(0, len(histories), BATCH):
            batch = histories[start : start + BATCH]
            fresh, known = sorter.sort(batch)
            if known:
                appender.wait()
                _extend(uow, known, report)
            report.events_written += appender.append(fresh)
            if progress is not None:
                progress(len(batch))


class _Sorter:
    """Tells each history as events and sorts it: a new deal, a deal the workspace has, or skipped."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        target: Target,
        prefix: str,
        people: dict[str, str],
        accounts: dict[str, str],
        report: ImportReport,
    ) -> None:
        self.target, self.prefix, self.people, self.accounts, self.report = target, prefix, people, accounts, report
        self.now = uow.clock()
        self.known = known_deals(uow.connection, prefix)
        self.seen: set[str] = set()

    def sort(self, batch: Sequence[DealHistory]) -> tuple[list[NewDeal], list[tuple[DealHistory, str, list[Event]]]]:
        """The new deals among ``batch``, and the known ones with their events."""
        fresh: list[NewDeal] = []
        known: list[tuple[DealHistory, str, list[Event]]] = []
        report = self.report
        for history in batch:
            did = deal_id(self.prefix, history.ref)
            if did in self.seen:
                report.add(
                    "duplicate",
                    f"deal {history.ref!r} appears twice; the first one was kept",
                    row=history.row,
                    ref=history.ref,
                )
                report.deals_skipped += 1
                continue
            self.seen.add(did)
            owner = self.people.get(history.owner or "", IMPORTER)
            steps = history_steps(
                history,
                target=self.target,
                owner=owner,
                account_id=self.accounts.get(history.account or ""),
                fmt=report.format,
                now=self.now,
                report=report,
            )
            if steps is None:
                report.deals_skipped += 1
                continue
            deal = NewDeal(ev.deal_stream(did), self.target.importer, steps)
            if did in self.known:
                known.append((history, did, deal.events()))
            else:
                fresh.append(deal)
                report.deals_new += 1
        return fresh, known


def _extend(uow: UnitOfWork, planned: list[tuple[DealHistory, str, list[Event]]], report: ImportReport) -> None:
    """Append to deals an earlier import recorded what happened to them since (if anything)."""
    connection = uow.connection
    existing = _existing(connection, [ev.deal_stream(did) for _, did, _ in planned])
    for history, did, found in planned:
        before = existing.get(ev.deal_stream(did), [])
        common = len(before) if len(before) <= len(found) else len(found)
        if not all(_same(a, b) for a, b in zip(before[:common], found[:common], strict=True)):
            report.add(
                "changed_history",
                "its history differs from what an earlier import recorded; kept the recorded one",
                row=history.row,
                ref=history.ref,
            )
            report.deals_skipped += 1
            continue
        if len(found) <= len(before):
            report.deals_unchanged += 1
            continue
        deal: Deal | None = queries.get_deal(connection, deal_id=did)
        record_deal_events(uow, deal=deal, found=found[len(before) :])
        report.events_written += len(found) - len(before)
        report.deals_extended += 1
