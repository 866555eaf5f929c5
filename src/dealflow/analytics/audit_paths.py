"""What the paths deals took say about their moves, judged against the process as defined.

A deal's path (its stages in order, then how it ended) fixes every move it made except two things
the path cannot show: whether a gate was overridden, and whether a move to an earlier stage was a
backward move or a handoff sent back. Those come counted per path from the database; everything
else (kind of each move, whether the process allows it, skips over each stage, the stage a deal
started in or is in now) is worked out here once per distinct path, not once per deal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dealflow.process.models import Process

OUTCOMES = ("won", "lost", "disqualified")
OPEN = "open"

MoveKind = Literal["forward", "skip", "backward", "outcome", "other"]


class Conformance(BaseModel):
    """How many deals kept to the process: every move allowed, and how many skipped, went back or
    were pushed past a gate. ``straight``: one stage forward at a time, no override, no return."""

    model_config = ConfigDict(frozen=True)

    deals: int = 0
    conforming: int = 0
    straight: int = 0
    skipped: int = 0
    backward: int = 0
    overridden: int = 0
    not_allowed: int = 0
    conforming_share: float | None = None
    straight_share: float | None = None
    skipped_share: float | None = None
    backward_share: float | None = None
    overridden_share: float | None = None
    not_allowed_share: float | None = None


class StageSkips(BaseModel):
    """Deals that jumped over a stage against deals that went through it, and how each group closed."""

    model_config = ConfigDict(frozen=True)

    stage: str
    name: str
    skipped: int = 0
    through: int = 0
    skipped_share: float | None = None
    skipped_won: int = 0
    skipped_lost: int = 0
    through_won: int = 0
    through_lost: int = 0
    skipped_win_rate: float | None = None
    through_win_rate: float | None = None


@dataclass(frozen=True)
class Journey:
    """The deals that took one path and ended one way (``open`` while they have not ended)."""

    path: tuple[str, ...]
    outcome: str
    deals: int
    overridden: int = 0  # deals with at least one gate override
    backward: int = 0  # deals with at least one backward move (not counting handoffs sent back)
    median_cycle_seconds: float | None = None

    def moves(self) -> list[tuple[str, str]]:
        """Every move of the path, the close included."""
        pairs = list(zip(self.path, self.path[1:], strict=False))
        return pairs + ([(self.path[-1], self.outcome)] if self.outcome != OPEN else [])


@dataclass(frozen=True)
class Judged:
    """How the deals of one journey kept to the process."""

    skipped: bool
    straight: bool
    not_allowed: int  # deals of the journey that made a move the process does not allow


def classify(process: Process, stage: str, to: str) -> MoveKind:
    """The kind of a move by the stages' places in the process (``other``: a stage it does not know)."""
    if to in OUTCOMES:
        return "outcome"
    stages = [s.key for s in process.sales_stages]
    if stage not in stages or to not in stages or stage == to:
        return "other"
    step = stages.index(to) - stages.index(stage)
    return "forward" if step == 1 else "skip" if step > 1 else "backward"


def allowed(process: Process, stage: str, to: str) -> bool:
    """Whether the process allows the move (a backward move: when backward moves are allowed at all)."""
    match classify(process, stage, to):
        case "forward":
            return True
        case "skip":
            return any(s.from_ == stage and s.to == to for s in process.moves.skips)
        case "backward":
            return process.moves.backward != "never"
        case "outcome":
            if to == "won":
                return stage in process.won_from
            limits = getattr(process.outcomes, to).from_
            return limits is None or stage in limits
    return False


class Rules:
    """The process's verdict on moves, worked out once per pair of places: a million deals take a
    few thousand paths over a few dozen distinct moves."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self._kinds: dict[tuple[str, str], MoveKind] = {}
        self._allowed: dict[tuple[str, str], bool] = {}

    def kind(self, stage: str, to: str) -> MoveKind:
        """:func:`classify`, remembered."""
        if (found := self._kinds.get((stage, to))) is None:
            found = self._kinds[(stage, to)] = classify(self.process, stage, to)
        return found

    def allows(self, stage: str, to: str) -> bool:
        """:func:`allowed`, remembered."""
        if (found := self._allowed.get((stage, to))) is None:
            found = self._allowed[(stage, to)] = allowed(self.process, stage, to)
        return found


def judge_path(rules: Rules, journey: Journey) -> Judged:
    """Skips, straightness and moves not allowed for the deals of one journey.

    A move back is allowed when the process allows backward moves; when it does not, only the
    deals that made a real backward move broke it (a handoff sent back is always allowed)."""
    moves = journey.moves()
    kinds = [rules.kind(a, b) for a, b in moves]
    broken = any(kind != "backward" and not rules.allows(a, b) for (a, b), kind in zip(moves, kinds, strict=True))
    backward_broken = "backward" in kinds and rules.process.moves.backward == "never"
    not_allowed = journey.deals if broken else journey.backward if backward_broken else 0
    straight = not broken and all(kind in ("forward", "outcome") for kind in kinds)
    return Judged(skipped="skip" in kinds, straight=straight, not_allowed=not_allowed)


def _rate(won: int, lost: int) -> float | None:
    return won / (won + lost) if won + lost else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Moves:
    """Every journey of one process in scope, judged once per journey."""

    def __init__(self, process: Process, journeys: Iterable[Journey]) -> None:
        self.process = process
        self.rules = Rules(process)
        self.journeys = list(journeys)
        self.judged = [judge_path(self.rules, j) for j in self.journeys]
        self.starts: dict[str, int] = defaultdict(int)
        self.open_now: dict[str, int] = defaultdict(int)
        for journey in self.journeys:
            self.starts[journey.path[0]] += journey.deals
            if journey.outcome == OPEN:
                self.open_now[journey.path[-1]] += journey.deals
        self._order = {s.key: i for i, s in enumerate(process.sales_stages)}

    def position(self, key: str) -> tuple[int, str]:
        """Where a stage or outcome sorts: the process order, unknown stages after, outcomes last."""
        if key in self._order:
            return (self._order[key], key)
        return (len(self._order) + (1 if key in OUTCOMES else 0), key)

    def kind(self, stage: str, to: str) -> MoveKind:
        """The kind of the move from ``stage`` to ``to``."""
        return self.rules.kind(stage, to)

    def not_allowed_on(self, stage: str, to: str, count: int, backward: int) -> int:
        """How many of the ``count`` moves from ``stage`` to ``to`` the process does not allow."""
        if self.rules.kind(stage, to) == "backward":
            return backward if self.process.moves.backward == "never" else 0
        return 0 if self.rules.allows(stage, to) else count

    def conformance(self) -> Conformance:
        """How many deals kept to the process, skipped, went back, were overridden."""
        deals = sum(j.deals for j in self.journeys)
        not_allowed = sum(judged.not_allowed for judged in self.judged)
        pairs = list(zip(self.journeys, self.judged, strict=True))
        straight = sum(j.deals - j.overridden for j, judged in pairs if judged.straight)
        skipped = sum(j.deals for j, judged in pairs if judged.skipped)
        backward = sum(j.backward for j in self.journeys)
        overridden = sum(j.overridden for j in self.journeys)
        return Conformance(
            deals=deals,
            conforming=deals - not_allowed,
            straight=straight,
            skipped=skipped,
            backward=backward,
            overridden=overridden,
            not_allowed=not_allowed,
            conforming_share=_share(deals - not_allowed, deals),
            straight_share=_share(straight, deals),
            skipped_share=_share(skipped, deals),
            backward_share=_share(backward, deals),
            overridden_share=_share(overridden, deals),
            not_allowed_share=_share(not_allowed, deals),
        )

    def overridden_win_rate(self) -> float | None:
        """Won / (won + lost) among deals with at least one override."""
        won = sum(j.overridden for j in self.journeys if j.outcome == "won")
        lost = sum(j.overridden for j in self.journeys if j.outcome == "lost")
        return _rate(won, lost)

    def not_overridden_win_rate(self) -> float | None:
        """Won / (won + lost) among deals never overridden."""
        won = sum(j.deals - j.overridden for j in self.journeys if j.outcome == "won")
        lost = sum(j.deals - j.overridden for j in self.journeys if j.outcome == "lost")
        return _rate(won, lost)

    def stage_skips(self) -> tuple[StageSkips, ...]:
        """For each stage that can be jumped over, the deals that did against those that went through."""
        stages = self.process.sales_stages
        past = [self._past(journey) for journey in self.journeys]
        found = []
        for stage in stages[1:-1]:
            tally: dict[str, int] = defaultdict(int)
            for journey, (jumped, went_on) in zip(self.journeys, past, strict=True):
                skipped, through = stage.key in jumped, stage.key in went_on
                for flag, name in ((skipped, "skipped"), (through, "through"), (skipped or through, "past")):
                    if flag:
                        tally[name] += journey.deals
                        tally[f"{name}_{journey.outcome}"] += journey.deals
            found.append(
                StageSkips(
                    stage=stage.key,
                    name=stage.name,
                    skipped=tally["skipped"],
                    through=tally["through"],
                    skipped_share=_share(tally["skipped"], tally["past"]),
                    skipped_won=tally["skipped_won"],
                    skipped_lost=tally["skipped_lost"],
                    through_won=tally["through_won"],
                    through_lost=tally["through_lost"],
                    skipped_win_rate=_rate(tally["skipped_won"], tally["skipped_lost"]),
                    through_win_rate=_rate(tally["through_won"], tally["through_lost"]),
                )
            )
        return tuple(found)

    def _past(self, journey: Journey) -> tuple[set[str], set[str]]:
        """The stages the journey jumped over, and those it went through onward."""
        jumped: set[str] = set()
        went_on: set[str] = set()
        for a, b in journey.moves():
            kind = self.rules.kind(a, b)
            if kind == "skip":
                jumped.update(key for key, at in self._order.items() if self._order[a] < at < self._order[b])
            if kind in ("forward", "skip") or b == "won":
                went_on.add(a)
        return jumped, went_on
