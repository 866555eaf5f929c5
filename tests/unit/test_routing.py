"""The pure rules of intake and routing: form checks, dedupe keys, rule matching, strategies, fallbacks."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from dealflow.domain import routing as r
from dealflow.domain.intake import check_submission, company_key, email_domain, person_key
from dealflow.domain.routing import Assignment, Plan, Rep
from dealflow.errors import InvalidInput
from dealflow.process.checks import check_process
from dealflow.process.lead_intake import Form, Routing
from dealflow.process.loading import load_template, parse_process

STANDARD = load_template("standard")[0]
FORM = next(f for f in STANDARD.leads.forms if f.key == "website")
REPS = (
    Rep("ada", ("sdr",), "east"),
    Rep("eve", ("sdr",), "east"),
    Rep("lee", ("sdr",), "west"),
    Rep("max", ("manager",), "east"),
    Rep("wes", ("manager",), "west"),
    Rep("root", ("admin",), None),
)


def routing(**spec: object) -> Routing:
    return Routing.model_validate(spec)


def decide(rules: Routing, fields: dict[str, object], reps: tuple[Rep, ...] = REPS, turns: int = 1) -> list[str]:
    """The owners of ``turns`` leads with these fields, turn after turn."""
    owners = []
    for turn in range(turns):
        found = r.plan(rules, fields, reps, pool_prefix="p")
        assert found is not None
        owners.append((r.choose(found, turn) if isinstance(found, Plan) else found).owner)
    return owners


# Form checks -----------------------------------------------------------------------------------


def test_a_post_is_checked_field_by_field_naming_the_field() -> None:
    good = check_submission(FORM, {"name": " Ann Lee ", "email": "Ann@Example.COM", "region": "east"})
    assert (good.name, good.email, good.fields) == ("Ann Lee", "ann@example.com", {"region": "east"})
    cases = {
        "email": {"name": "Ann", "email": "not-an-email"},
        "name": {"name": "  ", "email": "a@b.co"},
        "message": {"name": "Ann", "email": "a@b.co", "message": "x" * 4001},
        "company": {"name": "Ann", "email": "a@b.co", "company": "y" * 201},
        "region": {"name": "Ann", "email": "a@b.co", "region": "mars"},
        "company_size": {"name": "Ann", "email": "a@b.co", "company_size": "lots"},
    }
    for field, values in cases.items():
        with pytest.raises(InvalidInput) as caught:
            check_submission(FORM, values)
        assert caught.value.field == field


@pytest.mark.parametrize("email", ["a@b", "a b@c.com", "<script>@x.com", "a@-x.com", "@x.com", "a@@x.com"])
def test_bad_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidInput, match="not an email"):
        check_submission(FORM, {"name": "Ann", "email": email})


def test_script_tags_are_kept_as_text_and_the_honeypot_marks_spam() -> None:
    hostile = "<script>alert(1)</script>"
    found = check_submission(FORM, {"name": hostile, "email": "a@b.co", "message": hostile})
    assert found.name == hostile
    assert found.fields["message"] == hostile
    assert not found.spam
    assert check_submission(FORM, {"name": "Bot", "email": "x", FORM.honeypot: "http://spam"}).spam


def test_a_form_must_collect_a_name_and_keep_its_honeypot_apart() -> None:
    with pytest.raises(ValidationError, match="must collect 'name'"):
        Form(key="f", fields=("email",))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="honeypot"):
        Form(key="f", fields=("name", "website_url"))  # type: ignore[arg-type]


# Dedupe keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme, Inc.", "ACME"),
        ("Müller GmbH", "muller"),
        ("The Fjord Co.", "Fjord"),
        ("Cobalt Foods Ltd", "cobalt foods"),
    ],
)
def test_company_names_match_without_case_punctuation_or_legal_suffix(a: str, b: str) -> None:
    assert company_key(a) == company_key(b)


def test_different_companies_and_people_stay_apart() -> None:
    assert company_key("Acme Logistics") != company_key("Acme Foods")
    assert person_key("Ann-Marie O'Neil") == person_key("ann marie o neil")
    assert company_key("Inc") == "inc"  # a name that is only a suffix is kept


def test_free_mail_domains_say_nothing_about_the_company() -> None:
    assert email_domain("ann@Acme.io") == "acme.io"
    assert email_domain("ann@gmail.com") is None
    assert email_domain(None) is None


# Routing ---------------------------------------------------------------------------------------

TERRITORIES = routing(
    rules=[
        {"name": "east", "when": {"region": ["east", "us-east"]}, "team": "east"},
        {"name": "west", "when": {"region": "west"}, "team": "west"},
        {"name": "big", "when": {"company_size": {"min": 1000}}, "users": ["lee"]},
    ],
    fallback={"role": "manager"},
)


def test_rules_match_on_lead_fields_in_order_case_insensitively() -> None:
    assert r.matching_rule(TERRITORIES, {"region": "US-East"}).name == "east"  # type: ignore[union-attr]
    assert r.matching_rule(TERRITORIES, {"region": "west", "company_size": 5000}).name == "west"  # type: ignore[union-attr]
    assert r.matching_rule(TERRITORIES, {"company_size": "5,000"}).name == "big"  # type: ignore[union-attr]
    assert r.matching_rule(TERRITORIES, {"company_size": "999"}) is None
    assert r.matching_rule(TERRITORIES, {}) is None


def test_round_robin_takes_turns_inside_the_matched_team() -> None:
    assert decide(TERRITORIES, {"region": "east"}, turns=4) == ["ada", "eve", "ada", "eve"]
    assert decide(TERRITORIES, {"region": "west"}, turns=2) == ["lee", "lee"]


def test_weighted_routing_gives_each_their_share_spread_out() -> None:
    rules = routing(rules=[{"name": "all", "weights": {"ada": 3, "eve": 1}}])
    owners = decide(rules, {}, turns=8)
    assert Counter(owners) == {"ada": 6, "eve": 2}
    assert owners[:4].count("eve") == 1
    assert r.weighted_sequence({"a": 2, "b": 1}) == ["a", "b", "a"]


def test_least_loaded_picks_the_rep_with_fewest_open_leads() -> None:
    reps = (Rep("ada", ("sdr",), "east", open_leads=4), Rep("eve", ("sdr",), "east", open_leads=1))
    rules = routing(strategy="least_loaded", rules=[{"name": "east", "team": "east"}])
    found = r.plan(rules, {}, reps, pool_prefix="p")
    assert isinstance(found, Assignment)
    assert found.owner == "eve"
    assert "least loaded" in found.reason


def test_reps_away_or_at_capacity_are_skipped_and_the_reason_says_so() -> None:
    reps = (Rep("ada", ("sdr",), "east", away=True), Rep("eve", ("sdr",), "east", open_leads=3), *REPS[2:])
    rules = routing(max_open=3, rules=[{"name": "east", "when": {"region": "east"}, "team": "east"}])
    found = r.plan(
        rules, {"region": "east"}, (reps[0], Rep("eve", ("sdr",), "east", open_leads=2), *REPS[2:]), pool_prefix="p"
    )
    assert isinstance(found, Plan)
    assert found.candidates == ("eve",)
    assert "ada is away" in found.note
    full = r.plan(rules, {"region": "east"}, reps, pool_prefix="p")
    assert isinstance(full, Assignment)
    assert full.rule == "fallback"
    assert "ada is away" in full.reason
    assert "eve is at capacity (3 open leads)" in full.reason


def test_a_rule_matching_nobody_falls_back_to_the_declared_fallback() -> None:
    found = r.plan(TERRITORIES, {"region": "mars"}, REPS, pool_prefix="p")
    assert isinstance(found, Assignment)
    assert found.rule == "fallback"
    assert "no routing rule matched" in found.reason
    assert "region=mars" in found.reason
    assert found.owner == "max"  # the least loaded manager
    nobody_west = tuple(rep for rep in REPS if rep.id != "lee")
    west = r.plan(TERRITORIES, {"region": "west"}, nobody_west, pool_prefix="p")
    assert isinstance(west, Assignment)
    assert west.owner == "wes"
    assert "team west" in west.reason
    by_user = routing(rules=[{"name": "x", "team": "nowhere", "fallback": {"user": "root"}}])
    assert decide(by_user, {}) == ["root"]


def test_without_any_fallback_a_lead_still_gets_an_owner() -> None:
    rules = routing(rules=[{"name": "x", "team": "nowhere"}])
    found = r.plan(rules, {}, REPS, pool_prefix="p")
    assert isinstance(found, Assignment)
    assert found.owner == "root"
    assert "no fallback" in found.reason
    assert r.plan(rules, {}, (), pool_prefix="p") is None


def test_escalation_excludes_the_previous_owner() -> None:
    found = r.plan(TERRITORIES, {"region": "east"}, REPS, pool_prefix="p", exclude=["ada"])
    assert isinstance(found, Plan)
    assert found.candidates == ("eve",)


def test_process_checks_name_unknown_roles_in_routing() -> None:
    source = load_template("standard")[1].replace("fallback: {role: manager}", "fallback: {role: wizard}")
    with pytest.raises(InvalidInput, match="unknown role 'wizard'"):
        parse_process(source, name="x.yaml")
    assert not [p for p in check_process(STANDARD) if p.path[0] == "leads"]


def test_the_standard_template_routes_by_the_demo_teams() -> None:
    rules = STANDARD.leads.routing
    assert rules is not None
    assert {rule.team for rule in rules.rules} == {"east", "west"}
    assert STANDARD.leads.speed_to_lead is not None
    assert STANDARD.leads.speed_to_lead.within.total_seconds() == 900
