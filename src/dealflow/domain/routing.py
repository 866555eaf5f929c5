"""Routing a lead to its owner: which rule matches, who is in its pool, who can take it, who does.

Pure functions over the process's routing rules, the lead's fields and the reps (with their
open leads and whether they are away). A round robin or weighted choice needs the pool's turn
number, which the store hands out one by one (see :mod:`dealflow.services.routing`): :func:`plan`
says which pool and candidates, :func:`choose` picks with the turn. Whatever happens, a lead gets
an owner, and the assignment says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dealflow.process.lead_intake import Fallback, Range, Routing, RoutingRule, Strategy

ADMIN_ROLES = ("revops", "admin")


@dataclass(frozen=True)
class Rep:
    """Someone who could own a lead: their roles, team, open leads and whether they are away now."""

    id: str
    roles: tuple[str, ...]
    team: str | None = None
    open_leads: int = 0
    away: bool = False


@dataclass(frozen=True)
class Assignment:
    """Who owns the lead, under which rule, and why."""

    owner: str
    rule: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """A choice still to make among ``candidates`` (in a fixed order) with the pool's next turn."""

    pool: str
    rule: str
    strategy: Strategy
    candidates: tuple[str, ...]
    weights: Mapping[str, int] = field(default_factory=dict)
    note: str = ""


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def _number(value: Any) -> float | None:
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


def condition_holds(expected: Any, actual: Any) -> bool:
    """True when a lead's value ``actual`` meets a rule's condition (a value, list of values or range)."""
    if actual is None or actual == "":
        return False
    if isinstance(expected, Range):
        number = _number(actual)
        if number is None:
            return False
        return (expected.min is None or number >= expected.min) and (expected.max is None or number < expected.max)
    options = expected if isinstance(expected, list | tuple) else [expected]
    return _as_text(actual) in {_as_text(o) for o in options}


def matching_rule(routing: Routing, fields: Mapping[str, Any]) -> RoutingRule | None:
    """The first rule whose every condition holds for the lead's fields (None: no rule matches)."""
    return next(
        (r for r in routing.rules if all(condition_holds(want, fields.get(name)) for name, want in r.when.items())),
        None,
    )


def describe(rule: RoutingRule, fields: Mapping[str, Any]) -> str:
    """How a rule matched, in words: ``rule 'east' (region=East)``."""
    shown = ", ".join(f"{name}={str(fields.get(name))[:40]}" for name in rule.when)
    return f"rule '{rule.name}'" + (f" ({shown})" if shown else "")


def members(rule: RoutingRule | None, routing: Routing, reps: Sequence[Rep]) -> list[Rep]:
    """Who is in a rule's pool (everyone holding the routing role when no rule applies), sorted by id."""
    by_id = {r.id: r for r in reps}
    if rule is None:
        found = [r for r in reps if routing.role in r.roles]
    elif rule.users or rule.weights:
        names = list(rule.users) or list(rule.weights)
        found = [by_id[name] for name in names if name in by_id]
    else:
        found = [r for r in reps if r.team == rule.team and routing.role in r.roles]
    return sorted(found, key=lambda r: r.id)


def available(pool: Sequence[Rep], *, max_open: int | None, exclude: Iterable[str] = ()) -> tuple[list[Rep], list[str]]:
    """The members who can take a lead now, and why each other one cannot."""
    excluded = set(exclude)
    able: list[Rep] = []
    skipped: list[str] = []
    for rep in pool:
        if rep.id in excluded:
            skipped.append(f"{rep.id} already had it")
        elif rep.away:
            skipped.append(f"{rep.id} is away")
        elif max_open is not None and rep.open_leads >= max_open:
            skipped.append(f"{rep.id} is at capacity ({rep.open_leads} open leads)")
        else:
            able.append(rep)
    return able, skipped


def weighted_sequence(weights: Mapping[str, int]) -> list[str]:
    """One cycle of a smooth weighted round robin: each id appears ``weight`` times, spread out
    (weights 2 and 1 give a, b, a rather than a, a, b)."""
    ids = sorted(weights)
    total = sum(weights[i] for i in ids)
    current = dict.fromkeys(ids, 0)
    sequence: list[str] = []
    for _ in range(total):
        for i in ids:
            current[i] += weights[i]
        best = max(ids, key=lambda i: (current[i], -ids.index(i)))
        current[best] -= total
        sequence.append(best)
    return sequence


def choose(plan: Plan, turn: int) -> Assignment:
    """The owner a plan gives on the pool's ``turn`` (0, 1, 2... in the order turns were taken)."""
    if plan.strategy == "weighted":
        sequence = weighted_sequence({c: plan.weights.get(c, 1) for c in plan.candidates})
        owner = sequence[turn % len(sequence)]
        how = "weighted " + ", ".join(f"{c}:{plan.weights.get(c, 1)}" for c in plan.candidates)
    else:
        owner = plan.candidates[turn % len(plan.candidates)]
        how = "round robin among " + ", ".join(plan.candidates)
    return Assignment(owner=owner, rule=plan.rule, reason=f"{plan.note}: {how}" if plan.note else how)


def _fallback(
    fallback: Fallback | None, *, team: str | None, reps: Sequence[Rep], exclude: set[str]
) -> tuple[str, str] | None:
    """The declared fallback's owner and how it was found, or None when it names nobody there is."""
    if fallback is None:
        return None
    if fallback.user is not None:
        known = any(r.id == fallback.user for r in reps)
        return (fallback.user, f"fallback user {fallback.user}") if known else None
    holders = [r for r in reps if fallback.role in r.roles]
    tiers = (
        [r for r in holders if r.team == team and not r.away and r.id not in exclude],
        [r for r in holders if not r.away and r.id not in exclude],
        holders,
    )
    for tier in tiers:
        if tier:
            chosen = min(tier, key=lambda r: (r.open_leads, r.id))
            where = f" of team {team}" if team and chosen.team == team else ""
            return chosen.id, f"fallback to the {fallback.role}{where}, {chosen.id}"
    return None


def last_resort(reps: Sequence[Rep]) -> Rep | None:
    """Who gets a lead when nothing declared can place it: an admin present, else anyone."""
    present = [r for r in reps if not r.away] or list(reps)
    admins = [r for r in present if any(role in r.roles for role in ADMIN_ROLES)]
    return min(admins or present, key=lambda r: (r.open_leads, r.id)) if present else None


def plan(
    routing: Routing,
    fields: Mapping[str, Any],
    reps: Sequence[Rep],
    *,
    pool_prefix: str,
    exclude: Iterable[str] = (),
) -> Plan | Assignment | None:
    """Where the lead goes: a :class:`Plan` to finish with a turn, a final :class:`Assignment`
    (least loaded, or a fallback that says why), or None when the workspace has nobody at all."""
    excluded = set(exclude)
    rule = matching_rule(routing, fields)
    if rule is None and routing.rules:
        seen = ", ".join(f"{n}={str(fields.get(n))[:40]}" for n in sorted({k for r in routing.rules for k in r.when}))
        return _fall(routing, None, f"no routing rule matched ({seen or 'no fields'})", reps, excluded)
    label = describe(rule, fields) if rule else f"every {routing.role}"
    strategy: Strategy = (rule.strategy if rule else None) or (
        "weighted" if rule is not None and rule.weights else routing.strategy
    )
    max_open = (rule.max_open if rule else None) or routing.max_open
    pool = members(rule, routing, reps)
    able, skipped = available(pool, max_open=max_open, exclude=excluded)
    if not able:
        why = "; ".join(skipped) if skipped else f"nobody holds the {routing.role} role there"
        return _fall(routing, rule, f"{label} matched nobody who can take it ({why})", reps, excluded)
    note = label + (f" (skipped: {'; '.join(skipped)})" if skipped else "")
    name = rule.name if rule else "default"
    if strategy == "least_loaded":
        chosen = min(able, key=lambda r: (r.open_leads, r.id))
        return Assignment(owner=chosen.id, rule=name, reason=f"{note}: least loaded ({chosen.open_leads} open leads)")
    weights = dict(rule.weights) if rule else {}
    return Plan(
        pool=f"{pool_prefix}:{name}",
        rule=name,
        strategy=strategy,
        candidates=tuple(r.id for r in able),
        weights=weights,
        note=note,
    )


def _fall(
    routing: Routing, rule: RoutingRule | None, why: str, reps: Sequence[Rep], exclude: set[str]
) -> Assignment | None:
    team = rule.team if rule else None
    for fallback in (rule.fallback if rule else None, routing.fallback):
        found = _fallback(fallback, team=team, reps=reps, exclude=exclude)
        if found is not None:
            return Assignment(owner=found[0], rule="fallback", reason=f"{why}; {found[1]}")
    rep = last_resort([r for r in reps if r.id not in exclude] or reps)
    if rep is None:
        return None
    return Assignment(owner=rep.id, rule="fallback", reason=f"{why}; no fallback could take it, so {rep.id}")
