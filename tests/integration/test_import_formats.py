"""Imports of HubSpot, Salesforce and Pipedrive exports and of any CSV read through a mapping file:
the numbers match the sample files (recomputed here from the files themselves), the planted data
problems are reported, a second import changes nothing, and a file of another format is refused
with the columns it lacks and nothing written."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dealflow.imports.history import slug
from dealflow.store import tables as t
from tests.factories import counts, dump, event_total

from .conftest import Cli

DATA = Path(__file__).parents[1] / "data" / "imports"
HUBSPOT = DATA / "hubspot_deals.csv"
SALESFORCE = DATA / "salesforce_opportunity_history.csv"
PIPEDRIVE = DATA / "pipedrive_deals.csv"
CUSTOM, CUSTOM_MAPPING = DATA / "custom.csv", DATA / "custom_mapping.yaml"
DAY = 86400.0


def rows_of(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def moment(value: str, fmt: str) -> datetime | None:
    """The UTC moment of ``value`` written as ``fmt``; None for an empty or impossible date."""
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None


def planned_visits(entries: list[tuple[str, datetime]], order: list[str], closed: tuple[str, datetime] | None):
    """(stage key, exit, seconds) of each finished stay, from the stages entered in order of time."""
    found = []
    for (stage, at), (nxt, nxt_at) in pairwise(entries):
        step = order.index(nxt) - order.index(stage)
        kind = "forward" if step == 1 else ("skip" if step > 1 else "backward")
        found.append((slug(stage), kind, (nxt_at - at).total_seconds()))
    if closed is not None:
        stage, at = entries[-1]
        found.append((slug(stage), closed[0], (closed[1] - at).total_seconds()))
    return found


def visits(engine: Engine, deal_id: str) -> list[tuple[str, str, float]]:
    v = t.stage_visits.c
    with engine.connect() as connection:
        query = select(v.stage, v.exit, v.seconds).where(v.deal_id == deal_id).order_by(v.left_at)
        return [(r.stage, r.exit, float(r.seconds)) for r in connection.execute(query)]


def deal(engine: Engine, deal_id: str) -> object:
    with engine.connect() as connection:
        return connection.execute(select(t.deals).where(t.deals.c.id == deal_id)).one()


def won_total(engine: Engine) -> Decimal:
    with engine.connect() as connection:
        amounts = connection.execute(select(t.deals.c.amount).where(t.deals.c.status == "won")).scalars()
        return sum((Decimal(a) for a in amounts if a is not None), Decimal(0))


def issues(report: object) -> set[tuple[str, str | None]]:
    return {(i["code"], i["ref"]) for i in report["issues"]}  # type: ignore[index]


# HubSpot: the sample follows HubSpot's knowledge base, "HubSpot's default deal properties" and
# "Use stage calculated properties" (one 'Date entered "<stage> (<pipeline>)"' column per stage of
# each pipeline), with the default Sales Pipeline stages.
HUBSPOT_STAGES = [
    "Appointment Scheduled",
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
]


def hubspot_entries(row: dict[str, str]) -> tuple[list[tuple[str, datetime]], dict[str, datetime]]:
    """The working stages a HubSpot row dates (oldest first) and the dates of its closed stages."""
    working, closed = [], {}
    for column, value in row.items():
        prefix, suffix = 'Date entered "', ' (Sales Pipeline)"'
        at = moment(value, "%Y-%m-%d %H:%M")
        if column.startswith(prefix) and column.endswith(suffix) and at is not None:
            stage = column[len(prefix) : -len(suffix)]
            if stage.startswith("Closed"):
                closed[stage] = at
            else:
                working.append((stage, at))
    return sorted(working, key=lambda e: e[1]), closed


def test_a_hubspot_export_imports_with_its_numbers(workspace: Cli, engine: Engine) -> None:
    report = workspace.json("import", str(HUBSPOT), "--format", "hubspot")
    first: dict[str, dict[str, str]] = {}
    for row in rows_of(HUBSPOT):
        if row["Pipeline"] == "Sales Pipeline":
            first.setdefault(row["Record ID"], row)
    skipped = {"18112509"}  # closed won before it entered its last stage
    kept = [r for ref, r in first.items() if ref not in skipped]
    status = {"Closed Won": "won", "Closed Lost": "lost"}
    expected = defaultdict(int)
    for row in kept:
        expected[status.get(row["Deal Stage"], "open")] += 1
    assert report["deals_new"] == len(kept)  # type: ignore[index]
    assert counts(engine) == dict(expected)
    assert won_total(engine) == sum(Decimal(r["Amount"]) for r in kept if r["Deal Stage"] == "Closed Won")

    acme = first["18112501"]
    entries, closed = hubspot_entries(acme)
    assert visits(engine, "HS-18112501") == planned_visits(entries, HUBSPOT_STAGES, ("won", closed["Closed Won"]))
    dune = first["18112504"]  # went back to Presentation Scheduled: HubSpot keeps only that latest entry
    entries, _ = hubspot_entries(dune)
    planned = planned_visits(entries, HUBSPOT_STAGES, None)
    assert visits(engine, "HS-18112504") == planned
    assert [kind for _, kind, _ in planned] == ["forward", "skip", "backward"]
    row = deal(engine, "HS-18112504")
    assert (row.stage, row.stage_entered_at) == (slug(entries[-1][0]), entries[-1][1])  # type: ignore[attr-defined]
    lost = deal(engine, "HS-18112505")
    assert lost.outcome_reason == first["18112505"]["Closed Lost Reason"]  # type: ignore[attr-defined]
    assert lost.source == first["18112505"]["Original Source Type"]  # type: ignore[attr-defined]


def test_the_hubspot_quality_report_lists_the_planted_problems(workspace: Cli) -> None:
    report = workspace.json("import", str(HUBSPOT), "--format", "hubspot")
    assert report["issue_counts"] == {  # type: ignore[index]
        "unknown_owner": 1,
        "bad_date": 1,
        "bad_amount": 1,
        "impossible_dates": 1,
        "duplicate": 1,
        "other_pipeline": 1,
    }
    assert {
        ("unknown_owner", "18112506"),  # no Deal owner
        ("bad_date", "18112508"),  # entered Presentation Scheduled on 2025-02-30
        ("bad_amount", "18112510"),  # Amount TBD
        ("impossible_dates", "18112509"),  # closed won before it entered Presentation Scheduled
        ("duplicate", "18112503"),  # the same row exported twice
    } <= issues(report)
    other = next(i for i in report["issues"] if i["code"] == "other_pipeline")  # type: ignore[index]
    assert "2 deals of pipeline 'Renewals' left out" in other["message"]
    assert report["process"] == "hubspot_sales_pipeline@1 (new)"  # type: ignore[index]


# Salesforce: the sample follows the "Opportunity History" report type (Salesforce Help, and the
# OpportunityHistory object reference): one row per change with From Stage, To Stage, Amount,
# Probability (%), Close Date and Last Modified, exported as "Details Only" CSV, US dates.
SALESFORCE_STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
]


def salesforce_changes() -> dict[str, list[tuple[datetime, dict[str, str]]]]:
    """Each opportunity's readable rows, duplicates dropped, oldest first."""
    found: dict[str, list[tuple[datetime, dict[str, str]]]] = defaultdict(list)
    seen = set()
    for row in rows_of(SALESFORCE):
        at = moment(row["Last Modified"], "%m/%d/%Y %I:%M %p")
        if at is None or tuple(row.values()) in seen:
            continue
        seen.add(tuple(row.values()))
        found[row["Opportunity ID"]].append((at, row))
    return {ref: sorted(changes, key=lambda c: c[0]) for ref, changes in found.items()}


def test_a_salesforce_opportunity_history_imports_with_its_numbers(workspace: Cli, engine: Engine) -> None:
    report = workspace.json("import", str(SALESFORCE), "--format", "salesforce")
    opportunities = salesforce_changes()
    final = {ref: changes[-1][1] for ref, changes in opportunities.items()}
    status = {"Closed Won": "won", "Closed Lost": "lost"}
    expected = defaultdict(int)
    for row in final.values():
        expected[status.get(row["To Stage"], "open")] += 1
    assert report["deals_new"] == len(opportunities)  # type: ignore[index]
    assert counts(engine) == dict(expected)
    assert won_total(engine) == sum(Decimal(r["Amount"]) for r in final.values() if r["To Stage"] == "Closed Won")

    def stages_entered(ref: str) -> list[tuple[str, datetime]]:
        entries: list[tuple[str, datetime]] = []
        for at, row in opportunities[ref]:
            if not row["To Stage"].startswith("Closed") and (not entries or entries[-1][0] != row["To Stage"]):
                entries.append((row["To Stage"], at))
        return entries

    acme = "0068d00000A1xKpAAJ"  # every stage in turn, with an amount edit in Value Proposition
    closed = ("won", opportunities[acme][-1][0])
    assert visits(engine, f"SF-{acme}") == planned_visits(stages_entered(acme), SALESFORCE_STAGES, closed)
    assert deal(engine, f"SF-{acme}").amount == Decimal(final[acme]["Amount"])  # type: ignore[attr-defined]
    dune = "0068d00000A1xKsAAJ"  # back from Value Proposition to Needs Analysis, then forward again
    planned = planned_visits(stages_entered(dune), SALESFORCE_STAGES, None)
    assert visits(engine, f"SF-{dune}") == planned
    assert "backward" in [kind for _, kind, _ in planned]
    cedar = "0068d00000A1xKrAAJ"  # skips Qualification
    assert "skip" in [kind for _, kind, _ in visits(engine, f"SF-{cedar}")]
    # The report starts after Kestrel was created: it entered its From Stage on its Created Date.
    kestrel = "0068d00000A1xKyAAJ"
    start, first_row = opportunities[kestrel][0]
    created = moment(first_row["Created Date"], "%m/%d/%Y")
    assert created is not None
    stay = visits(engine, f"SF-{kestrel}")[0]
    assert stay == (slug(first_row["From Stage"]), "forward", (start - created).total_seconds())
    assert deal(engine, "SF-0068d00000A1xKtAAJ").outcome_reason == "Price"  # type: ignore[attr-defined]


def test_the_salesforce_quality_report_lists_the_planted_problems(workspace: Cli) -> None:
    report = workspace.json("import", str(SALESFORCE), "--format", "salesforce")
    assert report["issue_counts"] == {"unknown_owner": 1, "duplicate": 1, "bad_date": 1}  # type: ignore[index]
    assert {
        ("unknown_owner", "0068d00000A1xKuAAJ"),  # no Opportunity Owner
        ("duplicate", "0068d00000A1xKvAAJ"),  # a history row exported twice
        ("bad_date", "0068d00000A1xKwAAJ"),  # Last Modified 2/30/2025
    } <= issues(report)


# Pipedrive: the sample follows Pipedrive's deal export ("Deal - <field>" columns, the Deals API
# fields add_time, stage_change_time, won_time, lost_time, status open/won/lost).
def test_a_pipedrive_export_imports_with_its_numbers(workspace: Cli, engine: Engine) -> None:
    report = workspace.json("import", str(PIPEDRIVE), "--format", "pipedrive")
    first: dict[str, dict[str, str]] = {}
    for row in rows_of(PIPEDRIVE):
        if row["Deal - Pipeline"] == "Sales":
            first.setdefault(row["Deal - ID"], row)
    skipped = {"109"}  # won before its last stage change
    kept = [r for ref, r in first.items() if ref not in skipped]
    expected = defaultdict(int)
    for row in kept:
        expected[row["Deal - Status"].lower()] += 1
    assert report["deals_new"] == len(kept)  # type: ignore[index]
    assert counts(engine) == dict(expected)
    assert won_total(engine) == sum(Decimal(r["Deal - Value"]) for r in kept if r["Deal - Status"] == "Won")

    fmt = "%Y-%m-%d %H:%M:%S"
    won = first["101"]
    entered, closed = moment(won["Deal - Last stage change"], fmt), moment(won["Deal - Won time"], fmt)
    assert entered is not None
    assert closed is not None
    assert visits(engine, "PD-101") == [(slug(won["Deal - Stage"]), "won", (closed - entered).total_seconds())]
    moved, never_moved = first["103"], first["102"]
    assert deal(engine, "PD-103").stage_entered_at == moment(moved["Deal - Last stage change"], fmt)  # type: ignore[attr-defined]
    assert deal(engine, "PD-102").stage_entered_at == moment(never_moved["Deal - Deal created"], fmt)  # type: ignore[attr-defined]
    assert deal(engine, "PD-102").outcome_reason == never_moved["Deal - Lost reason"]  # type: ignore[attr-defined]


def test_the_pipedrive_quality_report_lists_the_planted_problems(workspace: Cli) -> None:
    report = workspace.json("import", str(PIPEDRIVE), "--format", "pipedrive")
    assert report["issue_counts"] == {  # type: ignore[index]
        "unknown_owner": 1,
        "bad_date": 1,
        "impossible_dates": 1,
        "duplicate": 1,
        "other_pipeline": 1,
        "snapshot": 1,
        "mixed_currency": 1,
    }
    assert {
        ("unknown_owner", "107"),
        ("bad_date", "110"),  # last stage change on 2025-02-30
        ("impossible_dates", "109"),
        ("duplicate", "105"),
    } <= issues(report)
    rows = [r for r in rows_of(PIPEDRIVE) if r["Deal - Pipeline"] == "Sales"]
    moved = {
        r["Deal - ID"]
        for r in rows
        if r["Deal - Last stage change"]
        and r["Deal - Last stage change"] > r["Deal - Deal created"]
        and moment(r["Deal - Last stage change"], "%Y-%m-%d %H:%M:%S")
    }
    snapshot = next(i for i in report["issues"] if i["code"] == "snapshot")  # type: ignore[index]
    assert snapshot["message"].startswith(f"{len(moved)} deals moved after they were created")


def test_a_pipedrive_export_without_stage_change_times_says_so(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    rows = [r for r in rows_of(PIPEDRIVE) if r["Deal - Pipeline"] == "Sales" and r["Deal - ID"] in ("103", "104")]
    path = tmp_path / "deals.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        columns = [c for c in rows[0] if c != "Deal - Last stage change"]
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    report = workspace.json("import", str(path), "--format", "pipedrive")
    assert report["issue_counts"] == {"missing_date": 1}  # type: ignore[index]
    assert "all 2 deals enter their current stage on the date they were created" in report["issues"][0]["message"]  # type: ignore[index]
    assert deal(engine, "PD-104").stage_entered_at == moment(rows[1]["Deal - Deal created"], "%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]


# Mapping: an agency's pipeline kept in a spreadsheet (semicolon-separated, day-first dates), one
# row per stage entered; custom_mapping.yaml maps its columns and its Signed/Dead outcomes.
AGENCY_STAGES = ["Inquiry", "Scoping call", "Proposal", "Revision"]


def test_a_mapped_event_log_imports_with_its_numbers(workspace: Cli, engine: Engine) -> None:
    report = workspace.json("import", str(CUSTOM), "--format", "mapping", "--mapping", str(CUSTOM_MAPPING))
    seen, rows = set(), defaultdict(list)
    for row in rows_of(CUSTOM, delimiter=";"):
        at = moment(row["Changed on"], "%d/%m/%Y %H:%M")
        if at is not None and tuple(row.values()) not in seen:
            seen.add(tuple(row.values()))
            rows[row["Ref"]].append((at, row))
    skipped = {"C-05", "C-09"}  # enters 'Pilot', a stage the mapping does not list; signed before its proposal
    outcome = {"Signed": "won", "Dead": "lost"}
    final = {ref: max(changes, key=lambda c: c[0])[1] for ref, changes in rows.items() if ref not in skipped}
    expected = defaultdict(int)
    for row in final.values():
        expected[outcome.get(row["Phase"], "open")] += 1
    assert report["deals_new"] == len(final)  # type: ignore[index]
    assert counts(engine) == dict(expected)
    assert won_total(engine) == sum(Decimal(r["Value"]) for r in final.values() if r["Phase"] == "Signed")
    assert report["process"] == "agency@1 (new)"  # type: ignore[index]

    def stages_entered(ref: str) -> list[tuple[str, datetime]]:
        return [(r["Phase"], at) for at, r in sorted(rows[ref], key=lambda c: c[0]) if r["Phase"] not in outcome]

    signed = max(rows["C-01"], key=lambda c: c[0])[0]
    assert visits(engine, "AG-C-01") == planned_visits(stages_entered("C-01"), AGENCY_STAGES, ("won", signed))
    planned = planned_visits(stages_entered("C-04"), AGENCY_STAGES, None)
    assert visits(engine, "AG-C-04") == planned
    assert [kind for _, kind, _ in planned] == ["forward", "forward", "backward", "forward"]
    assert "skip" in [kind for _, kind, _ in visits(engine, "AG-C-03")]
    lost = deal(engine, "AG-C-02")
    assert (lost.outcome_reason, lost.source, lost.owner) == ("Budget cut", "Referral", "paul-meyer")  # type: ignore[attr-defined]


def test_the_mapped_quality_report_lists_the_planted_problems(workspace: Cli) -> None:
    report = workspace.json("import", str(CUSTOM), "--format", "mapping", "--mapping", str(CUSTOM_MAPPING))
    assert report["issue_counts"] == {  # type: ignore[index]
        "unknown_owner": 1,
        "duplicate": 1,
        "bad_date": 1,
        "bad_amount": 1,
        "unknown_stage": 1,
        "impossible_dates": 1,
    }
    assert {
        ("unknown_owner", "C-06"),
        ("duplicate", "C-07"),
        ("bad_date", "C-08"),  # 30/02/2025
        ("bad_amount", "C-10"),  # "approx 9k"
        ("unknown_stage", "C-05"),
        ("impossible_dates", "C-09"),
    } <= issues(report)


SNAPSHOT = """Deal,Name,Owner,Status,Lead on,Demo on,Proposal on,Won on,Lost on,Value
S1,Alpha,Ann Lee,Won,2025-01-02,2025-01-05,2025-01-09,2025-01-20,,1000
S2,Beta,Bob Ray,Demo,2025-01-03,2025-01-08,,,,500
S3,Gamma,Ann Lee,Lost,2025-01-04,,,,2025-01-10,700
"""
SNAPSHOT_MAPPING = """layout: snapshot
columns:
  deal_id: Deal
  title: Name
  owner: Owner
  stage: Status
  amount: Value
  stage_dates: {Lead: Lead on, Demo: Demo on, Proposal: Proposal on, Won: Won on, Lost: Lost on}
stages: [Lead, Demo, Proposal]
"""


def test_a_mapped_snapshot_reads_one_date_column_per_stage(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "pipeline.csv").write_text(SNAPSHOT, encoding="utf-8")
    (tmp_path / "sheet.yaml").write_text(SNAPSHOT_MAPPING, encoding="utf-8")
    report = workspace.json(
        "import", str(tmp_path / "pipeline.csv"), "--format", "mapping", "--mapping", str(tmp_path / "sheet.yaml")
    )
    assert report["issues"] == []  # type: ignore[index]
    assert counts(engine) == {"won": 1, "open": 1, "lost": 1}
    assert visits(engine, "MAP-S1") == [
        ("lead", "forward", 3 * DAY),
        ("demo", "forward", 4 * DAY),
        ("proposal", "won", 11 * DAY),
    ]
    assert visits(engine, "MAP-S3") == [("lead", "lost", 6 * DAY)]
    assert deal(engine, "MAP-S2").stage == "demo"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "path", "extra"),
    [
        ("hubspot", HUBSPOT, ()),
        ("salesforce", SALESFORCE, ()),
        ("pipedrive", PIPEDRIVE, ()),
        ("mapping", CUSTOM, ("--mapping", str(CUSTOM_MAPPING))),
    ],
)
def test_importing_the_same_export_again_changes_nothing(
    workspace: Cli, engine: Engine, fmt: str, path: Path, extra: tuple[str, ...]
) -> None:
    first = workspace.json("import", str(path), "--format", fmt, *extra)
    events = event_total(engine)
    with engine.connect() as connection:
        before = dump(connection)
    again = workspace.json("import", str(path), "--format", fmt, *extra)
    assert again["deals_unchanged"] == first["deals_new"]  # type: ignore[index]
    assert (again["deals_new"], again["events_written"]) == (0, 0)  # type: ignore[index]
    assert event_total(engine) == events
    with engine.connect() as connection:
        assert dump(connection) == before


@pytest.mark.parametrize(
    ("path", "fmt", "message"),
    [
        (
            HUBSPOT,
            "salesforce",
            "is not a Salesforce Opportunity History report: missing columns 'Opportunity Name', 'To Stage' "
            "(or 'Stage Name', 'StageName'), 'Last Modified' (or 'Edit Date'",
        ),
        (
            SALESFORCE,
            "hubspot",
            "is not a HubSpot deals export: missing columns 'Record ID' (or 'Deal ID'), 'Deal Name'",
        ),
        (PIPEDRIVE, "hubspot", "missing columns 'Record ID' (or 'Deal ID'), 'Deal Name', 'Deal Stage'"),
        (HUBSPOT, "pipedrive", "is not a Pipedrive deals export: missing columns 'Deal - ID', 'Deal - Title'"),
        (CUSTOM, "pipedrive", "missing columns 'Deal - ID'"),
    ],
)
def test_a_file_of_another_format_is_refused_and_nothing_is_written(
    workspace: Cli, engine: Engine, path: Path, fmt: str, message: str
) -> None:
    events = event_total(engine)
    assert workspace("import", str(path), "--format", fmt) == 2
    assert message in workspace.err
    assert event_total(engine) == events


def test_a_mapping_that_names_a_missing_column_is_refused_with_its_line(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    mapping = tmp_path / "map.yaml"
    text = CUSTOM_MAPPING.read_text(encoding="utf-8").replace("stage: Phase", "stage: Step")
    mapping.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  stage: Step") + 1
    events = event_total(engine)
    assert workspace("import", str(CUSTOM), "--format", "mapping", "--mapping", str(mapping)) == 2
    assert f"map.yaml:{line}: columns.stage: column 'Step' is not in custom.csv (columns: Ref, Client, Phase" in (
        workspace.err
    )
    assert event_total(engine) == events
    mapping.write_text("layout: log\ncolumns:\n  deal_id: Ref\n  colour: Client\noutcomes: {Signed: win}\n")
    assert workspace("import", str(CUSTOM), "--format", "mapping", "--mapping", str(mapping)) == 2
    assert "map.yaml has 3 problems" in workspace.err
    assert "map.yaml:1: layout: Input should be 'events' or 'snapshot'" in workspace.err
    assert "map.yaml:4: columns.colour: unknown setting 'colour'" in workspace.err
    assert "map.yaml:5: outcomes.Signed: Input should be 'won', 'lost' or 'disqualified'" in workspace.err
    mapping.write_text("layout: events\ncolumns:\n  deal_id: Ref\n  stage: Phase\n")
    assert workspace("import", str(CUSTOM), "--format", "mapping", "--mapping", str(mapping)) == 2
    assert "map.yaml:2: columns: 'timestamp' is required for layout: events" in workspace.err
    mapping.write_text("layout: [events\n")
    assert workspace("import", str(CUSTOM), "--format", "mapping", "--mapping", str(mapping)) == 2
    assert "map.yaml:2: malformed YAML" in workspace.err
    assert event_total(engine) == events


def test_mapping_option_and_format_go_together(workspace: Cli, engine: Engine) -> None:
    events = event_total(engine)
    assert workspace("import", str(CUSTOM), "--format", "mapping") == 2
    assert "--format mapping needs --mapping FILE.yaml" in workspace.err
    assert workspace("import", str(HUBSPOT), "--format", "hubspot", "--mapping", str(CUSTOM_MAPPING)) == 2
    assert "--mapping is for --format mapping, not hubspot" in workspace.err
    assert event_total(engine) == events


SKIPPING = """Deal,Name,Owner,Status,Prospecting on,Qualification on,Discovery on,Value
M1,Skipper,Ann Lee,Discovery,2025-01-02,,2025-01-09,1000
M2,Stepper,Ann Lee,Qualification,2025-01-02,2025-01-05,,500
"""
SKIPPING_MAPPING = """layout: snapshot
columns:
  deal_id: Deal
  title: Name
  owner: Owner
  stage: Status
  amount: Value
  stage_dates: {Prospecting: Prospecting on, Qualification: Qualification on, Discovery: Discovery on}
stages: [Prospecting, Qualification, Discovery]
"""


def test_a_mapped_import_into_a_written_process_flags_a_forbidden_skip_and_needs_a_role(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.csv").write_text(SKIPPING, encoding="utf-8")
    (tmp_path / "sheet.yaml").write_text(SKIPPING_MAPPING, encoding="utf-8")
    assert workspace("user", "add", "sam", "--name", "Sam", "--role", "ae", "--team", "east") == 0, workspace.err
    args = ["import", str(tmp_path / "pipeline.csv"), "--format", "mapping", "--mapping", str(tmp_path / "sheet.yaml")]
    assert workspace(*args, "--process", "standard", "--as", "sam") == 5
    report = workspace.json(*args, "--process", "standard")
    assert [(i["code"], i["ref"]) for i in report["issues"]] == [("forbidden_move", "M1")]  # type: ignore[index]
    with engine.connect() as connection:
        rows = connection.execute(
            select(t.events.c.stream, t.events.c.actor, t.events.c.data).where(t.events.c.type == "DealMoved")
        ).all()
    moves = {row.stream: row.data for row in rows}
    assert moves["deal:MAP-M1"]["forbidden"] is True
    assert "forbidden" not in moves["deal:MAP-M2"]
    assert {row.actor for row in rows} == {"founder"}  # the importer's, not Ann Lee's
    assert deal(engine, "MAP-M1").owner == "ann-lee"  # type: ignore[attr-defined]
