"""The process audit: the flow deals really took through a process, its main variants, and how far
the deals kept to the process as it is defined.

The audited deals are those of one process created in the period (all of them without one),
followed to today, so that every deal's whole path counts once and the graph, the variants and
the conformance figures add up. Everything comes from one read of ``stage_visits`` (one row per
finished stay) as columns and, for open deals, the stage they are in now, grouped with numpy
(:mod:`dealflow.analytics.audit_stays`): the *transitions* (stays by where they went, with median
durations) and the *journeys* (deals by path).

The path of a deal determines its moves, so skips, moves the process does not allow, start stages
and the per-stage win rates are worked out in Python from the grouped paths
(:mod:`dealflow.analytics.audit_paths`); the findings in :mod:`dealflow.analytics.audit_findings`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from dealflow.analytics.audit_findings import Finding, find
from dealflow.analytics.audit_paths import OUTCOMES, Conformance, Journey, Moves, StageSkips, judge_path
from dealflow.analytics.audit_stays import Transitions, read_stays
from dealflow.analytics.periods import Period
from dealflow.analytics.scope import Scope
from dealflow.errors import InvalidInput
from dealflow.process.models import Process
from dealflow.store import queries
from dealflow.store.processes import load_process

DAY = 86_400.0
START = "start"
BASIS = "deals of the process created in the period (all time without one), each followed to today"

EdgeKind = Literal["start", "forward", "skip", "backward", "outcome", "other"]
NodeKind = Literal["start", "stage", "outcome"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Node(_Frozen):
    """A place in the graph: the start, a stage, or an outcome; how many deals got there."""

    key: str
    name: str
    kind: NodeKind
    entered: int = 0
    open_now: int = 0
    in_process: bool = True


class Edge(_Frozen):
    """Deals going from one place to the next: how many, how long they had stayed, whether allowed."""

    source: str
    target: str
    kind: EdgeKind
    count: int
    share: float
    median_days: float | None = None
    overridden: int = 0
    returned: int = 0
    not_allowed: int = 0


class Variant(_Frozen):
    """One path deals took: the stages in order and how it ended (``open`` while it has not)."""

    stages: tuple[str, ...]
    outcome: str
    deals: int
    share: float
    median_cycle_days: float | None = None
    conforming: int = 0


class RepMoves(_Frozen):
    """How the deals of one owner moved: skips, backward moves and overrides among their moves."""

    owner: str
    moves: int = 0
    skips: int = 0
    backward: int = 0
    overridden: int = 0
    off_process_share: float | None = None


class ProcessAudit(_Frozen):
    """The audit of one process."""

    process: str
    process_version: int
    name: str
    deals: int = 0
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    variant_count: int = 0
    variants: tuple[Variant, ...] = ()
    conformance: Conformance = Conformance()
    won_rate_overridden: float | None = None
    won_rate_not_overridden: float | None = None
    skips: tuple[StageSkips, ...] = ()
    reps: tuple[RepMoves, ...] = ()
    findings: tuple[Finding, ...] = ()


class PeriodSpan(_Frozen):
    """The period deals were created in, half-open [start, end) in UTC."""

    label: str
    start: datetime
    end: datetime


class Audit(_Frozen):
    """An audit run: what it covered and one block per process."""

    as_of: datetime
    period: PeriodSpan | None = None
    filters: dict[str, str] = Field(default_factory=dict)
    basis: str = BASIS
    processes: tuple[ProcessAudit, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The run as JSON-ready data."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


def pick_processes(connection: Connection, key: str | None) -> list[Process]:
    """The process named, or every installed one; NotFound / InvalidInput otherwise."""
    if key is not None:
        return [load_process(connection, key=key)]
    installed = [r.key for r in queries.list_processes(connection)]
    if not installed:
        raise InvalidInput("no process is installed in this workspace (run `dealflow init`)", field="process")
    return [load_process(connection, key=k) for k in installed]


def compute_audit(
    connection: Connection,
    *,
    process: str | None,
    period: Period | None,
    filters: Mapping[str, str | None],
    now: datetime,
    top: int = 10,
) -> Audit:
    """Audit ``process`` (every installed one when None) over the deals created in ``period`` (all
    time when None) that match ``filters``, as of ``now``; keep the ``top`` most common variants."""
    if top < 1:
        raise InvalidInput(f"must be at least 1, got {top}", field="top")
    given = {name: value for name, value in filters.items() if value is not None}
    audits = []
    for chosen in pick_processes(connection, process):
        scope = Scope(process=chosen, period=period, now=now, filters=given)
        audits.append(audit_process(connection, scope, top=top))
    span = None if period is None else PeriodSpan(label=period.label, start=period.start, end=period.end)
    return Audit(as_of=now, period=span, filters=given, processes=tuple(audits))


def audit_process(connection: Connection, scope: Scope, *, top: int) -> ProcessAudit:
    """The graph, variants, conformance and findings of one process in ``scope``."""
    process = scope.process
    transitions, journeys = read_stays(connection, scope)
    moves = Moves(process, journeys)
    deals = sum(j.deals for j in journeys)
    variants = sorted(journeys, key=lambda j: (-j.deals, j.path, j.outcome))
    found = ProcessAudit(
        process=process.key,
        process_version=process.version,
        name=process.name,
        deals=deals,
        nodes=_nodes(process, transitions, moves),
        edges=_edges(process, transitions, moves, deals),
        variant_count=len(journeys),
        variants=tuple(_variant(moves, j, deals) for j in variants[:top]),
        conformance=moves.conformance(),
        won_rate_overridden=moves.overridden_win_rate(),
        won_rate_not_overridden=moves.not_overridden_win_rate(),
        skips=moves.stage_skips(),
        reps=_reps(transitions),
    )
    return found.model_copy(update={"findings": tuple(find(found, process))})


# ---- shaping the results ----------------------------------------------------------------------


def stage_name(process: Process, key: str) -> str:
    """The display name of a stage, start or outcome key."""
    stage = process.stage(key)
    if stage is not None:
        return stage.name
    return {START: "Start", "won": "Won", "lost": "Lost", "disqualified": "Disqualified"}.get(key, key)


def _nodes(process: Process, transitions: Transitions, moves: Moves) -> tuple[Node, ...]:
    entered: dict[str, int] = defaultdict(int)
    for (stage, _), tally in transitions.counts.items():
        entered[stage] += tally[0]
    for stage, count in moves.open_now.items():
        entered[stage] += count
    outcomes = {o: sum(c[0] for (_, to), c in transitions.counts.items() if to == o) for o in OUTCOMES}
    known = [s.key for s in process.sales_stages]
    unknown = sorted(k for k in entered if k not in known)
    nodes = [Node(key=START, name="Start", kind="start", entered=sum(moves.starts.values()))]
    nodes += [
        Node(
            key=key,
            name=stage_name(process, key),
            kind="stage",
            entered=entered.get(key, 0),
            open_now=moves.open_now.get(key, 0),
            in_process=key in known,
        )
        for key in [*known, *unknown]
    ]
    nodes += [Node(key=o, name=stage_name(process, o), kind="outcome", entered=outcomes[o]) for o in OUTCOMES]
    return tuple(nodes)


def _edges(process: Process, transitions: Transitions, moves: Moves, deals: int) -> tuple[Edge, ...]:
    leaving: dict[str, int] = defaultdict(int)
    for (stage, _), tally in transitions.counts.items():
        leaving[stage] += tally[0]
    edges = [
        Edge(
            source=START,
            target=stage,
            kind="start",
            count=count,
            share=count / deals,
            not_allowed=0 if stage in process.creation_stages else count,
        )
        for stage, count in sorted(moves.starts.items(), key=lambda item: moves.position(item[0]))
    ]
    ordered = sorted(transitions.counts.items(), key=lambda item: (moves.position(item[0][0]), item[0][1]))
    for (stage, to), (count, overridden, returned, backward) in ordered:
        kind = moves.kind(stage, to)
        median = transitions.medians.get((stage, to))
        edges.append(
            Edge(
                source=stage,
                target=to,
                kind=kind,
                count=count,
                share=count / leaving[stage],
                median_days=None if median is None else median / DAY,
                overridden=overridden,
                returned=returned,
                not_allowed=moves.not_allowed_on(stage, to, count, backward),
            )
        )
    return tuple(edges)


def _variant(moves: Moves, journey: Journey, deals: int) -> Variant:
    judged = judge_path(moves.rules, journey)
    return Variant(
        stages=journey.path,
        outcome=journey.outcome,
        deals=journey.deals,
        share=journey.deals / deals,
        median_cycle_days=None if journey.median_cycle_seconds is None else journey.median_cycle_seconds / DAY,
        conforming=journey.deals - judged.not_allowed,
    )


def _reps(transitions: Transitions) -> tuple[RepMoves, ...]:
    """Moves between stages per owner of the stay they ended (closes are not moves), the owners
    who skip and override most first."""
    reps = [
        RepMoves(
            owner=owner,
            moves=moves,
            skips=skips,
            backward=backward,
            overridden=overridden,
            off_process_share=(skips + overridden) / moves if moves else None,
        )
        for owner, (moves, skips, backward, overridden) in transitions.owners.items()
    ]
    return tuple(sorted(reps, key=lambda r: (-(r.off_process_share or 0.0), r.owner)))
