"""A lead's scorecard, scores, nurture and gated conversion through the REST API, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws

from .conftest import Api

V1 = "/api/v1"


@pytest.fixture
def saas(api: Api) -> Api:
    """The API with the SaaS process installed too (a MEDDIC conversion gate, nurture reasons)."""
    with api.uow() as uow:
        ws.install_process(uow=uow, source=load_template("saas")[1], name="saas.yaml")
    return api


def new_lead(api: Api, user: str = "ada", **body: Any) -> dict[str, Any]:
    payload = {"name": "Hana", "company": "Initech", "email": "hana@initech.io", "source": "demo_request",
               "process": "saas", "fields": {"company_size": "300", "title": "Head of Ops"}, **body}  # fmt: skip
    answer = api.client(user).post(f"{V1}/leads", json=payload)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_lead_shows_its_scores_factors_scorecard_and_gate(saas: Api) -> None:
    created = new_lead(saas)
    assert (created["fit_score"], created["intent_score"], created["score"]) == (50, 40, 90)
    shown = saas.client("ada").get(f"{V1}/leads/{created['id']}").json()
    assert shown["fields"]["company_size"] == "300"
    assert shown["scores"]["fit"] == 50
    assert {"kind": "intent", "rule": "Requested a demo", "points": 30} in shown["scores"]["factors"]
    assert shown["scores"]["learned"] is None
    assert shown["scorecard"]["framework"] == "meddic"
    assert [e["confirmed"] for e in shown["scorecard"]["elements"]] == [False] * 6
    assert shown["conversion"] == {
        "passed": False,
        "missing": ["MEDDIC too thin to open a deal (at least 2 of 6 confirmed) (score 0)"],
    }
    assert saas.client("cyd").get(f"{V1}/leads/{created['id']}").status_code == 403
    cold = new_lead(saas, email="x@gmail.com", source="content", fields={})
    by_score = saas.client("ada").get(f"{V1}/leads", params={"order": "score"}).json()["data"]
    assert [x["id"] for x in by_score] == [created["id"], cold["id"]]
    newest = saas.client("ada").get(f"{V1}/leads").json()["data"]
    assert [x["id"] for x in newest] == [cold["id"], created["id"]]


def test_the_scorecard_then_the_gate_then_the_deal(saas: Api) -> None:
    lead_id = new_lead(saas)["id"]
    ada = saas.client("ada")
    before = saas.count()
    refused = ada.post(f"{V1}/leads/{lead_id}/convert", json={})
    assert refused.status_code == 422
    assert refused.json()["error"]["reasons"] == [
        "MEDDIC too thin to open a deal (at least 2 of 6 confirmed) (score 0)"
    ]
    assert saas.count() == before
    wrong = ada.post(f"{V1}/leads/{lead_id}/scorecard", json={"element": "budget"})
    assert wrong.status_code == 422
    assert "'budget' is not one of" in wrong.json()["error"]["message"]
    for element in ("identify_pain", "champion"):
        answer = ada.post(f"{V1}/leads/{lead_id}/scorecard", json={"element": element, "note": f"{element} noted"})
        assert answer.status_code == 200, answer.text
    assert answer.json()["scorecard"]["score"] == 2
    assert answer.json()["conversion"]["passed"] is True
    assert saas.client("cyd").post(f"{V1}/leads/{lead_id}/convert", json={}).status_code == 403
    deal = ada.post(f"{V1}/leads/{lead_id}/convert", json={})
    assert deal.status_code == 201, deal.text
    body = deal.json()
    assert body["owner"] == "ada"
    assert body["process"] == "saas"
    assert body["qualification"]["meddic"]["champion"]["value"] == "champion noted"
    assert ada.get(f"{V1}/leads/{lead_id}").json()["deal_id"] == body["id"]


def test_override_of_the_gate_is_for_managers_with_a_reason(saas: Api) -> None:
    assert (
        saas.client("root")
        .post(f"{V1}/contacts", json={"id": "hana", "name": "Hana S", "email": "Hana@Initech.io"})
        .status_code
        == 201
    )
    lead_id = new_lead(saas)["id"]
    forbidden = saas.client("ada").post(f"{V1}/leads/{lead_id}/convert", json={"override": True, "reason": "intro"})
    assert forbidden.status_code == 403
    unwritten = saas.client("max").post(f"{V1}/leads/{lead_id}/convert", json={"override": True})
    assert unwritten.status_code == 422
    done = saas.client("max").post(f"{V1}/leads/{lead_id}/convert", json={"override": True, "reason": "CEO intro"})
    assert done.status_code == 201
    # The person was already a contact (same email, another case): the deal gets that contact.
    assert [(c["contact_id"], c["role"]) for c in done.json()["contacts"]] == [("hana", "primary")]


def test_recycle_parks_the_lead_until_its_date(saas: Api) -> None:
    lead_id = new_lead(saas)["id"]
    ada = saas.client("ada")
    bad = ada.post(f"{V1}/leads/{lead_id}/recycle", json={"reason": "bored", "until": "2026-06-01"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "reason"
    parked = ada.post(f"{V1}/leads/{lead_id}/recycle", json={"reason": "timing", "until": "2026-06-01"})
    assert parked.status_code == 200
    assert (parked.json()["status"], parked.json()["reengage_on"]) == ("nurture", "2026-06-01")
    listed = ada.get(f"{V1}/leads", params={"status": "nurture"}).json()
    assert [x["id"] for x in listed["data"]] == [lead_id]
    parked_convert = ada.post(f"{V1}/leads/{lead_id}/convert", json={})
    assert parked_convert.status_code == 422
    assert (
        parked_convert.json()["error"]["message"] == f"lead {lead_id} is in nurture until 2026-06-01; it reopens then"
    )
