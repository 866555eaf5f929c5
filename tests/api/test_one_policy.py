"""One table of who may do what to a deal, run through the use case, the REST API and the command line.

Every path asks the same policy in the use cases, so each case ends alike on all three: done, or
refused for the actor's role (Forbidden, 403, exit code 5). The deal is a fresh one owned by ada,
an east SDR, in its first stage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dealflow.cli.app import run
from dealflow.domain import commands as cmds
from dealflow.errors import DealflowError, Forbidden
from dealflow.services import deals as sd
from dealflow.store.unit_of_work import UnitOfWork

from .conftest import Api

V1 = "/api/v1"
OK, FORBIDDEN = "done", "forbidden"


def _update(uow: UnitOfWork, actor: str, deal: str) -> Any:
    return sd.capture_evidence(
        uow=uow, actor_id=actor, deal_id=deal, command=cmds.UpdateFields(fields={"source": "inbound"})
    )


def _log(uow: UnitOfWork, actor: str, deal: str) -> Any:
    command = cmds.LogActivity(kind="call", summary="Intro call")
    return sd.capture_evidence(uow=uow, actor_id=actor, deal_id=deal, command=command)


def _lose(uow: UnitOfWork, actor: str, deal: str) -> Any:
    return sd.close_deal(uow=uow, actor_id=actor, deal_id=deal, outcome="lost", reason="timing")


def _reassign(uow: UnitOfWork, actor: str, deal: str) -> Any:
    return sd.reassign_deal(uow=uow, actor_id=actor, deal_id=deal, to_owner="cyd", reason="West account")


def _approve(uow: UnitOfWork, actor: str, deal: str) -> Any:
    command = cmds.RecordApproval(approval="discount", note="15% off")
    return sd.capture_evidence(uow=uow, actor_id=actor, deal_id=deal, command=command)


def _override(uow: UnitOfWork, actor: str, deal: str) -> Any:
    return sd.move_deal(uow=uow, actor_id=actor, deal_id=deal, to="qualification", override=True, reason="Referral")


# Each action: the use case, the API request (method, path after the deal, body), the command line.
Action = tuple[Callable[[UnitOfWork, str, str], Any], tuple[str, str, dict[str, Any]], list[str]]
ACTIONS: dict[str, Action] = {
    "update a field": (
        _update,
        ("patch", "", {"fields": {"source": "inbound"}}),
        ["deal", "update", "{d}", "--field", "source=inbound"],
    ),
    "log a call": (
        _log,
        ("post", "/activities", {"kind": "call", "summary": "Intro call"}),
        ["activity", "log", "{d}", "call", "Intro call"],
    ),
    "lose it": (
        _lose,
        ("post", "/close", {"outcome": "lost", "reason": "timing"}),
        ["deal", "lose", "{d}", "--reason", "timing"],
    ),
    "give it to west": (
        _reassign,
        ("post", "/reassign", {"to_owner": "cyd", "reason": "West account"}),
        ["deal", "reassign", "{d}", "cyd", "--reason", "West account"],
    ),
    "approve a discount": (
        _approve,
        ("post", "/approvals", {"approval": "discount", "note": "15% off"}),
        ["deal", "approve", "{d}", "discount", "--note", "15% off"],
    ),
    "override its gate": (
        _override,
        ("post", "/moves", {"to": "qualification", "override": True, "reason": "Referral"}),
        ["deal", "move", "{d}", "qualification", "--override", "--reason", "Referral"],
    ),
}

# (actor, action) -> outcome. ada owns the deal; ben is in her team; cyd and wes are west; max
# manages east; root is revops and admin.
TABLE = {
    ("ada", "update a field"): OK,
    ("ada", "log a call"): OK,
    ("ada", "lose it"): OK,
    ("ada", "give it to west"): FORBIDDEN,  # a rep gives deals to their own team only
    ("ada", "override its gate"): FORBIDDEN,  # overrides are for managers, revops and admins
    ("ada", "approve a discount"): FORBIDDEN,  # never the deal's own owner
    ("ben", "approve a discount"): FORBIDDEN,
    ("max", "approve a discount"): OK,
    ("wes", "approve a discount"): FORBIDDEN,
    ("root", "approve a discount"): OK,
    ("ben", "update a field"): FORBIDDEN,
    ("ben", "lose it"): FORBIDDEN,
    ("cyd", "log a call"): FORBIDDEN,
    ("max", "update a field"): OK,
    ("max", "lose it"): OK,
    ("max", "give it to west"): FORBIDDEN,
    ("max", "override its gate"): OK,
    ("wes", "update a field"): FORBIDDEN,
    ("wes", "override its gate"): FORBIDDEN,  # a manager of another team
    ("wes", "give it to west"): FORBIDDEN,
    ("root", "give it to west"): OK,
    ("root", "override its gate"): OK,
}
CASES = sorted(TABLE)


def _fresh_deal(api: Api) -> str:
    with api.uow() as uow:
        return sd.create_deal(uow=uow, actor_id="ada", process_key=None, title="Acme: 40 seats").id


def _through_service(api: Api, actor: str, action: str) -> str:
    deal = _fresh_deal(api)
    try:
        with api.uow() as uow:
            ACTIONS[action][0](uow, actor, deal)
    except Forbidden:
        return FORBIDDEN
    return OK


def _through_api(api: Api, actor: str, action: str) -> str:
    deal = _fresh_deal(api)
    method, path, body = ACTIONS[action][1]
    answer = getattr(api.client(actor), method)(f"{V1}/deals/{deal}{path}", json=body)
    assert answer.status_code in (200, 201, 403), answer.text
    return OK if answer.status_code < 300 else FORBIDDEN


def _through_cli(api: Api, database_url: str, capsys: pytest.CaptureFixture[str], actor: str, action: str) -> str:
    deal = _fresh_deal(api)
    args = [part.replace("{d}", deal) for part in ACTIONS[action][2]]
    code = run([*args, "--db", database_url, "--as", actor])
    err = capsys.readouterr().err
    assert code in (0, 5), err
    return OK if code == 0 else FORBIDDEN


def test_the_table_covers_every_action() -> None:
    assert {action for _, action in TABLE} == set(ACTIONS)


@pytest.mark.parametrize(("actor", "action"), CASES, ids=[f"{a}-{b.replace(' ', '-')}" for a, b in CASES])
def test_every_path_gives_the_same_answer(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str], actor: str, action: str
) -> None:
    expected = TABLE[(actor, action)]
    found = {
        "service": _through_service(api, actor, action),
        "api": _through_api(api, actor, action),
        "cli": _through_cli(api, database_url, capsys, actor, action),
    }
    assert found == dict.fromkeys(found, expected)


def test_a_refusal_writes_nothing_and_names_the_rule(api: Api) -> None:
    deal = _fresh_deal(api)
    before = api.count()
    with pytest.raises(DealflowError, match="not yours to change") as refused, api.uow() as uow:
        _update(uow, "wes", deal)
    assert isinstance(refused.value, Forbidden)
    assert api.count() == before


def test_reads_on_the_command_line_with_as_see_what_the_api_shows(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deal = _fresh_deal(api)  # ada's, east
    db = ["--db", database_url]
    for actor, code in (("ada", 0), ("max", 0), ("root", 0), ("cyd", 5), ("wes", 5)):
        api_status = api.client(actor).get(f"{V1}/deals/{deal}").status_code
        assert (run(["deal", "show", deal, *db, "--as", actor]), api_status) == (code, 200 if code == 0 else 403)
        assert run(["review", deal, *db, "--as", actor]) == code
    capsys.readouterr()
    assert run(["deal", "list", "--json", *db, "--as", "cyd"]) == 0
    assert deal not in capsys.readouterr().out
    assert run(["deal", "list", "--json", *db, "--as", "max"]) == 0
    assert deal in capsys.readouterr().out
    assert run(["inspect", "--team", "east", *db, "--as", "wes"]) == 5
    assert run(["metrics", "--owner", "ada", *db, "--as", "cyd"]) == 5
    assert "your own deals only" in capsys.readouterr().err
