"""``/cadences`` over HTTP: what is due, starting a deal's cadence, recording touches, access, metrics."""

from __future__ import annotations

from datetime import timedelta

from .conftest import Api, deal_of


def test_a_lead_touch_is_recorded_over_http_and_a_meeting_stops_the_cadence(api: Api) -> None:
    ada = api.client("ada")
    lead = ada.post("/api/v1/leads", json={"name": "Jane Roe", "company": "Acme"})
    assert lead.status_code == 201, lead.text
    due = ada.get("/api/v1/cadences/due").json()
    assert [(d["subject"], d["step"], d["name"]) for d in due["data"]] == [("lead:L-1", 1, "Jane Roe (Acme)")]
    assert api.client("ben").get("/api/v1/cadences/due").json()["count"] == 0
    done = ada.post("/api/v1/cadences/L-1/touches", json={"outcome": "none"})
    assert done.status_code == 201
    assert done.json()["step"] == 1
    assert done.json()["stopped"] is None
    bad = ada.post("/api/v1/cadences/L-1/touches", json={"outcome": "maybe"})
    assert bad.status_code == 422
    api.clock.advance(days=1)
    upcoming = ada.get("/api/v1/cadences/L-1/next-touch").json()
    assert (upcoming["kind"], upcoming["step"], upcoming["channel"]) == ("cadence", 2, "call")
    stopped = ada.post("/api/v1/cadences/L-1/touches", json={"outcome": "meeting", "note": "Thursday 10:00"})
    assert stopped.json()["stopped"] == "meeting"
    shown = ada.get("/api/v1/cadences/L-1").json()
    assert [t["status"] for t in shown["data"]][:3] == ["done", "done", "stopped"]
    assert ada.get("/api/v1/cadences/L-1/next-touch").json() is None


def test_a_deal_cadence_is_started_over_http_by_someone_who_may_change_the_deal(api: Api) -> None:
    ben = api.client("ben")
    deal = deal_of(ben)
    assert api.client("cyd").post(f"/api/v1/cadences/{deal['id']}").status_code in (403, 404)
    started = ben.post(f"/api/v1/cadences/{deal['id']}")
    assert started.status_code == 201, started.text
    assert started.json()["count"] >= 5
    again = ben.post(f"/api/v1/cadences/{deal['id']}")
    assert again.status_code == 422
    assert "already has a cadence running" in again.text
    assert ben.get("/api/v1/cadences/D-404").status_code == 404
    api.clock.advance(days=3)
    late = ben.post(f"/api/v1/cadences/{deal['id']}/touches", json={})
    assert late.status_code == 201
    metrics = ben.get("/api/v1/cadences/metrics", params={"kind": "deal", "grace": 1}).json()
    assert metrics["compliance"]["late"] == 1
    assert metrics["compliance"]["on_time"] == 0
    assert metrics["owner"] == "ben"  # a rep's report covers their own touches
    stop = ben.post(f"/api/v1/cadences/{deal['id']}/stop")
    assert stop.status_code == 200
    assert {t["stop_reason"] for t in stop.json()["data"][1:]} == {"manual"}
    assert api.clock.now - timedelta(days=3) < api.clock.now
