"""Imports from other systems: the numbers match the files, re-imports change nothing, bad files
change nothing, and replaying the log rebuilds exactly what the import wrote."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from dealflow.analytics.inspection import inspect_deals
from dealflow.domain import events as ev
from dealflow.store import tables as t
from dealflow.store.event_log import rebuild
from dealflow.store.unit_of_work import UnitOfWork
from tests.factories import counts, dump, event_total

from .conftest import Cli

MAVEN = Path(__file__).parents[3] / "shared" / "data" / "maven-crm"
if not MAVEN.exists():
    MAVEN = Path(os.environ.get("DEALFLOW_MAVEN_DIR", "/work/shared/data/maven-crm"))


def maven_subset(folder: Path, rows: int) -> Path:
    """The Maven folder with only the first ``rows`` opportunities."""
    folder.mkdir()
    for name in ("sales_teams.csv", "accounts.csv", "products.csv"):
        shutil.copy(MAVEN / name, folder / name)
    with (MAVEN / "sales_pipeline.csv").open(encoding="utf-8") as source:
        lines = source.readlines()[: rows + 1]
    (folder / "sales_pipeline.csv").write_text("".join(lines), encoding="utf-8")
    return folder


def pipeline_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "sales_pipeline.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_maven_snapshot_imports_with_its_numbers_and_quality_report(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    folder = maven_subset(tmp_path / "maven", 600)
    rows = pipeline_rows(folder)
    report = workspace.json("import", str(folder), "--format", "maven")
    assert report["deals_new"] == len(rows)  # type: ignore[index]
    expected = {
        "won": sum(r["deal_stage"] == "Won" for r in rows),
        "lost": sum(r["deal_stage"] == "Lost" for r in rows),
        "open": sum(r["deal_stage"] in ("Engaging", "Prospecting") for r in rows),
    }
    assert counts(engine) == {k: v for k, v in expected.items() if v}
    with engine.connect() as connection:
        won_total = connection.execute(select(func.sum(t.deals.c.amount)).where(t.deals.c.status == "won")).scalar()
        renamed = connection.execute(select(func.count()).where(t.deals.c.product == "GTX Pro")).scalar()
        cycle = connection.execute(
            select(t.stage_visits.c.seconds).where(t.stage_visits.c.deal_id == f"MV-{rows[0]['opportunity_id']}")
        ).scalar()
    assert Decimal(won_total) == sum(Decimal(r["close_value"]) for r in rows if r["deal_stage"] == "Won")
    assert renamed == sum(r["product"] in ("GTXPro", "GTX Pro") for r in rows)
    first = rows[0]
    days = (date.fromisoformat(first["close_date"]) - date.fromisoformat(first["engage_date"])).days
    assert cycle == days * 86400
    codes = report["issue_counts"]  # type: ignore[index]
    assert codes["product_renamed"] == 1
    assert "missing_account" in codes


def test_importing_the_same_file_again_changes_nothing_and_rebuild_is_exact(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    folder = maven_subset(tmp_path / "maven", 300)
    assert workspace("import", str(folder), "--format", "maven") == 0
    events = event_total(engine)
    with engine.connect() as connection:
        before = dump(connection)
    report = workspace.json("import", str(folder), "--format", "maven")
    assert report["deals_unchanged"] == 300  # type: ignore[index]
    assert report["events_written"] == 0  # type: ignore[index]
    assert event_total(engine) == events
    with UnitOfWork(engine) as uow:
        rebuild(uow)
        uow.commit()
    with engine.connect() as connection:
        assert dump(connection) == before


EVENT_LOG = """deal_id,stage,timestamp,owner,amount,title,team,source,reason
A1,Lead,2026-01-05,Ann Smith,1000,Alpha,east,web,
A1,Demo,2026-01-10,Ann Smith,1200,Alpha,east,web,
A1,Proposal,2026-01-20,Ann Smith,,Alpha,east,web,
A1,Closed Won,2026-02-01,Ann Smith,1500,Alpha,east,web,
B2,Lead,2026-01-06,Bob Jones,800,Beta,west,event,
B2,Proposal,2026-01-15,Bob Jones,,Beta,west,event,
B2,Demo,2026-01-25,Bob Jones,,Beta,west,event,
B2,Closed Lost,2026-02-10,Bob Jones,,Beta,west,event,price
C3,Lead,2026-01-07,Ann Smith,500,Gamma,east,web,
"""


def test_an_event_log_becomes_moves_with_kinds_durations_and_outcomes(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(EVENT_LOG, encoding="utf-8")
    report = workspace.json("import", str(path), "--format", "events")
    assert report["deals_new"] == 3  # type: ignore[index]
    assert report["users_added"] == 2  # type: ignore[index]
    with engine.connect() as connection:
        visits = connection.execute(
            select(
                t.stage_visits.c.deal_id, t.stage_visits.c.stage, t.stage_visits.c.exit, t.stage_visits.c.seconds
            ).order_by(t.stage_visits.c.deal_id, t.stage_visits.c.left_at)
        ).all()
        deals = {r.id: r for r in connection.execute(select(t.deals))}
        process = connection.execute(select(t.processes.c.source)).scalars().all()
    day = 86400
    assert [tuple(v) for v in visits] == [
        ("EV-A1", "lead", "forward", 5 * day),
        ("EV-A1", "demo", "forward", 10 * day),
        ("EV-A1", "proposal", "won", 12 * day),
        ("EV-B2", "lead", "skip", 9 * day),
        ("EV-B2", "proposal", "backward", 10 * day),
        ("EV-B2", "demo", "lost", 16 * day),
    ]
    assert deals["EV-A1"].status == "won"
    assert deals["EV-A1"].amount == Decimal("1500")
    assert deals["EV-B2"].outcome_reason == "price"
    assert deals["EV-B2"].source == "event"
    assert deals["EV-C3"].status == "open"
    assert deals["EV-C3"].owner == "ann-smith"
    assert any("key: lead" in p and "key: proposal" in p for p in process)


def test_a_later_export_appends_only_what_happened_since(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(EVENT_LOG, encoding="utf-8")
    assert workspace("import", str(path)) == 0
    events = event_total(engine)
    path.write_text(EVENT_LOG + "C3,Demo,2026-02-12,Ann Smith,,Gamma,east,web,\n", encoding="utf-8")
    report = workspace.json("import", str(path))
    assert (report["deals_extended"], report["deals_unchanged"], report["events_written"]) == (1, 2, 1)  # type: ignore[index]
    assert event_total(engine) == events + 1
    with engine.connect() as connection:
        assert connection.execute(select(t.deals.c.stage).where(t.deals.c.id == "EV-C3")).scalar() == "demo"


def test_impossible_dates_and_bad_values_are_reported_not_dropped_silently(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        EVENT_LOG
        + "D4,Lead,2026-01-08,Ann Smith,lots,Delta,east,web,\n"
        + "E5,Lead,2026-03-01,Ann Smith,,Eps,east,web,\nE5,Closed Won,2026-02-01,Ann Smith,,Eps,east,web,\n",
        encoding="utf-8",
    )
    report = workspace.json("import", str(path))
    codes = report["issue_counts"]  # type: ignore[index]
    assert codes == {"impossible_dates": 1, "bad_amount": 1}
    assert report["deals_new"] == 4
    assert report["deals_skipped"] == 1
    assert counts(engine) == {"won": 1, "lost": 1, "open": 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("deal,stage,when\nA,Lead,2026-01-01\n", "missing columns 'deal_id', 'timestamp'"),
        (
            "deal_id,stage,timestamp\nA,Lead,2026-01-05\nA,Demo,01/20/2026\n",
            "mixes date formats ('2026-01-05' and '01/20/2026')",
        ),
        ("deal_id,stage,timestamp\nA,Lead,03/04/2026\nA,Demo,05/06/2026\n", "give --date-format"),
        ("deal_id,stage,timestamp\nA,Lead,soon\n", "not a date in a known format"),
        ("deal_id,stage,timestamp,owner\n", "holds no stage entries"),
        ("deal_id,stage,timestamp\nA,Closed Won,2026-01-05\n", "only outcome rows"),
    ],
)
def test_a_malformed_file_is_refused_and_nothing_is_written(
    workspace: Cli, engine: Engine, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    events = event_total(engine)
    assert workspace("import", str(path)) == 2
    assert message in workspace.err
    assert event_total(engine) == events


def test_a_file_whose_deals_all_pass_through_one_stage_imports(workspace: Cli, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("deal_id,stage,timestamp\nA,Lead,2026-01-05\nA,Won,2026-01-09\nB,Lead,2026-01-07\n")
    report = workspace.json("import", str(path))
    assert isinstance(report, dict)
    assert report["deals_new"] == 2
    assert (report["process"], report["default_process"]) == ("imported@1 (new)", "standard")
    metrics = workspace.json("metrics", "--process", "imported")
    assert isinstance(metrics, dict)
    assert (metrics["deals_won"], metrics["deals_open"]) == (1, 1)
    assert workspace("process", "default", "imported") == 0
    now_default = workspace.json("metrics")
    assert isinstance(now_default, dict)
    assert (now_default["process"], now_default["deals_won"], now_default["deals_open"]) == ("imported", 1, 1)


def test_wrong_encoding_and_huge_files_are_refused(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("deal_id,stage,timestamp\nA,Pr\xe9sentation,2026-01-05\n".encode("latin-1"))
    events = event_total(engine)
    assert workspace("import", str(latin)) == 2
    assert "not UTF-8 text (line 2" in workspace.err
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:
        f.truncate(2 * 2**30)  # a sparse 2 GiB file
    assert workspace("import", str(huge)) == 2
    assert "huge.csv is 2.0 GiB; imports take files up to 1.0 GiB" in workspace.err
    assert workspace("import", str(tmp_path / "missing.csv")) == 2
    assert "cannot read" in workspace.err
    assert workspace("import", str(latin), "--format", "sap") == 2
    assert "unknown format 'sap'" in workspace.err
    assert event_total(engine) == events


SKIPPING_LOG = """deal_id,stage,timestamp,owner,amount,title,team,source,reason
S1,Prospecting,2026-01-05,Ann Smith,1000,Skipper,east,web,
S1,Discovery,2026-01-10,Ann Smith,1200,Skipper,east,web,
S2,Prospecting,2026-01-05,Ann Smith,1000,Stepper,east,web,
S2,Qualification,2026-01-10,Ann Smith,1200,Stepper,east,web,
"""


def test_a_move_the_installed_process_forbids_is_marked_reported_and_inspected(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(SKIPPING_LOG, encoding="utf-8")
    report = workspace.json("import", str(path), "--format", "events", "--process", "standard")
    flagged = [i for i in report["issues"] if i["code"] == "forbidden_move"]  # type: ignore[index]
    assert [i["ref"] for i in flagged] == ["S1"]
    assert "Discovery" in flagged[0]["message"]
    with engine.connect() as connection:
        moves = {
            row.stream: row.data for row in connection.execute(select(t.events).where(t.events.c.type == ev.DEAL_MOVED))
        }
        findings = {f.deal_id: {r.code for r in f.reasons} for f in inspect_deals(connection, now=datetime.now(UTC))}
    assert moves["deal:EV-S1"]["forbidden"] is True
    assert moves["deal:EV-S1"]["imported"] is True
    assert "forbidden" not in moves["deal:EV-S2"]
    assert "forbidden_move" in findings["EV-S1"]
    assert "forbidden_move" not in findings.get("EV-S2", set())


def test_an_import_is_history_by_the_importer_not_impersonation(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(EVENT_LOG, encoding="utf-8")
    assert workspace("user", "add", "sam", "--name", "Sam", "--role", "ae", "--team", "east") == 0, workspace.err
    assert workspace("user", "add", "rita", "--name", "Rita", "--role", "revops") == 0, workspace.err
    before = event_total(engine)
    assert workspace("import", str(path), "--as", "sam") == 5
    assert "only revops or admin may import deal history" in workspace.err
    assert event_total(engine) == before
    assert workspace("import", str(path), "--as", "rita") == 0, workspace.err
    with engine.connect() as connection:
        actors = set(
            connection.execute(select(t.events.c.actor).where(t.events.c.stream.startswith("deal:"))).scalars()
        )
        created = connection.execute(
            select(t.events.c.data).where(t.events.c.stream == "deal:EV-A1", t.events.c.type == ev.DEAL_CREATED)
        ).scalar_one()
        owner = connection.execute(select(t.deals.c.owner).where(t.deals.c.id == "EV-A1")).scalar_one()
    assert actors == {"rita"}  # every deal event is the importer's
    assert owner == "ann-smith"  # the source's owner owns the deal
    assert created["imported"] == {"format": "events", "ref": "A1", "user": "Ann Smith"}
    # Another admin importing the same file again changes nothing.
    report = workspace.json("import", str(path), "--as", "founder")
    assert (report["deals_unchanged"], report["events_written"]) == (3, 0)  # type: ignore[index]
