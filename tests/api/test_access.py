"""Who sees and changes what: a rep their own deals, a manager the team's, revops and admins all.

A rep of another team is refused with a 403 and a reason on every deal-scoped endpoint, and
nothing is written; lists show exactly the deals a reader may open.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from dealflow.api.routers import ROUTERS
from dealflow.store import tables as t

from .conftest import USERS, Api, deal_of

V1 = "/api/v1"
# Every route acting on one deal (or one of its handoffs), with a body valid enough to reach the check.
ROUTES: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("GET", "/deals/{deal_id}", None),
    ("PATCH", "/deals/{deal_id}", {"fields": {"pain": "Slow quotes"}}),
    ("GET", "/deals/{deal_id}/gate", None),
    ("POST", "/deals/{deal_id}/moves", {"to": "qualification", "override": True, "reason": "Referral"}),
    ("POST", "/deals/{deal_id}/close", {"outcome": "lost", "reason": "timing"}),
    ("POST", "/deals/{deal_id}/reassign", {"to_owner": "cyd"}),
    ("POST", "/deals/{deal_id}/reopen", {"reason": "Closed by mistake"}),
    ("GET", "/deals/{deal_id}/activities", None),
    ("POST", "/deals/{deal_id}/activities", {"kind": "call", "summary": "Intro"}),
    ("GET", "/deals/{deal_id}/next-step", None),
    ("PUT", "/deals/{deal_id}/next-step", {"action": "Demo", "due": "2026-03-09T10:00:00Z"}),
    ("POST", "/deals/{deal_id}/contacts", {"contact_id": "jane", "role": "champion"}),
    ("POST", "/deals/{deal_id}/qualification", {"framework": "bant", "element": "budget"}),
    ("POST", "/deals/{deal_id}/approvals", {"approval": "discount"}),
    ("POST", "/deals/{deal_id}/documents", {"document": "proposal", "name": "Proposal v1"}),
    ("GET", "/deals/{deal_id}/events", None),
    ("GET", "/deals/{deal_id}/review", None),
    ("GET", "/handoffs/{handoff_id}", None),
    ("POST", "/handoffs/{handoff_id}/accept", None),
    ("POST", "/handoffs/{handoff_id}/return", {"reason": "No budget captured"}),
)


def _scenario(api: Api) -> dict[str, str]:
    """Ben's deal, Cyd's deal (the west team), and Ada's deal handed by their manager to Ben."""
    ben = deal_of(api.client("ben"), "Ben's deal")["id"]
    cyd = deal_of(api.client("cyd"), "Cyd's deal")["id"]
    ada = deal_of(api.client("ada"), "Ada's deal")["id"]
    assert api.client("root").post(f"{V1}/contacts", json={"id": "jane", "name": "Jane Roe"}).status_code == 201
    manager = api.client("max")
    move = {"to": "qualification", "override": True, "reason": "CEO referral"}
    assert manager.post(f"{V1}/deals/{ada}/moves", json=move).status_code == 200
    moved = manager.post(f"{V1}/deals/{ada}/moves", json={**move, "to": "discovery", "handoff_to": "ben"})
    assert moved.status_code == 200, moved.text
    return {"ben": ben, "cyd": cyd, "ada": ada, "handoff": moved.json()["handoff"]["id"]}


def test_the_routes_below_are_every_route_on_one_deal() -> None:
    scoped = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and ("{deal_id}" in route.path or "{handoff_id}" in route.path)
        for method in route.methods
    }
    assert scoped == {(method, path) for method, path, _ in ROUTES}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_rep_cannot_read_or_change_another_teams_deal(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    ids = _scenario(api)
    before = (api.count(), api.count(t.handoffs))
    url = V1 + path.format(deal_id=ids["ben"], handoff_id=ids["handoff"])
    refused = api.client("cyd").request(method, url, json=body)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["kind"] == "forbidden"
    said = (
        "is not yours to see: you see only your own deals",
        "is not yours to change: you change only your own deals",
    )
    assert any(words in error["message"] for words in said), error["message"]
    assert error["message"].endswith(", a manager of team east, revops or admin may)")  # and who may
    assert (api.count(), api.count(t.handoffs)) == before
    assert api.client("ben").get(f"{V1}/deals/{ids['ben']}").json()["version"] == 1


def _visible(api: Api, user: str) -> set[str]:
    listed = api.client(user).get(f"{V1}/deals", params={"status": "all"}).json()
    return {d["id"] for d in listed["data"]}


def test_each_role_sees_its_scope_and_lists_match_what_can_be_opened(api: Api) -> None:
    ids = _scenario(api)
    expected = {
        "ben": {ids["ben"], ids["ada"]},  # Ada's deal is handed to Ben, awaiting him
        "ada": {ids["ada"]},
        "cyd": {ids["cyd"]},
        "max": {ids["ben"], ids["ada"]},
        "wes": {ids["cyd"]},
        "root": {ids["ben"], ids["cyd"], ids["ada"]},
        "cat": set(),
    }
    for user in USERS:
        assert _visible(api, user) == expected[user], user
        for deal_id in (ids["ben"], ids["cyd"], ids["ada"]):
            status = api.client(user).get(f"{V1}/deals/{deal_id}").status_code
            assert status == (200 if deal_id in expected[user] else 403), (user, deal_id)


def test_a_manager_changes_the_teams_deals_and_a_receiver_only_after_accepting(api: Api) -> None:
    ids = _scenario(api)
    update = {"fields": {"pain": "Quotes take four days"}}
    assert api.client("max").patch(f"{V1}/deals/{ids['ben']}", json=update).status_code == 200
    assert api.client("wes").patch(f"{V1}/deals/{ids['ben']}", json=update).status_code == 403
    assert api.client("root").patch(f"{V1}/deals/{ids['cyd']}", json=update).status_code == 200
    early = api.client("ben").patch(f"{V1}/deals/{ids['ada']}", json=update)
    assert early.status_code == 403
    assert (
        early.json()["error"]["message"] == f"deal {ids['ada']} is owned by ada: accept the handoff before changing it"
    )
    assert api.client("ada").post(f"{V1}/handoffs/{ids['handoff']}/accept").status_code == 403  # not its receiver
    accepted = api.client("ben").post(f"{V1}/handoffs/{ids['handoff']}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["owner"] == "ben"
    assert api.client("ben").patch(f"{V1}/deals/{ids['ada']}", json=update).status_code == 200
    assert _visible(api, "ada") == set()


def test_deals_and_leads_go_only_to_owners_in_reach(api: Api) -> None:
    assert api.client("ben").post(f"{V1}/deals", json={"title": "For ada", "owner": "ada"}).status_code == 201
    refused = api.client("ben").post(f"{V1}/deals", json={"title": "For cyd", "owner": "cyd"})
    assert refused.status_code == 403
    assert (
        refused.json()["error"]["message"] == "cyd is not in team east: you give deals and leads to your own team only"
    )
    assert api.client("ben").post(f"{V1}/leads", json={"name": "Lee", "owner": "cyd"}).status_code == 403
    assert api.client("root").post(f"{V1}/deals", json={"title": "For cyd", "owner": "cyd"}).status_code == 201
    lead = api.client("cyd").post(f"{V1}/leads", json={"name": "Lee Park", "company": "Orbit"}).json()
    assert api.client("ben").get(f"{V1}/leads/{lead['id']}").status_code == 403
    assert api.client("ben").post(f"{V1}/leads/{lead['id']}/convert", json={}).status_code == 403
    assert api.client("wes").get(f"{V1}/leads").json()["count"] == 1
    assert api.client("ben").get(f"{V1}/leads").json()["count"] == 0
    passed = {"override": True, "reason": "Qualified in person"}  # the manager passes the conversion gate
    converted = api.client("wes").post(f"{V1}/leads/{lead['id']}/convert", json=passed)
    assert converted.status_code == 201
    assert converted.json()["owner"] == "cyd"


def test_reports_cover_a_reps_own_deals_and_a_managers_team(api: Api) -> None:
    _scenario(api)
    mine = api.client("ben").get(f"{V1}/metrics")
    assert mine.status_code == 200, mine.text
    assert mine.json()["filters"] == {"owner": "ben"}
    assert api.client("max").get(f"{V1}/metrics").json()["filters"] == {"team": "east"}
    assert api.client("root").get(f"{V1}/metrics").json()["filters"] == {}
    other = api.client("ben").get(f"{V1}/metrics", params={"owner": "cyd"})
    assert other.status_code == 403
    assert other.json()["error"]["message"] == "you see reports on your own deals only, not on cyd's"
    assert api.client("max").get(f"{V1}/inspection", params={"team": "west"}).status_code == 403
    owners = {f["owner"] for f in api.client("max").get(f"{V1}/inspection").json()["data"]}
    assert owners <= {"ada", "ben", "max", "cat"}
    assert api.client("max").get(f"{V1}/forecast").status_code == 403
    assert api.client("ben").get(f"{V1}/events").status_code == 403
    assert api.client("root").get(f"{V1}/events", params={"limit": 1}).json()["count"] == api.count()
