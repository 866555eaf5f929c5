"""Running deals through the API: gates, conflicts, idempotent creation, paging, bad input."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dealflow.process.loading import load_template
from dealflow.store import tables as t

from .conftest import Api, deal_of

V1 = "/api/v1"


def test_a_refused_gate_is_a_422_listing_each_unmet_criterion_until_the_evidence_is_in(api: Api) -> None:
    ben = api.client("ada")
    deal = deal_of(ben, amount=48000)
    url = f"{V1}/deals/{deal['id']}"
    refused = ben.post(f"{url}/moves", json={"to": "qualification"})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "kind": "gate_refused",
        "message": "cannot move to qualification: 3 criteria unmet",
        "field": None,
        "reasons": [
            "Lead source not captured",
            "No conversation logged yet (log at least one call) (0 so far)",
            "No qualification call scheduled (none set)",
        ],
    }
    gate = ben.get(f"{url}/gate").json()
    assert [u["message"] for u in gate["unmet"]] == refused.json()["error"]["reasons"]
    assert ben.patch(url, json={"fields": {"source": "referral"}}).status_code == 200
    assert ben.post(f"{url}/activities", json={"kind": "call", "summary": "Intro with the COO"}).status_code == 201
    step = {"action": "Qualification call", "due": "2026-03-05T15:00:00Z", "buyer_confirmed": True}
    assert ben.put(f"{url}/next-step", json=step).status_code == 200
    assert ben.get(f"{url}/gate").json() == {
        "deal": deal["id"], "stage": "prospecting", "to": "qualification", "passed": True, "unmet": []
    }  # fmt: skip
    moved = ben.post(f"{url}/moves", json={"to": "qualification"})
    assert moved.status_code == 200
    assert (moved.json()["stage"], moved.json()["version"]) == ("qualification", 5)
    shown = ben.get(url).json()
    assert shown["next_step"]["action"] == "Qualification call"
    assert shown["gate"]["to"] == "discovery"
    assert [e["type"] for e in ben.get(f"{url}/events").json()["data"]] == [
        "DealCreated", "FieldsUpdated", "ActivityLogged", "NextStepSet", "DealMoved"
    ]  # fmt: skip
    assert [a["summary"] for a in ben.get(f"{url}/activities").json()["data"]] == ["Intro with the COO"]


def test_conflicts_are_409(api: Api) -> None:
    admin = api.client("root")
    account = {"id": "acme", "name": "Acme Logistics"}
    assert admin.post(f"{V1}/accounts", json=account).status_code == 201
    again = admin.post(f"{V1}/accounts", json=account)
    assert again.status_code == 409
    assert again.json()["error"] == {
        "kind": "conflict", "message": "account 'acme' already exists", "field": None, "reasons": []
    }  # fmt: skip
    source = admin.get(f"{V1}/processes/templates/standard")
    assert source.status_code == 200
    installed = admin.post(f"{V1}/processes", json={"source": "key: standard\n", "name": "x.yaml"})
    assert installed.status_code == 422  # an incomplete file: each problem named
    assert installed.json()["error"]["reasons"]


def test_the_same_idempotency_key_creates_once_and_replays_the_answer(api: Api) -> None:
    ben = api.client("ben")
    key = {"Idempotency-Key": "create-acme-1"}
    first = ben.post(f"{V1}/deals", json={"title": "Acme", "amount": 1000}, headers=key)
    second = ben.post(f"{V1}/deals", json={"amount": 1000, "title": "Acme"}, headers=key)
    other_instance = api.client("ben")
    other_instance.app = api.another_instance()
    third = other_instance.post(f"{V1}/deals", json={"title": "Acme", "amount": 1000}, headers=key)
    assert first.status_code == second.status_code == third.status_code == 201
    assert first.json() == second.json() == third.json()
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert ben.get(f"{V1}/deals").json()["count"] == 1
    changed = ben.post(f"{V1}/deals", json={"title": "Acme", "amount": 2000}, headers=key)
    assert changed.status_code == 422
    assert changed.json()["error"] == {
        "kind": "invalid_input",
        "message": "Idempotency-Key: was already used for a different request: send a new key with a new request",
        "field": "Idempotency-Key",
        "reasons": [],
    }
    assert api.client("ada").post(f"{V1}/deals", json={"title": "Acme"}, headers=key).status_code == 201  # per user
    assert api.count(t.deals) == 2
    assert api.count(t.idempotency_keys) == 2


def test_a_refused_request_stores_no_key_and_can_be_retried(api: Api) -> None:
    ben = api.client("ben")
    key = {"Idempotency-Key": "move-1"}
    deal = deal_of(ben)
    url = f"{V1}/deals/{deal['id']}/moves"
    assert ben.post(url, json={"to": "qualification"}, headers=key).status_code == 422
    assert api.count(t.idempotency_keys) == 0
    moved = ben.post(url, json={"to": "qualification", "override": True, "reason": "x"}, headers=key)
    assert moved.status_code == 403  # overrides are for managers: still nothing stored
    assert api.count(t.idempotency_keys) == 0
    long_key = ben.post(f"{V1}/deals", json={"title": "A"}, headers={"Idempotency-Key": "k" * 256})
    assert long_key.status_code == 422
    assert long_key.json()["error"]["field"] == "Idempotency-Key"


def test_lists_are_paged_and_filtered(api: Api) -> None:
    ben = api.client("ben")
    ids = [deal_of(ben, f"Deal {n}")["id"] for n in range(7)]
    page = ben.get(f"{V1}/deals", params={"limit": 3, "offset": 3}).json()
    assert (page["count"], page["limit"], page["offset"]) == (7, 3, 3)
    assert [d["id"] for d in page["data"]] == list(reversed(ids))[3:6]
    assert ben.get(f"{V1}/deals", params={"offset": 6}).json()["data"][0]["id"] == ids[0]
    assert ben.get(f"{V1}/deals", params={"stage": "qualification"}).json()["count"] == 0
    assert ben.get(f"{V1}/deals", params={"status": "won"}).json()["count"] == 0
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "maybe"}):
        bad = ben.get(f"{V1}/deals", params=params)
        assert bad.status_code == 422, params
        assert bad.json()["error"]["field"] == next(iter(params))


BAD: tuple[tuple[str, str, dict[str, Any], int, str], ...] = (
    ("POST", "/deals", {}, 422, "title: Field required"),
    ("POST", "/deals", {"title": "A", "amount": "lots"}, 422, "amount: Input should be a valid decimal"),
    ("POST", "/deals", {"title": "x" * 10_001}, 422, "title: String should have at most 10000 characters"),
    ("POST", "/deals", {"title": "A", "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
    ("POST", "/deals", {"title": "A", "fields": {"urgency": "sky-high"}}, 422, "'sky-high' is not one of"),
    ("POST", "/deals", {"title": "A", "process": "nope"}, 404, "no process 'nope'"),
    ("POST", "/deals", {"title": "A", "owner": "ghost"}, 404, "no user 'ghost'"),
    ("POST", "/deals", {"title": "A", "owner": "cyd"}, 403, "cyd is not in team east"),
    ("POST", "/deals", {"title": "A", "account_id": "nope"}, 404, "no account 'nope'"),
    ("PATCH", "/deals/D-1", {"fields": {}}, 422, "fields: Dictionary should have at least 1 item"),
    ("PATCH", "/deals/D-1", {"fields": {"notes": "x"}}, 422, "notes: unknown field"),
    ("PATCH", "/deals/D-9", {"fields": {"pain": "x"}}, 404, "no deal 'D-9'"),
    ("POST", "/deals/D-1/activities", {"kind": "fax", "summary": "x"}, 422, "'fax' is not one of"),
    ("POST", "/deals/D-1/activities", {"kind": "call", "summary": "x", "at": "2026-03-01T10:00"}, 422, "timezone"),
    ("PUT", "/deals/D-1/next-step", {"action": "x", "due": "2026-03-01T10:00:00Z"}, 422, "must be in the future"),
    ("PUT", "/deals/D-1/next-step", {"action": "x", "due": "2026-04-01T10:00:00Z", "owner": "ghost"}, 404, "ghost"),
    ("POST", "/deals/D-1/contacts", {"contact_id": "ghost", "role": "champion"}, 404, "no contact 'ghost'"),
    ("POST", "/deals/D-1/moves", {"to": "nowhere"}, 422, "nowhere"),
    ("POST", "/deals/D-1/close", {"outcome": "maybe"}, 422, "outcome: Input should be 'won', 'lost' or"),
    ("POST", "/handoffs/D-1-H9/accept", {}, 404, "no handoff 'D-1-H9'"),
    ("GET", "/leads/L-9", {}, 404, "no lead 'L-9'"),
)


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD, ids=[b[4][:40] for b in BAD])
def test_bad_input_gets_a_clear_answer_and_writes_nothing(
    api: Api, method: str, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    ben = api.client("ben")
    deal_of(ben)
    before = api.count()
    answer = ben.request(method, V1 + path, json=body if method != "GET" else None)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]
    assert api.count() == before


def test_markup_in_text_is_stored_and_returned_as_given(api: Api) -> None:
    ben = api.client("ben")
    title = '<script>alert("x")</script> & <b>Acme</b>'
    deal = deal_of(ben, title)
    url = f"{V1}/deals/{deal['id']}"
    assert ben.post(f"{url}/activities", json={"kind": "note", "summary": "<img src=x onerror=y>"}).status_code == 201
    assert ben.get(url).json()["title"] == title
    assert ben.get(f"{V1}/deals").json()["data"][0]["title"] == title
    assert ben.get(f"{url}/activities").json()["data"][0]["summary"] == "<img src=x onerror=y>"
    assert ben.get(url).headers["content-type"] == "application/json"


def test_leads_handoffs_and_processes_through_the_api(api: Api) -> None:
    ada = api.client("ada")
    lead = ada.post(f"{V1}/leads", json={"name": "Lee Park", "company": "Orbit", "source": "referral"})
    assert lead.status_code == 201
    assert ada.post(f"{V1}/leads/{lead.json()['id']}/disqualify", json={"reason": "no_fit"}).json()["status"] == (
        "disqualified"
    )
    assert ada.get(f"{V1}/leads", params={"status": "all"}).json()["count"] == 1
    deal = deal_of(ada, "Orbit")
    manager = api.client("max")
    move = {"to": "qualification", "override": True, "reason": "CEO referral"}
    assert manager.post(f"{V1}/deals/{deal['id']}/moves", json=move).status_code == 200
    handed = manager.post(f"{V1}/deals/{deal['id']}/moves", json={**move, "to": "discovery", "handoff_to": "ben"})
    handoff = handed.json()["handoff"]["id"]
    inbox = api.client("ben").get(f"{V1}/handoffs", params={"to": "ben"}).json()
    assert [h["id"] for h in inbox["data"]] == [handoff]
    returned = api.client("ben").post(f"{V1}/handoffs/{handoff}/return", json={"reason": "No budget yet"})
    assert returned.status_code == 200
    assert (returned.json()["stage"], returned.json()["owner"]) == ("qualification", "ada")
    processes = ada.get(f"{V1}/processes").json()
    assert [(p["key"], p["version"]) for p in processes] == [("standard", 1)]
    assert [s["key"] for s in ada.get(f"{V1}/processes/standard").json()["stages"]][:2] == [
        "prospecting", "qualification"
    ]  # fmt: skip
    bad = ada.post(f"{V1}/processes/validate", json={"source": "key: [", "name": "mine.yaml"})
    assert bad.status_code == 422
    assert bad.json()["error"]["reasons"][0].startswith("mine.yaml")
    refused = ada.post(f"{V1}/processes", json={"source": "key: x\n"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "only revops or admin may install processes"


def test_two_instances_racing_with_one_key_create_one_deal(api: Api) -> None:
    clients = [api.client("ben"), api.client("ben")]
    clients[1].app = api.another_instance()
    start = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def send(n: int) -> None:
        start.wait()
        answers[n] = clients[n].post(f"{V1}/deals", json={"title": "Race"}, headers={"Idempotency-Key": "race"})

    threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert api.count(t.deals) == 1


def test_the_default_process_is_marked_and_chosen_through_the_api(api: Api) -> None:
    admin, rep = api.client("root"), api.client("ada")
    saas = admin.post(f"{V1}/processes", json={"source": load_template("saas")[1], "name": "saas.yaml"})
    assert saas.status_code == 201
    marked = {p["key"]: p["default"] for p in rep.get(f"{V1}/processes").json()}
    assert marked == {"saas": False, "standard": True}
    assert rep.post(f"{V1}/deals", json={"title": "Acme"}).json()["stage"] == "prospecting"
    refused = rep.put(f"{V1}/processes/default", json={"key": "saas"})
    assert refused.status_code == 403
    assert admin.put(f"{V1}/processes/default", json={"key": "nosuch"}).status_code == 404
    chosen = admin.put(f"{V1}/processes/default", json={"key": "saas"})
    assert (chosen.status_code, chosen.json()["key"], chosen.json()["default"]) == (200, "saas", True)
    assert [p["key"] for p in rep.get(f"{V1}/processes").json() if p["default"]] == ["saas"]
    assert rep.post(f"{V1}/deals", json={"title": "Birch"}).json()["stage"] == "inbound_capture"
