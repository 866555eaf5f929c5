"""Who may see and change which deal, lead and report: the access rules every edge applies.

A rep (SDR, AE, CSM) sees and changes their own deals and leads, and sees a deal handed to them
until they settle the handoff; a manager sees and changes those of everyone in their team;
RevOps and admins see and change everything, and alone change processes and users. Each check
returns None when allowed, or the reason for refusing in words the user can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dealflow.domain.decisions import Actor
from dealflow.process.models import Approval, Overrides

# Roles that see and change every deal, and change processes and users.
WORKSPACE_ROLES = ("revops", "admin")
TEAM_ROLES = ("manager",)
# Roles that settle others' handoffs, reassign others' deals and reopen closed ones.
SUPERVISOR_ROLES = (*TEAM_ROLES, *WORKSPACE_ROLES)

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


def _who_may(record: Ownership) -> str:
    """Who may, in the words of a refusal: its owner, their team's manager, revops and admins."""
    team = f", a manager of team {record.owner_team}" if record.owner_team else ""
    return f" (only {record.owner}{team}, revops or admin may)"


def may_see(actor: Actor, record: Ownership) -> str | None:
    """None when the actor may read ``record``, else why not."""
    scope = scope_of(actor)
    if _owns(scope, record.owner, record.owner_team):
        return None
    if record.handoff_to is not None and _owns(scope, record.handoff_to, record.handoff_to_team):
        return None
    return f"{record.record} is not yours to see: you see {scope.describe()}{_who_may(record)}"


def may_change(actor: Actor, record: Ownership) -> str | None:
    """None when the actor may change ``record``, else why not (a handoff's receiver only reads it)."""
    scope = scope_of(actor)
    if _owns(scope, record.owner, record.owner_team):
        return None
    if may_see(actor, record) is None:
        return f"{record.record} is owned by {record.owner}: accept the handoff before changing it"
    return f"{record.record} is not yours to change: you change {scope.describe()}{_who_may(record)}"


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


def _yours(actor: Actor) -> str:
    return " and ".join(r.replace("_", " ") for r in actor.roles) or "without a role"


def may_override(actor: Actor, roles: tuple[str, ...], what: str) -> str | None:
    """None when the actor holds one of the ``roles`` a process names for passing a rule (a gate, the
    stages a deal may start in, a lead's conversion gate), else why not."""
    if actor.holds(*roles):
        return None
    return f"only a {_either(roles)} may {what} (you are {_yours(actor)})"


def may_supervise(actor: Actor, what: str) -> str | None:
    """None when the actor is a manager, revops or admin (who reopen deals and settle or give on
    others' work), else why not."""
    if actor.holds(*SUPERVISOR_ROLES):
        return None
    return f"only a {_either(SUPERVISOR_ROLES)} may {what} (you are {_yours(actor)})"


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


# --- The policy as a table --------------------------------------------------------------------
# Who may do what to a deal of ada, an east rep, worked out by the checks above (never written by
# hand): the README's table of permissions is this table, and `dealflow policy` prints it.

Check = Callable[[Actor], str | None]
_OWNER, _PEER, _OTHER_TEAM = "ada", "bea", "cyd"
_DEAL = Ownership(record="D-1", owner=_OWNER, owner_team="east")
POLICY_ACTORS: tuple[tuple[str, Actor], ...] = (
    ("its owner, a rep", Actor(_OWNER, ("ae",), "east")),
    ("a rep of its team", Actor(_PEER, ("ae",), "east")),
    ("the team's manager", Actor("max", ("manager",), "east")),
    ("a manager of another team", Actor("wes", ("manager",), "west")),
    ("revops or admin", Actor("root", ("revops", "admin"))),
)


def _first(*checks: str | None) -> str | None:
    return next((c for c in checks if c is not None), None)


def _change(actor: Actor) -> str | None:
    return may_change(actor, _DEAL)


def _give(team: str, to: str) -> Check:
    def check(actor: Actor) -> str | None:
        owner_or_supervisor = None if actor.id == _OWNER else may_supervise(actor, "give away others' deals")
        return _first(_change(actor), owner_or_supervisor, may_assign(actor, owner=to, owner_team=team))

    return check


def _override(actor: Actor) -> str | None:
    return _first(_change(actor), may_override(actor, Overrides().roles, "override"))


def _approve(actor: Actor) -> str | None:
    return _first(_change(actor), may_approve(actor, "discount", Approval(), owner=_OWNER))


def _settle(actor: Actor) -> str | None:
    return _first(may_see(actor, _DEAL), may_supervise(actor, "settle"))


def _reopen(actor: Actor) -> str | None:
    return _first(_change(actor), may_supervise(actor, "reopen"))


POLICY: tuple[tuple[str, Check], ...] = (
    ("See the deal", lambda actor: may_see(actor, _DEAL)),
    ("Change it: fields, activities, contacts, next step, moves through its gates, win, lose", _change),
    ("Give it to someone of its team", _give("east", _PEER)),
    ("Give it to someone of another team", _give("west", _OTHER_TEAM)),
    ("Override a gate; create a deal outside the stages its process starts deals in", _override),
    ("Approve a discount on it (any approval kind the process file does not restrict)", _approve),
    ("Settle a handoff of it sent to someone else", _settle),
    ("Reopen it once won, lost or disqualified", _reopen),
    ("Install processes, migrate deals, import history, add and change users", lambda a: may_administer(a, "do it")),
)


def policy_table() -> list[tuple[str, list[bool]]]:
    """Each action of :data:`POLICY` and, for each of :data:`POLICY_ACTORS` in order, whether they may."""
    return [(action, [check(actor) is None for _, actor in POLICY_ACTORS]) for action, check in POLICY]
