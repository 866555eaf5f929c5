"""How the command line shows one lead: as JSON, or as text with its scorecard, scores and gate."""

from __future__ import annotations

from typing import Any

from dealflow.analytics.lead_model import describe
from dealflow.cli.context import console
from dealflow.services.leads import LeadView


def lead_json(view: LeadView) -> dict[str, Any]:
    """The lead as ``lead show --json`` and ``score lead --json`` print it."""
    lead = view.lead
    found: dict[str, Any] = {
        "id": lead.id,
        "status": lead.status,
        "owner": lead.owner,
        "process": lead.process,
        "fields": {name: e.value for name, e in lead.fields.items()},
        "reengage_on": lead.reengage_on,
        "recycle_reason": lead.recycle_reason,
        "deal_id": lead.deal_id,
    }
    if view.framework is not None:
        card = lead.qualification.get(view.framework.key, {})
        found["scorecard"] = {
            "framework": view.framework.key,
            "score": len(card),
            "elements": {
                e.key: {"confirmed": e.key in card, "note": card[e.key].value if e.key in card else None}
                for e in view.framework.elements
            },
        }
    if view.score is not None:
        rules = view.score.rules
        found["scores"] = {
            "fit": rules.fit,
            "intent": rules.intent,
            "total": rules.total,
            "factors": [f.as_json() for f in rules.factors],
            "learned": view.score.learned,
            "learned_factors": [{"feature": describe(n), "weight": w} for n, w in view.score.learned_factors],
        }
    if view.gate is not None:
        found["conversion"] = {"passed": view.gate.passed, "missing": [str(u) for u in view.gate.unmet]}
    return found


def print_lead(view: LeadView) -> None:
    """The lead as text."""
    out = console()
    lead = view.lead
    process = lead.process or (f"{view.process.key} (the default)" if view.process else "none installed")
    out.print(f"{lead.id} · {lead.title} · {lead.status} · owner {lead.owner} · process {process}")
    if lead.reengage_on:
        out.print(f"in nurture until {lead.reengage_on} ({lead.recycle_reason})")
    for name, evidence in lead.fields.items():
        out.print(f"  {name}: {evidence.value}")
    if view.framework is not None:
        card = lead.qualification.get(view.framework.key, {})
        out.print(f"{view.framework.name} scorecard: {len(card)} of {len(view.framework.elements)}")
        for e in view.framework.elements:
            mark = "✔" if e.key in card else "✘"
            note = f" — {card[e.key].value}" if e.key in card and card[e.key].value else ""
            out.print(f"  {mark} {e.name}{note}")
    if view.score is not None:
        rules = view.score.rules
        out.print(f"fit {rules.fit} · intent {rules.intent} · total {rules.total}")
        for f in rules.factors:
            out.print(f"  {f.points:+d} {f.kind}: {f.rule}")
        if view.score.learned is not None:
            out.print(f"learned probability of winning: {view.score.learned:.0%}")
            for name, weight in view.score.learned_factors:
                out.print(f"  {weight:+.2f} {describe(name)}")
        else:
            out.print("learned score: no model trained (dealflow score train)")
    if view.gate is not None and lead.status == "open":
        if view.gate.passed:
            out.print("ready to convert into a deal")
        else:
            out.print("before it can become a deal:")
            for unmet in view.gate.unmet:
                out.print(f"  - {unmet}")
