"""The findings of a process audit, in words: what the figures show and what to do about it.

Each rule looks at one part of the audit (skips over a stage, moves back, overrides, owners who
work around the process, moves the process does not allow) and speaks only when the figures are
large enough to mean something. Findings come most deals concerned first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from dealflow.analytics.audit_paths import OUTCOMES, StageSkips
from dealflow.process.models import Process

if TYPE_CHECKING:
    from dealflow.analytics.audit import Edge, ProcessAudit

# Below these, a share or a difference in win rates is more likely noise than practice.
MIN_CLOSED = 5  # closed deals on each side before two win rates are compared
MIN_SHARE = 0.05  # of deals skipping a stage, of stays ending with a move back
MIN_OVERRIDE_SHARE = 0.10  # of moves past a gate made by overriding it
MIN_REP_MOVES = 10  # moves of an owner before their habits are singled out
WIN_GAP = 0.05  # a difference in win rates smaller than this is "about the same"
MAX_REPS = 3


class Finding(BaseModel):
    """One thing the audit noticed, what to do about it, and how many deals or moves it concerns."""

    model_config = ConfigDict(frozen=True)

    kind: str
    subject: str
    deals: int
    observation: str
    recommendation: str

    @property
    def text(self) -> str:
        """The finding as one sentence."""
        return f"{self.observation}: {self.recommendation}."


def _pct(value: float) -> str:
    return f"{value:.0%}"


def find(audit: ProcessAudit, process: Process) -> list[Finding]:
    """Every finding of one process's audit, most deals concerned first."""
    found = [
        *_not_allowed(audit, process),
        *_skips(audit),
        *_backward(audit, process),
        *_overrides(audit, process),
        *_reps(audit),
    ]
    found.sort(key=lambda f: -f.deals)
    if not found and audit.deals:
        share = audit.conformance.conforming_share or 0.0
        found.append(
            Finding(
                kind="clean",
                subject=process.key,
                deals=audit.deals,
                observation=f"{_pct(share)} of {audit.deals:,} deals kept to the process and no habit stands out",
                recommendation="keep the process as it is written",
            )
        )
    return found


def _comparable(won_a: int, lost_a: int, won_b: int, lost_b: int) -> bool:
    return won_a + lost_a >= MIN_CLOSED and won_b + lost_b >= MIN_CLOSED


def _skips(audit: ProcessAudit) -> Iterator[Finding]:
    for s in audit.skips:
        if not s.skipped or (s.skipped_share or 0.0) < MIN_SHARE:
            continue
        observation = (
            f"{_pct(s.skipped_share or 0.0)} of the deals that got past {s.name} skipped it ({s.skipped:,} deals)"
        )
        yield Finding(
            kind="skip",
            subject=s.stage,
            deals=s.skipped,
            observation=observation + _skip_rates(s),
            recommendation=_skip_advice(s),
        )


def _skip_rates(s: StageSkips) -> str:
    if not _comparable(s.skipped_won, s.skipped_lost, s.through_won, s.through_lost):
        return ""
    return f"; deals that skip it win {_pct(s.skipped_win_rate or 0.0)} against {_pct(s.through_win_rate or 0.0)}"


def _skip_advice(s: StageSkips) -> str:
    if not _comparable(s.skipped_won, s.skipped_lost, s.through_won, s.through_lost):
        return f"decide whether {s.name} is needed: require it, or drop it from the process"
    gap = (s.through_win_rate or 0.0) - (s.skipped_win_rate or 0.0)
    if gap >= WIN_GAP:
        return f"require {s.name}: deals that skip it win less (allow no skip past it)"
    return f"{s.name} does not change how deals end: drop it from the process, or allow the skip"


def _backward(audit: ProcessAudit, process: Process) -> Iterator[Finding]:
    leaving: dict[str, int] = defaultdict(int)
    back: dict[str, list[Edge]] = defaultdict(list)
    for edge in audit.edges:
        if edge.kind == "start":
            continue
        leaving[edge.source] += edge.count
        if edge.kind == "backward" and edge.count > edge.returned:
            back[edge.source].append(edge)
    found = []
    for stage, edges in back.items():
        moves = sum(e.count - e.returned for e in edges)
        share = moves / leaving[stage]
        if share < MIN_SHARE:
            continue
        to = max(edges, key=lambda e: (e.count - e.returned, e.target)).target
        name, earlier = _name(process, stage), _name(process, to)
        found.append(
            Finding(
                kind="backward",
                subject=stage,
                deals=moves,
                observation=(
                    f"{_pct(share)} of the stays in {name} end with a move back ({moves:,}), most often to {earlier}"
                ),
                recommendation=f"deals leave {earlier} before they are ready: tighten its exit criteria",
            )
        )
    yield from sorted(found, key=lambda f: -f.deals)[:2]


def _overrides(audit: ProcessAudit, process: Process) -> Iterator[Finding]:
    onward: dict[str, int] = defaultdict(int)
    forced: dict[str, int] = defaultdict(int)
    for edge in audit.edges:
        if edge.kind in ("forward", "skip"):
            onward[edge.source] += edge.count
            forced[edge.source] += edge.overridden
    rates = ""
    advice = "review the gate's criteria: they may ask for evidence deals do not need"
    over, clean = audit.won_rate_overridden, audit.won_rate_not_overridden
    if over is not None and clean is not None:
        rates = f"; deals with an override win {_pct(over)} against {_pct(clean)}"
        if clean - over >= WIN_GAP:
            advice = "enforce the gate: deals pushed past it win less"
    for stage, moves in onward.items():
        if not forced[stage] or forced[stage] / moves < MIN_OVERRIDE_SHARE:
            continue
        share = forced[stage] / moves
        yield Finding(
            kind="override",
            subject=stage,
            deals=forced[stage],
            observation=(
                f"the gate out of {_name(process, stage)} was overridden on {_pct(share)} "
                f"of the moves past it ({forced[stage]:,}){rates}"
            ),
            recommendation=advice,
        )


def _reps(audit: ProcessAudit) -> Iterator[Finding]:
    moves = sum(r.moves for r in audit.reps)
    off = sum(r.skips + r.overridden for r in audit.reps)
    if not moves or not off:
        return
    overall = off / moves
    bar = max(2 * overall, overall + MIN_SHARE)
    loose = [r for r in audit.reps if r.moves >= MIN_REP_MOVES and (r.off_process_share or 0.0) >= bar][:MAX_REPS]
    if not loose:
        return
    names = ", ".join(f"{r.owner} ({_pct(r.off_process_share or 0.0)})" for r in loose)
    yield Finding(
        kind="rep",
        subject=",".join(r.owner for r in loose),
        deals=sum(r.skips + r.overridden for r in loose),
        observation=(
            f"{names} skip stages or override gates on that share of their moves, against {_pct(overall)} overall"
        ),
        recommendation="go through those deals with them: they work around the process, or it does not fit their deals",
    )


def _not_allowed(audit: ProcessAudit, process: Process) -> Iterator[Finding]:
    c = audit.conformance
    if not c.not_allowed:
        return
    edge = max((e for e in audit.edges if e.not_allowed), key=lambda e: (e.not_allowed, e.source, e.target))
    source, target = _name(process, edge.source), _name(process, edge.target)
    yield Finding(
        kind="not_allowed",
        subject=f"{edge.source}>{edge.target}",
        deals=c.not_allowed,
        observation=(
            f"{c.not_allowed:,} deals ({_pct(c.not_allowed_share or 0.0)}) made moves {process.key} does not allow, "
            f"most often {source} to {target} ({edge.not_allowed:,} moves)"
        ),
        recommendation=_allow_advice(process, edge, source),
    )


def _allow_advice(process: Process, edge: Edge, source: str) -> str:
    if edge.kind == "skip":
        return (
            f"declare the skip from {edge.source} to {edge.target} under moves.skips if it is sound, "
            "or correct those deals"
        )
    if edge.kind == "backward":
        return "allow backward moves (moves: backward: with_reason), or correct those deals"
    if edge.target in OUTCOMES:
        allowed = process.won_from if edge.target == "won" else getattr(process.outcomes, edge.target).from_ or ()
        stages = ", ".join(_name(process, s) for s in allowed)
        return (
            f"the process closes as {edge.target} only from {stages}: "
            f"add {source} to outcomes.{edge.target}.from, or correct those deals"
        )
    return "these stages are not in the process as written: add them, or correct those deals"


def _name(process: Process, key: str) -> str:
    stage = process.stage(key)
    return stage.name if stage is not None else key
