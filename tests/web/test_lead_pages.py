"""The lead pages through the HTTP client on both backends: the list by score, the scorecard, the
conversion gate with its missing list, nurture and disqualification."""

from __future__ import annotations

import re
from datetime import date

import pytest

from dealflow.analytics import lead_model
from dealflow.process.loading import load_template
from dealflow.services import leads as sl
from dealflow.services import workspace as ws
from dealflow.store import lead_states as store
from dealflow.store import queries
from tests.factories import synthetic_history

from .conftest import Site, parse


@pytest.fixture
def saas(site: Site) -> Site:
    """The site with the SaaS process installed too (its leads pass a MEDDIC conversion gate)."""
    with site.uow() as uow:
        ws.install_process(uow=uow, source=load_template("saas")[1], name="saas.yaml")
    return site


def lead(site: Site, owner: str, name: str, **options: object) -> str:
    with site.uow() as uow:
        return sl.capture_lead(uow=uow, actor_id=owner, name=name, process_key="saas", **options)  # type: ignore[arg-type]


def test_the_list_shows_the_leads_in_scope_the_best_scored_first(saas: Site) -> None:
    hot = lead(saas, "ada", "Hot Hana", company="Initech", email="hana@initech.io", source="demo_request",
               fields={"title": "VP Sales", "company_size": "300"})  # fmt: skip
    cold = lead(saas, "ada", "Cold Cal", email="cal@gmail.com", source="content")
    west = lead(saas, "cyd", "West Wes", source="demo_request")
    client = saas.browser("ada")
    page = client.get("/leads")
    assert page.status_code == 200
    markers = parse(page.text).tests
    assert "nav-leads" in markers
    assert markers.index(f"lead-{hot}") < markers.index(f"lead-{cold}")
    assert f"lead-{west}" not in markers  # another team's lead
    assert f'data-test="score-{hot}"><strong>90<' in page.text  # 15 + 20 + 15 fit, 30 + 10 intent
    touch = re.search(rf'data-test="touch-{hot}">(\w+) · (\d{{4}}-\d\d-\d\d)<', page.text)  # its cadence's next touch
    assert touch is not None
    assert date.fromisoformat(touch.group(2)) == saas.clock.now.date()
    newest = parse(client.get("/leads?order=newest").text).tests
    assert newest.index(f"lead-{cold}") < newest.index(f"lead-{hot}")
    assert f"lead-{west}" in parse(saas.browser("root").get("/leads").text).tests
    assert client.get("/leads?order=shoe-size").status_code == 422
    assert client.get(f"/leads/{west}").status_code == 403


def test_the_scorecard_the_gate_and_the_conversion_carry_the_context_into_the_deal(saas: Site) -> None:
    lead_id = lead(saas, "ada", "Hana", company="Initech", email="hana@initech.io", source="demo_request",
                   fields={"company_size": "300", "pains": "manual reporting"})  # fmt: skip
    client = saas.browser("ada")
    csrf = saas.csrf(client)
    page = client.get(f"/leads/{lead_id}")
    assert page.status_code == 200
    tests = parse(page.text).tests
    assert {"lead-scores", "scorecard", "conversion", "timeline", "convert-form", "recycle-form"} <= set(tests)
    assert "Requested a demo" in page.text
    assert "MEDDIC too thin to open a deal" in page.text
    before = saas.events()
    refused = client.post(f"/leads/{lead_id}/convert", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert "refusal" in parse(refused.text).tests
    assert "MEDDIC too thin to open a deal (at least 2 of 6 confirmed) (score 0)" in refused.text
    assert saas.events() == before
    for element, note in (("identify_pain", "Reports take 2 days"), ("metrics", "Close books 3x faster")):
        answer = client.post(f"/leads/{lead_id}/scorecard", data={"csrf_token": csrf, "element": element, "note": note})
        assert answer.status_code == 303
    page = client.get(f"/leads/{lead_id}").text
    assert 'data-test="scorecard-score">2<' in page
    assert "gate-passed" in parse(page).tests
    converted = client.post(f"/leads/{lead_id}/convert", data={"csrf_token": csrf})
    assert converted.status_code == 303
    deal_id = converted.headers["location"].removeprefix("/deals/")
    deal = saas.load(deal_id)
    assert deal.owner == "ada"
    assert deal.title == "Initech"
    assert deal.value("company_size") == 300.0
    assert deal.value("source") == "demo_request"
    assert deal.qualification["meddic"]["identify_pain"].value == "Reports take 2 days"
    assert set(deal.qualification["meddic"]) == {"identify_pain", "metrics"}
    with saas.uow() as uow:
        contacts = queries.deal_contacts(uow.connection, deal_id=deal_id)
    assert [(c.id, c.name, c.email, c.role) for c in contacts] == [
        (lead_id.lower(), "Hana", "hana@initech.io", "primary")
    ]
    after = client.get(f"/leads/{lead_id}").text
    assert f'href="/deals/{deal_id}"' in after
    assert "convert-form" not in parse(after).tests


def test_a_manager_overrides_the_gate_with_a_reason_and_a_rep_cannot(saas: Site) -> None:
    lead_id = lead(saas, "ada", "Hana", email="hana@initech.io")
    rep = saas.browser("ada")
    refused = rep.post(
        f"/leads/{lead_id}/convert", data={"csrf_token": saas.csrf(rep), "override": "on", "override_reason": "x"}
    )
    assert refused.status_code == 403
    manager = saas.browser("max")
    csrf = saas.csrf(manager)
    assert "override_reason" in parse(manager.get(f"/leads/{lead_id}").text).values
    unwritten = manager.post(f"/leads/{lead_id}/convert", data={"csrf_token": csrf, "override": "on"})
    assert unwritten.status_code == 422
    assert "an override needs a written reason" in unwritten.text
    done = manager.post(
        f"/leads/{lead_id}/convert", data={"csrf_token": csrf, "override": "on", "override_reason": "CEO intro"}
    )
    assert done.status_code == 303
    with saas.uow() as uow:
        row = queries.get_lead(uow.connection, lead_id=lead_id)
    assert row is not None
    assert row.status == "converted"


def test_recycle_to_nurture_and_disqualify_from_the_page(saas: Site) -> None:
    first = lead(saas, "ada", "Later Lou", email="lou@acme.io")
    second = lead(saas, "ada", "Never Ned", email="ned@gmail.com")
    client = saas.browser("ada")
    csrf = saas.csrf(client)
    bad = client.post(f"/leads/{first}/recycle", data={"csrf_token": csrf, "reason": "timing", "until": "2026-02-01"})
    assert bad.status_code == 422
    assert "must be after today" in bad.text
    parked = client.post(
        f"/leads/{first}/recycle", data={"csrf_token": csrf, "reason": "timing", "until": "2026-06-01"}
    )
    assert parked.status_code == 303
    page = client.get(f"/leads/{first}").text
    assert "in nurture until 2026-06-01 (timing)" in page
    assert f"lead-{first}" in parse(client.get("/leads?status=nurture").text).tests
    assert client.post(f"/leads/{second}/disqualify", data={"csrf_token": csrf, "reason": "no_fit"}).status_code == 303
    assert 'data-test="lead-status">disqualified<' in client.get(f"/leads/{second}").text
    assert client.post(f"/leads/{second}/disqualify", data={"reason": "no_fit"}).status_code == 403  # no CSRF token


def test_the_learned_probability_and_its_factors_show_once_a_model_is_trained(saas: Site) -> None:
    before = lead(saas, "ada", "Before", source="demo_request")
    assert "no-model" in parse(saas.browser("ada").get(f"/leads/{before}").text).tests
    rows, won = synthetic_history(300)
    model = lead_model.train(rows, won, now=saas.clock())
    with saas.uow() as uow:
        store.save_model(uow.connection, process="saas", by="root", at=saas.clock(), n=model.n, auc=model.auc,
                         model=model.to_json())  # fmt: skip
        uow.commit()
    hot = lead(saas, "ada", "Hot", source="demo_request")
    client = saas.browser("ada")
    page = client.get(f"/leads/{hot}").text
    markers = parse(page).tests
    assert "learned" in markers
    assert "learned-factor" in markers
    assert "source is demo_request" in page
    expected = round(model.probability({"source=demo_request": 1.0}) * 100)
    assert f'data-test="learned-{hot}">{expected}%<' in client.get("/leads").text
