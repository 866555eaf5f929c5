"""Who may see and change which deal, lead and report: the access rules every edge applies.

A rep (SDR, AE, CSM) sees and changes their own deals and leads, and sees a deal handed to them
until they settle the handoff; a manager sees and changes those of everyone in their team;
RevOps and admins see and change everything, and alone change processes and users. Each check
returns None when allowed, or the reason for refusing in words the user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dealflow.domain.decisions import Actor
from dealflow.process.models import Approval

# Roles that see and change every deal, and change processes and users.
WORKSPACE_ROLES = ("revops", "admin")
TEAM_ROLES = ("manager",)

Reach = Literal["all", "team", "own"]


@dataclass(frozen=True)
class Scope:
    """The records an actor reaches: every one, their team's, or only their own."""

    reach: Reach
    user: str
    team: str | None = None

    def describe(self) -> str:
        """The scope in words, for refusals."""
        if self.reach == "all":
            return "every deal"
        if self.reach == "team":
            return f"the deals of team {self.team}"
        return "only your own deals"


@dataclass(frozen=True)
class Ownership:
    """What decides who reaches a deal or lead: its owner, their team, and a pending handoff's receiver."""

    record: str
    owner: str
    owner_team: str | None = None
    handoff_to: str | None = None
    handoff_to_team: str | None = None


def scope_of(actor: Actor) -> Scope:
    """The widest scope any of the actor's roles gives."""
    if actor.holds(*WORKSPACE_ROLES):
        return Scope("all", actor.id)
    if actor.holds(*TEAM_ROLES) and actor.team:
        return Scope("team", actor.id, actor.team)
    return Scope("own", actor.id, actor.team)


def _owns(scope: Scope, owner: str, team: str | None) -> bool:
    if scope.reach == "all" or owner == scope.user:
        return True
    return scope.reach == "team" and team is not None and team == scope.team


def may_see(actor: Actor, record: Ownership) -> str | None:
    """None when the actor may read ``record``, else why not."""
    scope = scope_of(actor)
    if _owns(scope, record.owner, record.owner_team):
        return None
    if record.handoff_to is not None and _owns(scope, record.handoff_to, record.handoff_to_team):
        return None
    return f"{record.record} is not yours to see: you see {scope.describe()}"


def may_change(actor: Actor, record: Ownership) -> str | None:
    """None when the actor may change ``record``, else why not (a handoff's receiver only reads it)."""
    scope = scope_of(actor)
    if _owns(scope, record.owner, record.owner_team):
        return None
    if may_see(actor, record) is None:
        return f"{record.record} is owned by {record.owner}: accept the handoff before changing it"
    return f"{record.record} is not yours to change: you change {scope.describe()}"


def may_assign(actor: Actor, *, owner: str, owner_team: str | None) -> str | None:
    """None when the actor may give a deal or lead to ``owner``, else why not: anyone in their own
    team (a rep included, say an SDR booking a meeting for an AE), anyone for RevOps and admins."""
    scope = scope_of(actor)
    if scope.reach == "all" or owner == actor.id:
        return None
    if scope.team is not None and owner_team == scope.team:
        return None
    if scope.team is None:
        return f"you cannot give deals or leads to {owner}: you belong to no team"
    return f"{owner} is not in team {scope.team}: you give deals and leads to your own team only"


def _either(roles: tuple[str, ...]) -> str:
    return " or ".join(r.replace("_", " ") for r in roles)


def may_approve(actor: Actor, kind: str, rule: Approval, *, owner: str) -> str | None:
    """None when the actor may approve ``kind`` on a deal ``owner`` owns, else why not: a role the
    process names for it, and never the owner unless the process says so."""
    what = kind.replace("_", " ")
    if actor.id == owner and not rule.owner_may_approve:
        return f"you own this deal, so someone else must approve its {what} (a {_either(rule.roles)})"
    if not actor.holds(*rule.roles):
        return f"only a {_either(rule.roles)} may approve a {what}"
    return None


def approval_counts(approver: str, rule: Approval, *, owner: str) -> bool:
    """Whether an approval given by ``approver`` meets a gate on a deal ``owner`` now owns."""
    return rule.owner_may_approve or approver != owner


def may_administer(actor: Actor, what: str) -> str | None:
    """None when the actor may change processes and users, else why not."""
    if actor.holds(*WORKSPACE_ROLES):
        return None
    return f"only revops or admin may {what}"


def report_filters(actor: Actor, *, owner: str | None, team: str | None) -> tuple[str | None, str | None] | str:
    """The owner and team filters a report runs with for this actor: a rep's own deals, a
    manager's team, anything for RevOps and admins; or why the filters asked for are refused."""
    scope = scope_of(actor)
    if scope.reach == "all":
        return owner, team
    if scope.reach == "team":
        if team is not None and team != scope.team:
            return f"you see the reports of team {scope.team} only, not of team {team}"
        return owner, scope.team
    if owner is not None and owner != scope.user:
        return f"you see reports on your own deals only, not on {owner}'s"
    return scope.user, team
