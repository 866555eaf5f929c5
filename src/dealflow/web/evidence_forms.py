"""Reading the evidence a page's form supplies (fields, next step, activity, contact, qualification,
approval, document) into the commands the evidence use case takes, all read before anything is written."""

from __future__ import annotations

from starlette.datastructures import FormData

from dealflow.domain import commands as cmds
from dealflow.domain.evidence import EvidenceCommand
from dealflow.errors import InvalidInput
from dealflow.process.criteria import ACTIVITY_KINDS
from dealflow.web import forms

MAX_PIECES = 50


def _keyed(form: FormData, prefix: str) -> list[tuple[str, str]]:
    """The ``prefix.<key>`` inputs a form filled in, as (key, value), blanks left out."""
    found = []
    for name in dict.fromkeys(form):
        if name.startswith(prefix) and (value := forms.text(form, name, required=False)):
            found.append((name.removeprefix(prefix)[:64], value))
    return found


def evidence_commands(form: FormData, actor_id: str) -> list[EvidenceCommand]:
    """The evidence a form supplies, all of it read before anything is written."""
    found: list[EvidenceCommand] = []
    if fields := forms.field_values(form):
        found.append(cmds.UpdateFields(fields=dict(fields)))
    if action := forms.text(form, "next_action", required=False):
        due, confirmed = forms.moment(form, "next_due"), forms.checkbox(form, "next_confirmed")
        found.append(cmds.SetNextStep(action=action, owner=actor_id, due=due, buyer_confirmed=confirmed))
    if summary := forms.text(form, "activity_summary", max_length=forms.LONG, required=False):
        kind = forms.required_text(form, "activity_kind", max_length=16)
        if kind not in ACTIVITY_KINDS:
            raise InvalidInput(f"'{kind}' is not one of: {', '.join(ACTIVITY_KINDS)}", field="activity_kind")
        found.append(cmds.LogActivity(kind=kind, summary=summary))
    found += [cmds.AttachContact(contact_id=contact, role=role) for role, contact in _keyed(form, "contact.")]
    for name, _on in _keyed(form, "qualify."):
        framework, _, element = name.partition(".")
        found.append(cmds.ScoreQualification(framework=framework, element=element))
    found += [cmds.RecordApproval(approval=kind, note=note) for kind, note in _keyed(form, "approval.")]
    found += [cmds.AttachDocument(document=kind, name=name) for kind, name in _keyed(form, "document.")]
    if len(found) > MAX_PIECES:
        raise InvalidInput(f"too much evidence at once (at most {MAX_PIECES} pieces)", field="evidence")
    return found
