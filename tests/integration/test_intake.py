"""Intake and routing against the database, on SQLite and PostgreSQL: dedupe, spam protection,
routing state, out of office, capacity, fallback, speed-to-lead escalation and the CSV import."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from dealflow.errors import Forbidden, InvalidInput, TooManyAttempts
from dealflow.imports.csvfiles import read_table
from dealflow.process.loading import load_template
from dealflow.services import intake, routing
from dealflow.services import leads as sl
from dealflow.services import workspace as ws
from dealflow.store import tables as t
from dealflow.store.event_log import read_events, rebuild
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import Clock

PEOPLE = (
    ("root", ["admin"], None),
    ("ada", ["sdr"], "east"),
    ("eve", ["sdr"], "east"),
    ("lee", ["sdr"], "west"),
    ("max", ["manager"], "east"),
    ("wes", ["manager"], "west"),
)
Uow = Callable[[], UnitOfWork]


@pytest.fixture
def desk(uow_factory: Uow) -> Uow:
    """The standard process (website form, routing by region, 15-minute speed to lead) and a team."""
    with uow_factory() as uow:
        ws.install_process(uow=uow, source=load_template("standard")[1], name="standard.yaml")
    for user_id, roles, team in PEOPLE:
        with uow_factory() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.title(), roles=roles, team=team)
    return uow_factory


def post(
    engine: Engine, clock: Clock, address: str = "10.0.0.1", per_minute: int = 0, **values: Any
) -> intake.Received:
    return intake.submit(engine, clock, form_key="website", values=values, address=address, per_minute=per_minute)


def lead(engine: Engine, lead_id: str | None) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(t.leads).where(t.leads.c.id == lead_id)).one()


def events_of(engine: Engine, lead_id: str | None, kind: str | None = None) -> list[Any]:
    with engine.connect() as connection:
        found = [e for _, _, e in read_events(connection, stream=f"lead:{lead_id}")]
    return [e for e in found if kind is None or e.type == kind]


def count(engine: Engine, table: Any = t.leads) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


# Routing ---------------------------------------------------------------------------------------


def test_a_form_post_becomes_a_lead_routed_round_robin_in_its_territory(
    desk: Uow, engine: Engine, clock: Clock
) -> None:
    owners = []
    for i in range(4):
        received = post(engine, clock, name=f"Person {i}", email=f"p{i}@firm{i}.com", region="east")
        assert received.outcome == "created"
        row = lead(engine, received.lead_id)
        owners.append(row.owner)
        assert (row.process, row.form, row.source, row.fields) == ("standard", "website", "inbound", {"region": "east"})
        assert row.sla_due_at == clock.now.replace(minute=15)
    assert owners == ["ada", "eve", "ada", "eve"]
    assigned = events_of(engine, received.lead_id, "LeadAssigned")
    assert len(assigned) == 1
    data = assigned[0].data
    assert (data["owner"], data["previous_owner"], data["rule"]) == ("eve", None, "east")
    assert "round robin among ada, eve" in data["reason"]
    west = post(engine, clock, name="W", email="w@west.com", region="west")
    assert lead(engine, west.lead_id).owner == "lee"


def test_a_lead_no_rule_places_goes_to_the_fallback_with_the_reason(desk: Uow, engine: Engine, clock: Clock) -> None:
    received = post(engine, clock, name="Nowhere", email="n@nowhere.com")
    row = lead(engine, received.lead_id)
    assert row.owner == "max"
    (assigned,) = events_of(engine, received.lead_id, "LeadAssigned")
    assert assigned.data["rule"] == "fallback"
    assert "no routing rule matched" in assigned.data["reason"]


def test_reps_away_are_skipped_until_they_are_back(desk: Uow, engine: Engine, clock: Clock) -> None:
    with desk() as uow:
        routing.set_away(uow=uow, actor_id="ada", user_id="ada", until=clock.now.replace(day=4))
    owners = [
        lead(engine, post(engine, clock, name=f"P{i}", email=f"p{i}@a{i}.com", region="east").lead_id).owner
        for i in range(3)
    ]
    assert owners == ["eve", "eve", "eve"]
    with desk() as uow:
        routing.set_away(uow=uow, actor_id="lee", user_id="lee", until=clock.now.replace(day=4))
    west = post(engine, clock, name="W", email="w@w.com", region="west")
    assert lead(engine, west.lead_id).owner == "wes"  # the west team's manager, by the fallback
    assert "lee is away" in events_of(engine, west.lead_id, "LeadAssigned")[0].data["reason"]
    clock.advance(days=3)
    owners = {
        lead(engine, post(engine, clock, name=f"Q{i}", email=f"q{i}@b{i}.com", region="east").lead_id).owner
        for i in range(2)
    }
    assert owners == {"ada", "eve"}
    with desk() as uow, pytest.raises(InvalidInput, match="must be after"):
        routing.set_away(uow=uow, actor_id="ada", user_id="ada", until=clock.now.replace(year=2020))
    with desk() as uow, pytest.raises(Forbidden, match="only the user"):
        routing.set_away(uow=uow, actor_id="ada", user_id="eve", until=clock.now.replace(day=28))


def test_capacity_skips_reps_with_too_many_open_leads(desk: Uow, engine: Engine, clock: Clock) -> None:
    for i in range(40):  # max_open in the standard template
        with desk() as uow:
            sl.capture_lead(uow=uow, actor_id="root", name=f"Old {i}", owner="ada")
    owners = {
        lead(engine, post(engine, clock, name=f"P{i}", email=f"p{i}@c{i}.com", region="east").lead_id).owner
        for i in range(3)
    }
    assert owners == {"eve"}
    with engine.connect() as connection:
        reasons = [e.data["reason"] for _, _, e in read_events(connection) if e.type == "LeadAssigned"]
    assert all("ada is at capacity (40 open leads)" in reason for reason in reasons)


def test_round_robin_turns_are_not_shared_by_concurrent_posts(
    desk: Uow, engine: Engine, clock: Clock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; the concurrency is PostgreSQL's")
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                post(
                    engine,
                    clock,
                    address=f"10.1.{n}.{i}",
                    name=f"T{n}-{i}",
                    email=f"t{n}x{i}@t{n}x{i}.com",
                    region="east",
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with engine.connect() as connection:
        owners = Counter(connection.execute(select(t.leads.c.owner)).scalars())
        turns = connection.execute(select(t.routing_turns.c.turns)).scalar_one()
    assert owners == {"ada": 10, "eve": 10}
    assert turns == 20


def test_a_double_post_at_the_same_moment_makes_one_lead(
    desk: Uow, engine: Engine, clock: Clock, database_url: str
) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def worker(n: int) -> None:
        barrier.wait()
        received = post(engine, clock, address=f"10.2.0.{n}", name="Ann Lee", email="ann@acme.io", region="east")
        outcomes.append(received.outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "resubmitted", "resubmitted", "resubmitted"]
    assert count(engine) == 1


# Dedupe ----------------------------------------------------------------------------------------


def test_a_repeated_email_is_a_resubmission_not_a_new_lead(desk: Uow, engine: Engine, clock: Clock) -> None:
    first = post(engine, clock, name="Ann Lee", email="ann@acme.io", region="east")
    again = post(engine, clock, name="Ann", email="ANN@Acme.IO", region="east", message="still keen")
    assert again.outcome == "resubmitted"
    assert again.lead_id == first.lead_id
    assert count(engine) == 1
    (resubmitted,) = events_of(engine, first.lead_id, "LeadResubmitted")
    assert resubmitted.data["form"] == "website"
    assert resubmitted.data["fields"]["message"] == "still keen"
    assert resubmitted.data["matched_by"] == "email"


def test_the_same_person_at_the_same_company_is_a_duplicate(desk: Uow, engine: Engine, clock: Clock) -> None:
    first = post(engine, clock, name="Ann Lee", email="ann@gmail.com", company="Acme, Inc.")
    again = post(engine, clock, name="ann lee", email="ann.lee@yahoo.com", company="ACME")
    other = post(engine, clock, name="Bob Stone", email="bob@gmail.com", company="Acme")
    assert again.lead_id == first.lead_id
    assert other.outcome == "created"
    assert count(engine) == 2


def test_a_closed_lead_does_not_swallow_a_new_post(desk: Uow, engine: Engine, clock: Clock) -> None:
    first = post(engine, clock, name="Ann", email="ann@acme.io")
    with desk() as uow:
        sl.disqualify(uow=uow, actor_id="root", lead_id=str(first.lead_id), reason="no_fit", process_key="standard")
    assert lead(engine, first.lead_id).sla_due_at is None  # closing it stops the clock
    again = post(engine, clock, name="Ann", email="ann@acme.io")
    assert again.outcome == "created"
    assert again.lead_id != first.lead_id


def test_a_known_contact_or_account_links_the_new_lead(desk: Uow, engine: Engine, clock: Clock) -> None:
    with desk() as uow:
        ws.add_account(uow=uow, actor_id="root", account_id="acme", name="Acme Logistics GmbH", domain="acme.io")
    with desk() as uow:
        ws.add_account(uow=uow, actor_id="root", account_id="fjord", name="Fjord Analytics")
    with desk() as uow:
        ws.add_contact(
            uow=uow, actor_id="root", contact_id="kim", name="Kim", email="Kim@Fjord.example", account_id="fjord"
        )
    by_domain = post(engine, clock, name="Ann", email="ann@acme.io")
    by_contact = post(engine, clock, name="Kim", email="kim@fjord.example")
    by_name = post(engine, clock, name="Bo", email="bo@gmail.com", company="acme logistics")
    free_mail = post(engine, clock, name="Cy", email="cy@gmail.com")
    assert [lead(engine, r.lead_id).account_id for r in (by_domain, by_contact, by_name, free_mail)] == [
        "acme", "fjord", "acme", None,
    ]  # fmt: skip


def test_dedupe_keys_survive_a_rebuild(desk: Uow, engine: Engine, clock: Clock) -> None:
    received = post(engine, clock, name="Ann Lee", email="ann@acme.io", company="Acme Inc", region="east")
    before = lead(engine, received.lead_id)
    with desk() as uow:
        rebuild(uow)
        uow.commit()
    after = lead(engine, received.lead_id)
    assert before == after
    assert after.company_key == "acme"
    assert after.owner == "ada"


# Spam protection -------------------------------------------------------------------------------


def test_the_honeypot_drops_the_post_silently_and_counts_it(desk: Uow, engine: Engine, clock: Clock) -> None:
    received = post(engine, clock, name="Bot", email="bot@x.com", website_url="http://spam.example")
    assert received.outcome == "spam"
    assert received.lead_id is None
    assert count(engine) == 0
    with engine.connect() as connection:
        assert intake.attempt_counts(connection) == {"spam": 1}


def test_one_address_is_limited_per_minute_with_a_clear_message(desk: Uow, engine: Engine, clock: Clock) -> None:
    for i in range(5):
        post(engine, clock, per_minute=5, name=f"P{i}", email=f"p{i}@x{i}.com")
    with pytest.raises(TooManyAttempts, match="at most 5 a minute") as caught:
        post(engine, clock, per_minute=5, name="P6", email="p6@x6.com")
    assert 0 < caught.value.retry_after <= 61
    assert post(engine, clock, address="10.0.0.2", per_minute=5, name="Other", email="o@o.com").outcome == "created"
    clock.advance(seconds=61)
    assert post(engine, clock, per_minute=5, name="Later", email="l@l.com").outcome == "created"
    with engine.connect() as connection:
        assert intake.attempt_counts(connection) == {"created": 7, "limited": 1}
    clock.advance(days=1, seconds=1)
    post(engine, clock, per_minute=5, name="Next day", email="n@n.com")
    with engine.connect() as connection:
        assert intake.attempt_counts(connection) == {"created": 1}  # a day's posts are kept, no more


def test_hostile_input_is_refused_naming_the_field_and_writes_no_lead(desk: Uow, engine: Engine, clock: Clock) -> None:
    with pytest.raises(InvalidInput) as caught:
        post(engine, clock, name="A", email="a@b.co", message="x" * 100_000)
    assert caught.value.field == "message"
    assert "at most 4,000" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        post(engine, clock, name="A", email="<script>alert(1)</script>")
    assert caught.value.field == "email"
    hostile = post(engine, clock, name="<script>alert(1)</script>", email="s@s.com")
    assert lead(engine, hostile.lead_id).name == "<script>alert(1)</script>"
    assert count(engine) == 1
    with engine.connect() as connection:
        assert intake.attempt_counts(connection) == {"rejected": 2, "created": 1}


# Speed to lead ---------------------------------------------------------------------------------


def test_an_untouched_lead_escalates_and_is_reassigned_once(desk: Uow, engine: Engine, clock: Clock) -> None:
    received = post(engine, clock, name="Ann", email="ann@acme.io", region="east")
    assert lead(engine, received.lead_id).owner == "ada"
    assert routing.escalate_overdue_leads(engine, clock.advance(minutes=14)) == 0
    now = clock.advance(minutes=2)
    assert routing.escalate_overdue_leads(engine, now) == 1
    assert routing.escalate_overdue_leads(engine, now) == 0
    row = lead(engine, received.lead_id)
    assert row.owner == "eve"
    assert row.sla_due_at == now.replace(minute=31)
    (escalated,) = events_of(engine, received.lead_id, "LeadEscalated")
    assert escalated.data == {"previous_owner": "ada", "owner": "eve", "overdue_minutes": 1, "escalate_to": "max"}
    reassigned = events_of(engine, received.lead_id, "LeadAssigned")[-1].data
    assert reassigned["previous_owner"] == "ada"
    assert "not touched within 15 min" in reassigned["reason"]
    assert "ada already had it" not in reassigned["reason"] or reassigned["owner"] == "eve"


def test_a_touched_lead_does_not_escalate(desk: Uow, engine: Engine, clock: Clock) -> None:
    received = post(engine, clock, name="Ann", email="ann@acme.io", region="east")
    other = post(engine, clock, name="Bob", email="bob@acme2.io", region="east")
    clock.advance(minutes=5)
    with desk() as uow:
        sl.disqualify(uow=uow, actor_id="root", lead_id=str(received.lead_id), reason="no_fit", process_key="standard")
    assert routing.escalate_overdue_leads(engine, clock.advance(minutes=30)) == 1
    assert events_of(engine, received.lead_id, "LeadEscalated") == []
    assert lead(engine, received.lead_id).touched_at is not None
    assert lead(engine, other.lead_id).owner == "ada"  # eve had it, so it went back to ada


def test_escalation_with_nothing_due_reads_only_the_index(desk: Uow, engine: Engine, clock: Clock) -> None:
    for i in range(3):
        post(engine, clock, name=f"P{i}", email=f"p{i}@e{i}.com", region="east")
    before = count(engine, t.events)
    assert routing.escalate_overdue_leads(engine, clock.now) == 0
    assert count(engine, t.events) == before


# CSV import ------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_csv_import_routes_and_skips_what_is_there(desk: Uow, engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name,email,company,source,region\n"
        "Ann Lee,ann@acme.io,Acme,event,east\n"
        "Bob Stone,bob@bolt.io,Bolt,,west\n"
        "Ann Lee,ANN@acme.io,Acme Inc,,east\n",
    )
    with desk() as uow:
        found = intake.import_leads(uow=uow, actor_id="root", table=read_table(path), process_key="standard")
    assert len(found.created) == 2
    assert found.already == 1
    rows = [lead(engine, lead_id) for lead_id in found.created]
    assert [(r.owner, r.source, r.fields) for r in rows] == [
        ("ada", "event", {"region": "east"}),
        ("lee", "import", {"region": "west"}),
    ]
    with desk() as uow:
        again = intake.import_leads(uow=uow, actor_id="root", table=read_table(path), process_key="standard")
    assert again.created == []
    assert again.already == 3
    assert count(engine) == 2


def test_a_csv_with_bad_rows_imports_nothing_and_names_them(desk: Uow, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "name,email,company\nGood,good@g.io,G\n,nobody@x.io,X\nBad,not-an-email,B\n")
    with desk() as uow, pytest.raises(InvalidInput) as caught:
        intake.import_leads(uow=uow, actor_id="root", table=read_table(path), process_key="standard")
    message = caught.value.message
    assert "2 bad rows, nothing imported" in message
    assert "line 3: name: must not be empty" in message
    assert "line 4: email: not an email address" in message
    assert count(engine) == 0
    with desk() as uow, pytest.raises(InvalidInput, match="missing column 'name'"):
        intake.import_leads(
            uow=uow, actor_id="root", table=read_table(write(tmp_path, "email\na@b.co\n")), process_key="standard"
        )


def test_an_import_under_a_process_without_routing_still_gives_every_lead_an_owner(
    desk: Uow, engine: Engine, tmp_path: Path
) -> None:
    with desk() as uow:
        ws.install_process(uow=uow, source=load_template("saas")[1], name="saas.yaml")
    path = write(tmp_path, "name,email\nA,a@a.io\nB,b@b.io\nC,c@c.io\n")
    with desk() as uow:
        found = intake.import_leads(uow=uow, actor_id="root", table=read_table(path), process_key="saas")
    owners = [lead(engine, lead_id).owner for lead_id in found.created]
    assert owners == ["ada", "eve", "lee"]  # round robin among every SDR
