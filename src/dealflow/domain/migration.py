"""Moving a running deal to a newer version of its process: its stage mapped, its gate re-judged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Refusal, event
from dealflow.domain.events import Event
from dealflow.domain.gates import evaluate_criteria, exit_gate
from dealflow.process.models import Process


@dataclass(frozen=True)
class Migration:
    """What migrating one deal does: the event, and what the new version's rules say of it there."""

    event: Event
    deal: Deal  # as it is after the migration
    entry_unmet: tuple[str, ...]  # the entry criteria of its (new) stage it lacks
    exit_unmet: tuple[str, ...]  # what the gate out of that stage now asks and it lacks
    next_stage: str | None


def stage_mapping(old: Process, new: Process, given: dict[str, str]) -> dict[str, str] | Refusal:
    """Each sales stage of ``old`` mapped onto ``new``: as ``given``, else to the stage of the same
    key; a refusal naming every stage that has nowhere to go, or a mapping to a stage ``new`` lacks."""
    known = {s.key for s in new.sales_stages}
    wrong = [f"{k} -> {v}" for k, v in given.items() if v not in known]
    if wrong:
        stages = ", ".join(sorted(known))
        return Refusal(
            "the stage mapping names stages that do not exist",
            (*wrong, f"Sales stages of version {new.version}: {stages}"),
        )
    mapping = {s.key: given.get(s.key, s.key) for s in old.sales_stages}
    lost = [k for k, v in mapping.items() if v not in known]
    if lost:
        return Refusal(
            f"version {new.version} of {new.key} has no stage for: {', '.join(lost)}",
            tuple(f"Map {k} to a stage of version {new.version} (--map {k}=STAGE)" for k in lost),
        )
    return mapping


def migrate_deal(deal: Deal, new: Process, to_stage: str, *, actor: Actor, now: datetime) -> Migration | Refusal:
    """The DealMigrated event of ``deal`` onto ``new`` in ``to_stage``, with the gate re-judged."""
    if deal.status != "open":
        return Refusal(f"the deal is {deal.status}: only running deals are migrated")
    if deal.handoff is not None:
        return Refusal(f"handoff {deal.handoff.id} awaits acceptance: settle it, then migrate the deal")
    data = {
        "from_version": deal.process_version,
        "to_version": new.version,
        "from_stage": deal.stage,
        "to_stage": to_stage,
    }
    found = event(ev.DEAL_MIGRATED, ev.deal_stream(deal.id), actor, now, **data)
    after = evolve(deal, found)
    stage = new.stage(to_stage)
    assert stage is not None
    entry = tuple(str(u) for u in evaluate_criteria(stage.entry, after, new, now).unmet)
    order = [s.key for s in new.sales_stages]
    position = order.index(to_stage)
    ahead = order[position + 1] if position + 1 < len(order) else None
    gate = () if ahead is None else tuple(str(u) for u in exit_gate(after, new, ahead, now).unmet)
    return Migration(event=found, deal=after, entry_unmet=entry, exit_unmet=gate, next_stage=ahead)
