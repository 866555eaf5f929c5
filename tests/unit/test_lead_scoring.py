"""The pure core of leads: rule scores, the scorecard, nurture, the conversion gate, the learned model."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from dealflow.analytics import lead_model
from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, Decision, Refusal
from dealflow.domain.lead_scores import score_lead
from dealflow.domain.lead_state import LeadState, evolve
from dealflow.domain.leads import convert_lead, create_lead, qualify_lead, recycle_lead
from dealflow.errors import InvalidInput, ProcessFileError, Refused
from dealflow.process.loading import load_template, parse_process
from tests.factories import synthetic_history

SAAS, SAAS_TEXT = load_template("saas")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SDR = Actor(id="ada", roles=("sdr",), team="east")
MANAGER = Actor(id="max", roles=("manager",), team="east")


def events_of(decision: Decision) -> list[ev.Event]:
    assert not isinstance(decision, Refusal), decision
    return decision


def apply(lead: LeadState | None, decision: Decision) -> LeadState:
    for event in events_of(decision):
        lead = evolve(lead, event)
    assert lead is not None
    return lead


def new_lead(email: str | None = "jane@acme.io", source: str | None = "demo_request", **fields: object) -> LeadState:
    decision = create_lead(
        "L-1", name="Jane Roe", company="Acme", email=email, source=source, owner="ada", actor=SDR, now=NOW,
        details={"process": "saas", "fields": dict(fields)},
    )  # fmt: skip
    return apply(None, decision)


def rules_fired(lead: LeadState, now: datetime = NOW) -> dict[str, int]:
    return {f.rule: f.points for f in score_lead(lead, SAAS, now).factors}


def test_fit_and_intent_rules_add_the_points_of_the_rules_that_fire() -> None:
    lead = new_lead(title="Head of Sales Ops", company_size="120", industry="software", pages=["/", "/pricing"])
    found = score_lead(lead, SAAS, NOW)
    assert found.fit == 15 + 20 + 15 + 10
    assert found.intent == 30 + 10 + 10
    assert found.factors[0].rule == "Requested a demo"  # the weightiest first
    assert found.total == found.fit + found.intent


def test_a_rule_on_an_answer_the_lead_never_gave_does_not_fire() -> None:
    fired = rules_fired(new_lead(email="jo@gmail.com", source="content"))
    assert fired == {"Free-mail address": -10, "Active in the last 3 days": 10}
    assert "Company of 50-5,000 people" not in rules_fired(new_lead(company_size="a lot"))


def test_keywords_match_whole_words_whatever_the_case() -> None:
    assert "Decision-maker title" in rules_fired(new_lead(title="VP, Revenue"))
    assert "Decision-maker title" not in rules_fired(new_lead(title="Vphone specialist"))


def test_recency_and_resubmissions_change_intent() -> None:
    lead = new_lead()
    assert "Active in the last 3 days" not in rules_fired(lead, NOW + timedelta(days=5))
    again = ev.Event("LeadResubmitted", "lead:L-1", NOW + timedelta(days=5), "web", {"form": "demo", "fields": {}})
    back = evolve(lead, again)
    fired = rules_fired(back, NOW + timedelta(days=5))
    assert fired["Came back and asked again"] == 10
    assert "Active in the last 3 days" in fired


def test_the_scorecard_confirms_and_withdraws_elements_with_notes() -> None:
    lead = new_lead()
    answers = {"identify_pain": (True, "Reps lose 5h a week"), "metrics": (True, "")}
    lead = apply(lead, qualify_lead(lead, answers, process=SAAS, actor=SDR, now=NOW))
    assert lead.score("meddic") == 2
    assert lead.qualification["meddic"]["identify_pain"].value == "Reps lose 5h a week"
    lead = apply(lead, qualify_lead(lead, {"metrics": (False, "")}, process=SAAS, actor=SDR, now=NOW))
    assert set(lead.qualification["meddic"]) == {"identify_pain"}
    with pytest.raises(InvalidInput, match="'budget' is not one of: metrics"):
        qualify_lead(lead, {"budget": (True, "")}, process=SAAS, actor=SDR, now=NOW)


def test_conversion_is_a_gate_listing_everything_missing_unless_overridden() -> None:
    lead = new_lead(email=None)
    refused = convert_lead(lead, "D-1", process=SAAS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    assert refused.kind == "gate"
    assert refused.reasons == (
        "MEDDIC too thin to open a deal (at least 2 of 6 confirmed) (score 0)",
        "No email address to send the discovery invite to",
    )
    forbidden = convert_lead(lead, "D-1", process=SAAS, actor=SDR, now=NOW, override=True, reason="warm intro")
    assert isinstance(forbidden, Refusal)
    assert forbidden.kind == "forbidden"
    unwritten = convert_lead(lead, "D-1", process=SAAS, actor=MANAGER, now=NOW, override=True, reason=" ")
    assert isinstance(unwritten, Refusal)
    assert "written reason" in unwritten.message
    done = events_of(convert_lead(lead, "D-1", process=SAAS, actor=MANAGER, now=NOW, override=True, reason="CEO intro"))
    assert done[0].data["override"] is True
    assert len(done[0].data["unmet"]) == 2
    answers = {"identify_pain": (True, "x"), "metrics": (True, "y")}
    ready = apply(new_lead(), qualify_lead(new_lead(), answers, process=SAAS, actor=SDR, now=NOW))
    assert events_of(convert_lead(ready, "D-1", process=SAAS, actor=SDR, now=NOW))[0].data == {
        "deal_id": "D-1",
        "process": "saas",
    }


def test_recycling_needs_a_known_reason_and_a_date_ahead() -> None:
    lead = new_lead()
    with pytest.raises(InvalidInput, match="'bored' is not a nurture reason"):
        recycle_lead(lead, "bored", date(2026, 6, 1), process=SAAS, actor=SDR, now=NOW)
    with pytest.raises(InvalidInput, match="must be after today"):
        recycle_lead(lead, "timing", date(2026, 3, 2), process=SAAS, actor=SDR, now=NOW)
    with pytest.raises(InvalidInput, match="at most 365 days ahead"):
        recycle_lead(lead, "timing", date(2028, 1, 1), process=SAAS, actor=SDR, now=NOW)
    parked = apply(lead, recycle_lead(lead, "timing", date(2026, 6, 1), process=SAAS, actor=SDR, now=NOW))
    assert (parked.status, parked.reengage_on) == ("nurture", date(2026, 6, 1))
    refused = recycle_lead(parked, "timing", date(2026, 7, 1), process=SAAS, actor=SDR, now=NOW)
    assert isinstance(refused, Refusal)
    assert "in nurture until 2026-06-01" in refused.message


def test_a_conversion_criterion_a_lead_cannot_meet_is_refused_at_load() -> None:
    text = SAAS_TEXT.replace("      - kind: field\n        field: email\n", "      - kind: next_step\n")
    with pytest.raises(
        ProcessFileError, match=r"leads.conversion.criteria\[1\].kind: a lead cannot meet a .next_step."
    ):
        parse_process(text, name="saas.yaml")
    other = SAAS_TEXT.replace(
        "        framework: meddic\n        min: 2\n        message: MEDDIC too thin",
        "        framework: bant\n        min: 2\n        message: MEDDIC too thin",
    )
    with pytest.raises(ProcessFileError, match="leads are qualified with meddic, so a bant score is never met"):
        parse_process(other, name="saas.yaml")
    typo = SAAS_TEXT.replace('when: "company_size >= 50 and', 'when: "compnay_size >= 50 and')
    _process, warnings = parse_process(typo, name="saas.yaml")
    assert len(warnings) == 1
    assert "leads.scoring.fit[2]: 'compnay_size' is neither a field of the process nor a usual answer" in warnings[0]
    assert parse_process(SAAS_TEXT, name="saas.yaml")[1] == []
    bad_rule = SAAS_TEXT.replace('when: "business_email", points: 15', "points: 15")
    with pytest.raises(ProcessFileError, match="a rule needs either 'when'"):
        parse_process(bad_rule, name="saas.yaml")


def test_the_learned_score_finds_the_feature_the_outcome_depends_on() -> None:
    rows, won = synthetic_history(400)
    model = lead_model.train(rows, won, now=NOW)
    assert model.auc > 0.7
    assert model.top_features(1)[0][0] == "source=demo_request"
    demo_lead = {"source=demo_request": 1.0, "#company_size": 4.0}
    assert model.factors(demo_lead)[0][0] == "source=demo_request"
    assert model.probability(demo_lead) > 0.6 > 0.3 > model.probability({"source=content": 1.0})


def test_a_stored_model_gives_exactly_the_probabilities_it_was_trained_with() -> None:
    rows, won = synthetic_history(200)
    model = lead_model.train(rows, won, now=NOW)
    back = lead_model.LearnedModel.from_json(json.loads(json.dumps(model.to_json())))
    assert back == model
    for row in rows[:50]:
        assert back.probability(row) == model.probability(row)
    x = np.array([model.vector(row) for row in rows])
    assert np.allclose(model.estimator.predict_proba(x)[:, 1], [back.probability(r) for r in rows], atol=1e-9)


@pytest.mark.parametrize(("won", "lost", "expected"), [(30, 9, "39 closed deals (30 won, 9 lost)"), (45, 4, "49")])
def test_too_little_history_is_refused_with_what_is_there_and_what_is_needed(
    won: int, lost: int, expected: str
) -> None:
    with pytest.raises(Refused) as caught:
        lead_model.check_history(won, lost, "saas")
    assert expected in caught.value.message
    assert "Needs at least 50 closed deals, with at least 10 won and 10 lost" in caught.value.reasons
    lead_model.check_history(40, 10, "saas")


def test_a_closed_deal_tells_the_model_what_a_lead_could_also_tell_it() -> None:
    from dealflow.domain import commands as cmds
    from dealflow.domain.deals import evolve as evolve_deal
    from dealflow.domain.lifecycle import create_deal

    fields = {"source": "demo_request", "company_size": "120", "amount": "30000", "fit": "strong", "seats": "40",
              "contract_term": "annual"}  # fmt: skip
    created = events_of(
        create_deal(cmds.CreateDeal("D-1", "Acme", "ada", fields=fields), process=SAAS, actor=SDR, now=NOW)
    )
    scored = ev.Event(
        ev.QUALIFICATION_SCORED,
        "deal:D-1",
        NOW,
        "ada",
        {"framework": "meddic", "element": "champion", "confirmed": True},
    )
    deal = evolve_deal(evolve_deal(None, created[0]), scored)
    found = lead_model.deal_features(deal, SAAS, NOW + timedelta(hours=3))
    assert found == {
        "source=demo_request": 1.0,
        "fit=strong": 1.0,
        "#company_size": pytest.approx(np.log1p(120)),
        "amount=25k-100k": 1.0,
        "meddic:champion": 1.0,
        "#hours_to_first_touch": pytest.approx(np.log1p(3)),
    }
    lead = new_lead(company_size="120", fit="strong")
    assert set(lead_model.lead_features(lead, SAAS)) == {"source=demo_request", "fit=strong", "#company_size"}
    # Seats and contract term are what winning requires (an outcome's required fields): they are
    # captured because the deal closed, so the model never learns from them (the found set above).
    assert deal.value("seats") == 40.0
    assert deal.value("contract_term") == "annual"
