"""The access rules on their own: who sees and changes which deal, who assigns, whose reports."""

from __future__ import annotations

import pytest

from dealflow.domain.access import Ownership, may_administer, may_assign, may_change, may_see, report_filters, scope_of
from dealflow.domain.decisions import Actor

BEN = Actor("ben", ("ae",), "east")
CYD = Actor("cyd", ("ae",), "west")
MAX = Actor("max", ("manager",), "east")
LONE_MANAGER = Actor("lou", ("manager",), None)
ROOT = Actor("root", ("revops", "admin"))
BENS_DEAL = Ownership("deal D-1", "ben", "east")
HANDED_TO_CYD = Ownership("deal D-2", "ada", "east", handoff_to="cyd", handoff_to_team="west")


@pytest.mark.parametrize(
    ("actor", "reach"), [(BEN, "own"), (MAX, "team"), (LONE_MANAGER, "own"), (ROOT, "all")], ids=str
)
def test_the_widest_role_decides_the_scope(actor: Actor, reach: str) -> None:
    assert scope_of(actor).reach == reach
    assert scope_of(Actor("both", ("ae", *actor.roles), actor.team)).reach == reach


def test_owners_their_manager_and_admins_see_and_change_a_deal() -> None:
    for actor in (BEN, MAX, ROOT):
        assert may_see(actor, BENS_DEAL) is None
        assert may_change(actor, BENS_DEAL) is None
    who = "(only ben, a manager of team east, revops or admin may)"
    assert may_see(CYD, BENS_DEAL) == f"deal D-1 is not yours to see: you see only your own deals {who}"
    assert may_change(CYD, BENS_DEAL) == f"deal D-1 is not yours to change: you change only your own deals {who}"
    west = Actor("wes", ("manager",), "west")
    assert may_see(west, BENS_DEAL) == f"deal D-1 is not yours to see: you see the deals of team west {who}"
    assert may_see(LONE_MANAGER, BENS_DEAL) is not None


def test_a_pending_handoffs_receiver_and_their_manager_may_read_but_not_change() -> None:
    assert may_see(CYD, HANDED_TO_CYD) is None
    assert may_change(CYD, HANDED_TO_CYD) == "deal D-2 is owned by ada: accept the handoff before changing it"
    assert may_see(Actor("wes", ("manager",), "west"), HANDED_TO_CYD) is None
    assert may_see(BEN, HANDED_TO_CYD) is not None


def test_deals_go_to_owners_in_the_actors_team_or_anyone_for_admins() -> None:
    assert may_assign(BEN, owner="ada", owner_team="east") is None
    assert may_assign(BEN, owner="cyd", owner_team="west") == (
        "cyd is not in team east: you give deals and leads to your own team only"
    )
    assert may_assign(Actor("solo", ("ae",)), owner="ben", owner_team="east") is not None
    assert may_assign(ROOT, owner="cyd", owner_team="west") is None


def test_reports_narrow_to_a_reps_deals_and_a_managers_team() -> None:
    assert report_filters(BEN, owner=None, team=None) == ("ben", None)
    assert report_filters(BEN, owner="cyd", team=None) == "you see reports on your own deals only, not on cyd's"
    assert report_filters(MAX, owner="ben", team=None) == ("ben", "east")
    assert report_filters(MAX, owner=None, team="west") == "you see the reports of team east only, not of team west"
    assert report_filters(ROOT, owner="cyd", team="west") == ("cyd", "west")
    assert may_administer(MAX, "change users") == "only revops or admin may change users"
    assert may_administer(ROOT, "change users") is None
