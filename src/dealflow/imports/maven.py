"""Snapshot-style CRM tables like the Maven Analytics "CRM Sales Opportunities" set.

``sales_pipeline.csv`` holds one row per opportunity with its current stage (Prospecting,
Engaging, Won, Lost), ``engage_date`` (when Engaging began) and ``close_date``; the sibling files
``sales_teams.csv`` (agent, manager, office), ``accounts.csv`` (sector) and ``products.csv``
(list price) are read when they sit in the same folder.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from dealflow.errors import InvalidInput
from dealflow.imports.csvfiles import Table, as_date, date_column, parse_amount, read_table
from dealflow.imports.history import DealHistory, ImportReport, StageEntry, outcome_of, slug
from dealflow.imports.sources import Source

PIPELINE = "sales_pipeline.csv"
COLUMNS = (
    "opportunity_id",
    "sales_agent",
    "product",
    "account",
    "deal_stage",
    "engage_date",
    "close_date",
    "close_value",
)


def _sibling(folder: Path, name: str) -> Table | None:
    path = folder / name
    return read_table(path) if path.exists() else None


def _squash(name: str) -> str:
    return slug(name).replace("_", "")


def read_snapshot(path: Path, *, report: ImportReport, date_format: str | None = None) -> Source:
    """Deal histories from a Maven-style folder (or its ``sales_pipeline.csv``)."""
    folder = path if path.is_dir() else path.parent
    pipeline = read_table(folder / PIPELINE if path.is_dir() else path)
    pipeline.require(COLUMNS, what="a sales pipeline snapshot")
    teams, accounts, products = (_sibling(folder, n) for n in ("sales_teams.csv", "accounts.csv", "products.csv"))
    team_of = {r["sales_agent"]: r.get("manager", "") for r in (teams.rows if teams else [])}
    managers = {r["manager"]: r["manager"] for r in (teams.rows if teams else []) if r.get("manager")}
    sector_of = {r["account"]: r.get("sector", "") for r in (accounts.rows if accounts else [])}
    price_of = {
        _squash(r["product"]): (r["product"], parse_amount(r.get("sales_price", "")))
        for r in (products.rows if products else [])
    }
    engaged = date_column(pipeline, "engage_date", forced=date_format)
    closed = date_column(pipeline, "close_date", forced=date_format)
    moments = [m for r in pipeline.rows for m in (engaged.parse(r["engage_date"]), closed.parse(r["close_date"])) if m]
    if not moments:
        raise InvalidInput(f"{pipeline.name} has no dates at all: nothing to build a history from", field="file")
    snapshot = max(moments)
    renamed: Counter[tuple[str, str]] = Counter()
    unknown_products: Counter[str] = Counter()
    unknown_agents: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    histories = []
    for i, row in enumerate(pipeline.rows):
        line, ref = pipeline.line(i), row["opportunity_id"]
        stage, product = row["deal_stage"], row["product"]
        known = price_of.get(_squash(product)) if product else None
        if known is not None and known[0] != product:
            renamed[(product, known[0])] += 1
        elif known is None and product and products is not None:
            unknown_products[product] += 1
        agent = row["sales_agent"]
        if teams is not None and agent and agent not in team_of:
            unknown_agents[agent] += 1
        history = DealHistory(
            ref=ref,
            title=" / ".join(p for p in (row["account"] or "No account", known[0] if known else product) if p),
            row=line,
            owner=agent or None,
            team=team_of.get(agent) or None,
            account=row["account"] or None,
        )
        if known is not None:
            history.fields["product"] = known[0]
            history.amount = known[1]
        elif product:
            history.fields["product"] = product
        if sector_of.get(row["account"]):
            history.fields["segment"] = sector_of[row["account"]]
        if not row["account"]:
            counts["missing_account"] += 1
        engage, close = engaged.parse(row["engage_date"]), closed.parse(row["close_date"])
        if row["engage_date"] and engage is None:
            report.add("bad_date", f"engage_date {row['engage_date']!r} is impossible; deal skipped", row=line, ref=ref)
            continue
        outcome = outcome_of(stage)
        if outcome is None and slug(stage) == "prospecting":
            history.entries.append(StageEntry("Prospecting", snapshot))
            counts["undated_prospecting"] += 1
        elif engage is None:
            report.add("missing_date", f"{stage} without an engage_date; deal skipped", row=line, ref=ref)
            continue
        else:
            history.entries.append(StageEntry("Engaging", engage))
        if outcome is not None:
            if close is None:
                report.add("missing_date", f"{stage} without a close_date; deal skipped", row=line, ref=ref)
                continue
            history.outcome, history.closed_at, history.close_date = outcome, close, as_date(close)
            history.reason = "not_recorded"
            value = parse_amount(row["close_value"])
            if outcome == "won" and value is not None:
                history.closing_amount = value
            elif outcome != "won":
                counts["lost_without_value"] += 1
        elif slug(stage) not in ("prospecting", "engaging"):
            report.add(
                "unknown_stage",
                f"stage {stage!r} is not Prospecting, Engaging, Won or Lost; deal skipped",
                row=line,
                ref=ref,
            )
            continue
        histories.append(history)
    _summarise(report, renamed, unknown_products, unknown_agents, counts, snapshot)
    report.rows = len(pipeline.rows)
    return Source(
        histories,
        len(pipeline.rows),
        prefix="MV",
        process_key="crm_pipeline",
        process_name="CRM pipeline (imported)",
        managers=managers,
        stages=["Prospecting", "Engaging"],
    )


def _summarise(
    report: ImportReport,
    renamed: Counter[tuple[str, str]],
    unknown_products: Counter[str],
    unknown_agents: Counter[str],
    counts: Counter[str],
    snapshot: datetime,
) -> None:
    for (written, listed), n in renamed.items():
        report.add(
            "product_renamed", f"product {written!r} ({n} deals) is {listed!r} in products.csv; read as {listed!r}"
        )
    for name, n in unknown_products.items():
        report.add("unknown_product", f"product {name!r} ({n} deals) is not in products.csv; kept as written")
    for name, n in unknown_agents.items():
        report.add("unknown_owner", f"sales agent {name!r} ({n} deals) is not in sales_teams.csv; no team")
    if counts["missing_account"]:
        report.add("missing_account", f"{counts['missing_account']} deals name no account; imported without one")
    if counts["undated_prospecting"]:
        report.add(
            "missing_date",
            f"{counts['undated_prospecting']} Prospecting deals carry no date; they enter Prospecting on "
            f"{snapshot.astimezone(UTC).date()}, the last date in the file",
        )
    if counts["lost_without_value"]:
        report.add(
            "amount_estimated",
            f"{counts['lost_without_value']} lost deals have a close_value of 0; their amount is the product's "
            "list price from products.csv",
        )
