"""How leads come in and who gets them: web forms, routing rules and the speed-to-lead service level.

These are the ``forms``, ``routing`` and ``speed_to_lead`` keys of a process file's ``leads:``
section. A form names the fields it collects; routing picks an owner by rules on the lead's
fields (territory, segment, size), inside a team or a list of users, by round robin or weights,
skipping people who are away or at capacity, with a declared fallback so no lead is lost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dealflow.process.criteria import Key
from dealflow.process.durations import Duration

Label = Annotated[str, Field(min_length=1, max_length=200)]
# The fields every lead has; a form may collect any others, kept with the lead for routing.
LEAD_COLUMNS = ("name", "email", "company")
FieldKind = Literal["text", "email", "textarea", "choice", "number"]
Strategy = Literal["round_robin", "weighted", "least_loaded"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormField(_Model):
    """One field a form collects."""

    key: Key
    label: Label | None = None
    type: FieldKind = "text"
    required: bool = False
    max_length: int = Field(default=200, ge=1, le=20_000)
    choices: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """The label shown next to the input."""
        return self.label or self.key.replace("_", " ").capitalize()


def _field(value: Any) -> Any:
    """A field written as just its key (``- company``) is a text field of that key."""
    if isinstance(value, str):
        return {"key": value, "type": "email" if value == "email" else "text", "required": value == "name"}
    return value


class Form(_Model):
    """A public form that creates leads: ``/intake/<key>`` (page) and ``/api/v1/intake/<key>`` (REST)."""

    key: Key
    title: Label = "Talk to us"
    source: Annotated[str, Field(min_length=1, max_length=64)] = "website"
    fields: tuple[FormField, ...] = Field(min_length=1)
    thank_you: str = Field(default="Thank you! We will be in touch shortly.", max_length=2000)
    honeypot: Key = "website_url"

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return [_field(v) for v in value] if isinstance(value, list | tuple) else value

    @model_validator(mode="after")
    def _has_name(self) -> Form:
        keys = [f.key for f in self.fields]
        if "name" not in keys:
            raise ValueError("a form must collect 'name' (every lead has one)")
        if len(set(keys)) != len(keys):
            raise ValueError("a form names each field once")
        if self.honeypot in keys:
            raise ValueError(f"the honeypot field '{self.honeypot}' must not be one of the form's fields")
        return self

    def field(self, key: str) -> FormField | None:
        """The form's field with this key, or None."""
        return next((f for f in self.fields if f.key == key), None)


class Range(_Model):
    """A numeric condition on a lead field: at least ``min``, below ``max``."""

    min: float | None = None
    max: float | None = None


Match = str | float | list[str | float] | Range


class Fallback(_Model):
    """Who gets a lead no rule can place: a named user, or a holder of a role (in the rule's team first)."""

    user: Key | None = None
    role: Key | None = None

    @model_validator(mode="after")
    def _one(self) -> Fallback:
        if (self.user is None) == (self.role is None):
            raise ValueError("give exactly one of user or role")
        return self


class RoutingRule(_Model):
    """Leads whose fields match ``when`` go to ``users``, or to the holders of the role in ``team``."""

    name: Key
    when: dict[Key, Match] = Field(default_factory=dict)
    team: Key | None = None
    users: tuple[Key, ...] = ()
    weights: dict[Key, int] = Field(default_factory=dict)
    strategy: Strategy | None = None
    max_open: int | None = Field(default=None, ge=1)
    fallback: Fallback | None = None

    @model_validator(mode="after")
    def _target(self) -> RoutingRule:
        if self.team is None and not self.users and not self.weights:
            raise ValueError("name a team, users or weights to route to")
        if any(w < 1 for w in self.weights.values()):
            raise ValueError("weights must be whole numbers of at least 1")
        return self


class Routing(_Model):
    """How a new lead finds its owner: the first matching rule, else the default pool, else the fallback."""

    role: Key = "sdr"
    strategy: Strategy = "round_robin"
    max_open: int | None = Field(default=None, ge=1)
    rules: tuple[RoutingRule, ...] = ()
    fallback: Fallback | None = None


class SpeedToLead(_Model):
    """A routed lead must be touched within ``within``, else it escalates (and is reassigned)."""

    within: Duration = timedelta(minutes=15)
    escalate_to: Literal["manager", "none"] = "manager"
    reassign: bool = True
