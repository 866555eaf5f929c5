"""What a criterion counts: work done in the stage (activities, the next step, documents,
approvals) only since the deal entered it, facts (fields, contacts, qualification) whenever they
were captured; ``since`` in the process file says otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dealflow.domain import commands as cmds
from dealflow.domain.deals import Deal
from dealflow.domain.gates import check
from dealflow.domain.moves import move_deal
from dealflow.errors import ProcessFileError
from dealflow.process.criteria import (
    ActivitySince,
    ContactRole,
    Criterion,
    DocumentAttached,
    FieldCaptured,
    NextStepSet,
)
from dealflow.process.loading import parse_process
from tests.factories import MANAGER, NOW, PROCESS, apply, give, new_deal

LATER = NOW + timedelta(days=1)


def moved_on() -> Deal:
    """A deal with a call, a next step, a document, a field and a contact, then moved on a day
    later: everything it holds predates the stage it is in."""
    deal = give(new_deal(), cmds.LogActivity(kind="call", summary="Intro"))
    deal = give(deal, cmds.SetNextStep(action="Demo", owner="ada", due=NOW + timedelta(days=9)))
    deal = give(deal, cmds.AttachDocument(document="proposal", name="p.pdf"))
    deal = give(deal, cmds.UpdateFields(fields={"pain": "Slow quotes"}))
    deal = give(deal, cmds.AttachContact(contact_id="c1", role="champion"))
    move = cmds.MoveDeal(to="qualification", override=True, reason="Referral")
    return apply(deal, move_deal(deal, move, process=PROCESS, actor=MANAGER, now=LATER))


@pytest.mark.parametrize(
    ("criterion", "counted"),
    [
        (ActivitySince(kind="activity", activity="call"), False),
        (ActivitySince(kind="activity", activity="call", since="ever"), True),
        (NextStepSet(kind="next_step"), False),
        (NextStepSet(kind="next_step", since="ever"), True),
        (DocumentAttached(kind="document", document="proposal"), False),
        (DocumentAttached(kind="document", document="proposal", since="ever"), True),
        (FieldCaptured(kind="field", field="pain"), True),
        (FieldCaptured(kind="field", field="pain", since="stage"), False),
        (ContactRole(kind="contact_role", role="champion"), True),
        (ContactRole(kind="contact_role", role="champion", since="stage"), False),
    ],
)
def test_each_kind_counts_evidence_from_where_it_says(criterion: Criterion, counted: bool) -> None:
    deal = moved_on()
    assert deal.stage == "qualification"
    unmet = check(criterion, deal, PROCESS, LATER)
    assert (unmet is None) == counted, unmet


def test_a_condition_takes_no_since() -> None:
    source = """key: x
name: X
version: 1
stages:
  - key: a
    name: A
    owner_role: rep
    exit:
      - kind: condition
        expr: "amount > 0"
        since: ever
  - key: b
    name: B
    owner_role: rep
"""
    with pytest.raises(ProcessFileError, match="since"):
        parse_process(source, name="x.yaml")
