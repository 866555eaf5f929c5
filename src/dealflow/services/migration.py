"""Moving the running deals of a process onto a newer installed version (revops or admin)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from dealflow.domain.decisions import Refusal
from dealflow.domain.migration import Migration, migrate_deal, stage_mapping
from dealflow.errors import InvalidInput
from dealflow.services import access
from dealflow.services.lookups import load_actor, refuse
from dealflow.services.recording import record_deal_events
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class MigratedDeal:
    """One running deal and what the migration does (or would do) to it."""

    deal_id: str
    from_version: int
    from_stage: str
    to_stage: str
    entry_unmet: tuple[str, ...] = ()
    exit_unmet: tuple[str, ...] = ()
    next_stage: str | None = None
    skipped: str | None = None  # why the deal stays where it is


@dataclass(frozen=True)
class MigrationReport:
    """What ``migrate`` did (or, on a dry run, would do): every running deal on an older version."""

    process: str
    to_version: int
    dry_run: bool
    deals: list[MigratedDeal] = field(default_factory=list)

    @property
    def migrated(self) -> int:
        """How many deals moved (or would move) onto the new version."""
        return sum(1 for d in self.deals if d.skipped is None)

    @property
    def gate_unmet(self) -> int:
        """How many of them the new version's gate out of their stage does not pass yet."""
        return sum(1 for d in self.deals if d.skipped is None and d.exit_unmet)


def migrate(
    *,
    uow: UnitOfWork,
    actor_id: str,
    key: str,
    to_version: int,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
) -> MigrationReport:
    """Move every running deal of ``key`` on an older version onto ``to_version``: each stage onto the
    stage of the same key or as ``mapping`` says; the gate of its stage re-judged and reported. A
    stage with nowhere to go refuses the whole migration; a deal awaiting a handoff is left and
    reported. A dry run writes nothing."""
    connection = uow.connection
    actor = load_actor(connection, user_id=actor_id)
    access.administer(actor, "migrate deals to a new process version")
    new = load_process(connection, key=key, version=to_version)
    d = t.deals
    running = select(d.c.id, d.c.process_version).where(
        d.c.process == key, d.c.status == "open", d.c.process_version < to_version
    )
    rows = connection.execute(running.order_by(d.c.number, d.c.id)).all()
    mappings: dict[int, dict[str, str]] = {}
    olds = [load_process(connection, key=key, version=v) for v in sorted({row.process_version for row in rows})]
    named = {s.key for old in olds for s in old.stages}
    if unknown := sorted(set(mapping or {}) - named):
        raise InvalidInput(f"no running deal is in a stage called {', '.join(unknown)}", field="--map")
    for old in olds:
        found = stage_mapping(old, new, mapping or {})
        if isinstance(found, Refusal):
            refuse(found)
        mappings[old.version] = found
    report = MigrationReport(process=key, to_version=to_version, dry_run=dry_run)
    now = uow.clock()
    for row in rows:
        deal = queries.get_deal(connection, deal_id=row.id)
        assert deal is not None
        to_stage = mappings[deal.process_version][deal.stage]
        done = migrate_deal(deal, new, to_stage, actor=actor, now=now)
        report.deals.append(_line(deal.id, deal.process_version, deal.stage, to_stage, done))
        if isinstance(done, Migration) and not dry_run:
            record_deal_events(uow, deal=deal, found=[done.event])
    if not dry_run:
        uow.commit()
    return report


def _line(deal_id: str, version: int, stage: str, to_stage: str, done: Migration | Refusal) -> MigratedDeal:
    if isinstance(done, Refusal):
        return MigratedDeal(deal_id, version, stage, stage, skipped=done.message)
    return MigratedDeal(
        deal_id,
        version,
        stage,
        to_stage,
        entry_unmet=done.entry_unmet,
        exit_unmet=done.exit_unmet,
        next_stage=done.next_stage,
    )


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``old=new`` pairs, as the command line gives them, as a stage mapping."""
    found = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidInput(f"write a stage mapping as OLD=NEW, got {pair!r}", field="--map")
        found[old.strip()] = new.strip()
    return found
