"""The shipped process templates load cleanly and follow the rules of a sound process."""

from __future__ import annotations

from functools import cache

import pytest

from dealflow.process.criteria import DocumentAttached, FieldCaptured, NextStepSet
from dealflow.process.loading import load_template, parse_process, template_names
from dealflow.process.models import Process

EXPECTED = ["agency", "recruiting", "saas", "small_business", "standard"]


@cache
def _load(name: str) -> tuple[Process, tuple[str, ...]]:
    _, text = load_template(name)
    process, warnings = parse_process(text, name=f"{name}.yaml")
    return process, tuple(warnings)


def _gated_fields(process: Process, stage_key: str) -> set[str]:
    """The fields a deal must hold before leaving a stage: required ones and field criteria."""
    stage = process.stage(stage_key)
    assert stage is not None, f"{process.key} has no stage '{stage_key}'"
    criteria = {c.field for c in stage.exit if isinstance(c, FieldCaptured)}
    return set(stage.required) | criteria


def test_the_shipped_templates_are_the_expected_ones() -> None:
    assert template_names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_template_loads_without_warnings(name: str) -> None:
    process, warnings = _load(name)
    assert warnings == ()
    assert process.key == name


@pytest.mark.parametrize("name", EXPECTED)
def test_stage_keys_are_unique(name: str) -> None:
    process, _ = _load(name)
    keys = [s.key for s in process.stages]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", EXPECTED)
def test_every_sales_stage_but_the_last_demands_evidence(name: str) -> None:
    process, _ = _load(name)
    for stage in process.sales_stages[:-1]:
        assert stage.exit or stage.required, f"{name}: stage '{stage.key}' can be left without evidence"


@pytest.mark.parametrize("name", EXPECTED)
def test_every_criterion_speaks_to_the_rep(name: str) -> None:
    process, _ = _load(name)
    criteria = [c for s in process.stages for c in (*s.entry, *s.exit)]
    criteria += [c for o in (process.outcomes.won, process.outcomes.lost) for c in o.criteria]
    for criterion in criteria:
        assert criterion.message, f"{name}: a {criterion.kind} criterion has no message"


@pytest.mark.parametrize("name", EXPECTED)
def test_cadence_has_at_least_five_touches(name: str) -> None:
    process, _ = _load(name)
    assert len(process.cadence.touches) >= 5


@pytest.mark.parametrize("name", EXPECTED)
def test_a_change_of_owner_carries_context(name: str) -> None:
    process, _ = _load(name)
    for before, after in zip(process.stages, process.stages[1:], strict=False):
        if before.owner_role != after.owner_role:
            assert after.handoff.context, (
                f"{name}: '{after.key}' receives the deal from {before.owner_role} but declares no handoff context"
            )


@pytest.mark.parametrize("name", EXPECTED)
def test_roles_cover_owners_and_overrides(name: str) -> None:
    process, _ = _load(name)
    assert {s.owner_role for s in process.stages} <= set(process.roles)
    assert {"manager", "revops", "admin"} <= set(process.roles)


def test_agency_captures_scope_before_the_proposal_goes_out() -> None:
    process, _ = _load("agency")
    scope = {"scope_included", "scope_excluded", "scope_assumed"}
    for key in scope:
        assert process.field_type(key) == "text"
    assert scope <= _gated_fields(process, "scoping_call") | _gated_fields(process, "proposal")


def test_agency_onboarding_is_run_by_delivery_with_the_scope() -> None:
    process, _ = _load("agency")
    onboarding = process.stage("onboarding")
    assert onboarding is not None
    assert onboarding.post_sale
    assert onboarding.owner_role == "delivery"
    context = set(onboarding.handoff.context)
    assert {"scope_included", "scope_excluded", "scope_assumed", "documents"} <= context


def test_saas_demo_ends_with_a_buyer_confirmed_next_step() -> None:
    process, _ = _load("saas")
    demo = process.stage("demo")
    assert demo is not None
    assert any(isinstance(c, NextStepSet) and c.buyer_confirmed for c in demo.exit)


def test_saas_discovery_comes_before_the_demo_and_leads_are_answered_fast() -> None:
    process, _ = _load("saas")
    assert process.index("discovery") < process.index("demo")
    assert not any(process.index(s.from_) < process.index("discovery") for s in process.moves.skips)
    first = process.stages[0]
    assert first.sla is not None
    assert first.sla.total_seconds() <= 4 * 3600


def test_recruiting_hands_the_intake_to_the_recruiter() -> None:
    process, _ = _load("recruiting")
    kickoff = process.stage("search_kickoff")
    assert kickoff is not None
    assert kickoff.owner_role == "recruiter"
    context = set(kickoff.handoff.context)
    assert {"hiring_criteria", "urgency", "stakeholders", "role_specifics"} <= context
    assert process.won_from == ("placement",)


def test_recruiting_search_starts_only_with_a_signed_fee_agreement() -> None:
    process, _ = _load("recruiting")
    before_kickoff = process.stages[: process.index("search_kickoff")]
    gates = [c for s in before_kickoff for c in s.exit]
    kickoff = process.stage("search_kickoff")
    assert kickoff is not None
    gates += kickoff.entry
    assert any(isinstance(c, DocumentAttached) and c.document == "fee_agreement" for c in gates)
