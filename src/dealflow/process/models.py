"""The process as data: typed models of a process file (stages, fields, moves, outcomes...).

Structure is checked by pydantic; the rules that tie parts together (a stage names a field
that exists, every stage can be left) live in :mod:`dealflow.process.checks`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dealflow.process.criteria import Criterion, Key
from dealflow.process.durations import Duration
from dealflow.process.lead_intake import Form, Routing, SpeedToLead
from dealflow.process.lead_scoring import LeadConversion, LeadNurture, LeadScoring

FieldType = Literal["text", "number", "money", "date", "choice", "contact"]
Channel = Literal["call", "email", "meeting", "linkedin", "sms", "task"]
Label = Annotated[str, Field(min_length=1, max_length=200)]

DEFAULT_ROLES = ("sdr", "ae", "csm", "manager", "revops", "admin")
# Fields every deal has, usable in criteria, conditions and handoff context.
BUILTIN_FIELDS: dict[str, FieldType] = {"title": "text", "amount": "money", "close_date": "date"}
# Context items a handoff can carry besides fields.
CONTEXT_ITEMS = ("next_step", "contacts", "qualification", "documents", "recent_activities")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldDef(_Model):
    """A custom field of the deals that run under this process."""

    type: FieldType
    label: Label | None = None
    choices: tuple[Key, ...] = ()
    help: str | None = Field(default=None, max_length=500)


class HandoffSpec(_Model):
    """What a stage needs to receive from the previous owner, and how fast it must accept.

    ``next_step``: at acceptance the deal's next step passes to the receiver (``pass``) or is
    cleared, for the receiver to set their own (``reset``)."""

    context: tuple[Key, ...] = ()
    sla: Duration = timedelta(days=1)
    next_step: Literal["pass", "reset"] = "pass"


class Stage(_Model):
    """One step of the process with its goal, owner, required data and exit evidence."""

    key: Key
    name: Label
    goal: str = Field(default="", max_length=1000)
    owner_role: Key
    required: tuple[Key, ...] = ()
    entry: tuple[Criterion, ...] = ()
    exit: tuple[Criterion, ...] = ()
    sla: Duration | None = None
    handoff: HandoffSpec = HandoffSpec()
    post_sale: bool = False


class Skip(_Model):
    """A permitted jump over one or more stages."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: Key = Field(alias="from")
    to: Key


class Moves(_Model):
    """Which moves the process allows besides one stage forward, and where a deal may start.

    ``create_in``: the sales stages a new deal may be created in (none listed: the first stage);
    creating one anywhere else is an override."""

    create_in: tuple[Key, ...] = ()
    skips: tuple[Skip, ...] = ()
    backward: Literal["with_reason", "never"] = "with_reason"


class Outcome(_Model):
    """What closing a deal as won, lost or disqualified requires."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    required: tuple[Key, ...] = ()
    reasons: tuple[Key, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    from_: tuple[Key, ...] | None = Field(default=None, alias="from")


class Outcomes(_Model):
    """The three ways a deal ends."""

    won: Outcome = Outcome()
    lost: Outcome = Outcome(reasons=("no_budget", "no_decision", "competitor", "timing", "other"))
    disqualified: Outcome = Outcome(reasons=("no_fit", "no_need", "no_authority", "duplicate"))


class Element(_Model):
    """One element of a qualification framework (Budget, Authority...)."""

    key: Key
    name: Label
    question: str = Field(default="", max_length=500)


class Framework(_Model):
    """A qualification framework: its elements are scored one point each when confirmed."""

    key: Key
    name: Label
    elements: tuple[Element, ...] = Field(min_length=1)


class Touch(_Model):
    """One planned touch of a follow-up cadence."""

    day: int = Field(ge=0, le=365)
    channel: Channel
    template: str = Field(default="", max_length=2000)


class Cadence(_Model):
    """A planned sequence of follow-up touches."""

    name: Label = "Default follow-up"
    touches: tuple[Touch, ...] = Field(min_length=1)
    # What ends the cadence early when a touch records it (a reply, a meeting booked).
    stop_on: tuple[Literal["reply", "meeting"], ...] = ("reply", "meeting")
    # When it starts: on_create (a lead's capture, a deal's creation) or on_request. By default a
    # lead's cadence starts at capture and a deal's on request (see dealflow.process.cadences).
    start: Literal["on_create", "on_request"] | None = None
    # A touch done within this many days after its due day counts as on time (compliance).
    grace_days: int = Field(default=1, ge=0, le=30)


DEFAULT_CADENCE = Cadence(
    touches=(
        Touch(day=0, channel="email", template="Thanks for your time: recap and proposed next step"),
        Touch(day=2, channel="call", template="Check the recap landed; confirm the next step"),
        Touch(day=5, channel="email", template="Share a relevant customer story"),
        Touch(day=9, channel="call", template="Ask what changed on their side"),
        Touch(day=14, channel="linkedin", template="Light touch with a useful resource"),
        Touch(day=21, channel="email", template="Close the loop: keep open or park it?"),
    )
)

DEFAULT_LEAD_CADENCE = Cadence(
    name="New lead follow-up",
    touches=(
        Touch(day=0, channel="email", template="Thanks for reaching out: two questions and a time to talk"),
        Touch(day=1, channel="call", template="Call to qualify: need, timing, who decides"),
        Touch(day=3, channel="email", template="A short customer story from their industry"),
        Touch(day=6, channel="call", template="Second call: propose a discovery meeting"),
        Touch(day=10, channel="linkedin", template="Connect with a useful resource, no ask"),
        Touch(day=14, channel="email", template="Break-up note: keep talking or close the file?"),
    ),
)


class LeadRules(_Model):
    """How leads are taken in, scored, routed and turned into deals (the ``leads:`` section)."""

    cadence: Cadence = DEFAULT_LEAD_CADENCE
    forms: tuple[Form, ...] = ()
    routing: Routing | None = None
    speed_to_lead: SpeedToLead | None = None
    scoring: LeadScoring = LeadScoring()
    conversion: LeadConversion = LeadConversion()
    nurture: LeadNurture = LeadNurture()


class Overrides(_Model):
    """Who may move a deal past a failed gate (always with a written reason)."""

    roles: tuple[Key, ...] = ("manager", "revops", "admin")


class Approval(_Model):
    """Who may approve one kind of approval (a discount, legal terms...): a role among ``roles``,
    and never the deal's own owner unless ``owner_may_approve`` says so."""

    roles: tuple[Key, ...] = Field(default=("manager", "revops", "admin"), min_length=1)
    owner_may_approve: bool = False


DEFAULT_APPROVAL = Approval()


class Process(_Model):
    """One versioned definition of a team's sales process."""

    key: Key
    name: Label
    version: int = Field(ge=1)
    description: str = Field(default="", max_length=4000)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    roles: tuple[Key, ...] = DEFAULT_ROLES
    fields: dict[Key, FieldDef] = Field(default_factory=dict)
    frameworks: tuple[Framework, ...] = ()
    qualification: Key | None = None
    stages: tuple[Stage, ...] = Field(min_length=2)
    moves: Moves = Moves()
    outcomes: Outcomes = Outcomes()
    overrides: Overrides = Overrides()
    # Who may approve each kind of approval; a kind not listed: a manager, revops or admin.
    approvals: dict[Key, Approval] = Field(default_factory=dict)
    cadence: Cadence = DEFAULT_CADENCE
    leads: LeadRules = LeadRules()

    def stage(self, key: str) -> Stage | None:
        """The stage with this key, or None."""
        return next((s for s in self.stages if s.key == key), None)

    def index(self, key: str) -> int:
        """The position of a stage in the process order."""
        return next(i for i, s in enumerate(self.stages) if s.key == key)

    def approval(self, kind: str) -> Approval:
        """Who may approve ``kind``: as the file declares it, else a manager, revops or admin."""
        return self.approvals.get(kind, DEFAULT_APPROVAL)

    def framework(self, key: str) -> Framework | None:
        """The qualification framework with this key, or None."""
        return next((f for f in self.frameworks if f.key == key), None)

    def field_type(self, key: str) -> FieldType | None:
        """The type of a built-in or custom field, or None if the process has no such field."""
        if key in BUILTIN_FIELDS:
            return BUILTIN_FIELDS[key]
        spec = self.fields.get(key)
        return spec.type if spec else None

    @property
    def sales_stages(self) -> tuple[Stage, ...]:
        """The stages before the deal is won (post-sale stages excluded)."""
        return tuple(s for s in self.stages if not s.post_sale)

    @property
    def creation_stages(self) -> tuple[str, ...]:
        """The stages a new deal may be created in without an override (by default the first)."""
        return self.moves.create_in or (self.stages[0].key,)

    @property
    def won_from(self) -> tuple[str, ...]:
        """The stages a deal may be won from (by default the last sales stage)."""
        return self.outcomes.won.from_ or (self.sales_stages[-1].key,)

    @property
    def ref(self) -> str:
        """``key@version``, the way deals record the process they run under."""
        return f"{self.key}@{self.version}"
