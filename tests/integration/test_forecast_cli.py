"""The forecast on a workspace: an imported history, the forecast as of a date, the back-test, the
snapshots scored against what they said at the time, and the refusals, on both backends."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from dealflow.analytics.forecast_snapshots import score_snapshots, take_snapshot
from dealflow.analytics.periods import parse_period
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork
from tests.integration.conftest import Cli

STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
AS_OF = datetime(2025, 10, 1, tzinfo=UTC)


@dataclass
class Deal:
    """One generated deal: the moments it entered each stage and how (and when) it closed."""

    ref: str
    amount: int
    owner: str
    entries: list[datetime] = field(default_factory=list)
    outcome: str | None = None
    closed_at: datetime | None = None

    def open_at(self, moment: datetime) -> bool:
        return self.entries[0] < moment and (self.closed_at is None or self.closed_at >= moment)

    def won_within(self, start: datetime, end: datetime) -> bool:
        return self.outcome == "Won" and self.closed_at is not None and start <= self.closed_at < end


def generate(seed: int = 11, deals: int = 120) -> list[Deal]:
    """Deals opened through 2025 that walk the stages and close, or are still open at the end."""
    rng = random.Random(seed)
    found = []
    for n in range(deals):
        moment = datetime(2025, 1, 2, 9, tzinfo=UTC) + timedelta(days=rng.uniform(0, 330))
        deal = Deal(f"OPP-{n:03d}", rng.choice((5_000, 12_000, 30_000)), rng.choice(("ana", "ben", "cho")))
        for stage in range(len(STAGES)):
            deal.entries.append(moment)
            moment += timedelta(days=rng.uniform(5, 40))
            if rng.random() < 0.22 or stage == len(STAGES) - 1:
                break
        if moment < datetime(2026, 1, 20, tzinfo=UTC):
            deal.outcome = "Won" if rng.random() < 0.3 + 0.15 * len(deal.entries) else "Lost"
            deal.closed_at = moment
        found.append(deal)
    return found


def write_csv(path: Path, deals: list[Deal]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["deal_id", "stage", "timestamp", "owner", "amount"])
        for d in deals:
            for stage, moment in zip(STAGES, d.entries, strict=False):
                out.writerow([d.ref, stage, moment.isoformat(), d.owner, d.amount])
            if d.outcome and d.closed_at:
                out.writerow([d.ref, d.outcome, d.closed_at.isoformat(), d.owner, d.amount])
    return path


@pytest.fixture
def history(workspace: Cli, tmp_path: Path) -> list[Deal]:
    deals = generate()
    assert workspace("import", str(write_csv(tmp_path / "history.csv", deals)), "--format", "events") == 0, (
        workspace.err
    )
    return deals


def forecast(cli: Cli, *args: str) -> dict[str, Any]:
    found = cli.json("forecast", "--period", "2025-Q4", "--as-of", "2025-10-01", "--process", "imported", *args)
    assert isinstance(found, dict)
    return found


def test_a_forecast_covers_the_deals_open_at_its_date_with_a_consistent_range(history: list[Deal], cli: Cli) -> None:
    found = forecast(cli, "--seed", "5", "--trials", "2000")
    open_then = {d.ref for d in history if d.open_at(AS_OF)}
    assert found["open_deals"] == len(open_then) > 10
    won_before = sum(d.amount for d in history if d.won_within(datetime(2025, 10, 1, tzinfo=UTC), AS_OF))
    assert found["won_to_date"] == won_before == 0  # the period starts at the forecast's date
    for method in ("history", "naive"):
        m = found[method]
        assert m["p10"] <= m["p50"] <= m["p90"]
    probabilities = [d["probability"] for d in found["deals"]]
    assert all(0 <= p <= 1 for p in probabilities)
    assert len(found["deals"]) == len(open_then)
    # The expected total is the sum of each deal's chance times its amount.
    expected = sum(d["probability"] * d["amount"] for d in found["deals"])
    assert found["history"]["expected"] == pytest.approx(expected, rel=1e-3)
    for d in found["deals"]:
        assert d["expected"] == pytest.approx(d["probability"] * d["amount"], rel=1e-3, abs=0.01)
    # The history method conditions on stage and age: not every open deal gets the same chance.
    assert len({round(p, 4) for p in probabilities}) > 1
    # The same seed gives the same range; the expectation does not depend on the seed at all.
    assert forecast(cli, "--seed", "5", "--trials", "2000")["history"] == found["history"]
    other = forecast(cli, "--seed", "6", "--trials", "2000")["history"]
    assert other["expected"] == pytest.approx(found["history"]["expected"])


def test_a_chart_is_a_self_contained_svg(history: list[Deal], cli: Cli, tmp_path: Path) -> None:
    chart = tmp_path / "forecast.svg"
    assert cli("forecast", "--period", "2025-Q4", "--as-of", "2025-10-01", "--chart", str(chart)) == 0, cli.err
    svg = chart.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<script" not in svg
    assert 'href="http' not in svg
    assert "P50" in svg


def test_the_backtest_compares_both_methods_with_what_was_won(history: list[Deal], cli: Cli) -> None:
    found = cli.json(
        "forecast", "--backtest", "--period", "2026-Q1", "--periods", "2", "--seed", "3", "--trials", "2000"
    )
    assert isinstance(found, dict)
    rows = {(r["period"], r["method"]): r for r in found["rows"]}
    assert set(rows) == {(p, m) for p in ("2025-Q3", "2025-Q4") for m in ("history", "naive")}
    for (label, _method), row in rows.items():
        period = parse_period(label)
        start, end = period.start, period.end
        covered = [d for d in history if d.open_at(start)]
        assert row["actual"] == sum(d.amount for d in covered if d.won_within(start, end))
        assert row["won_all"] == sum(d.amount for d in history if d.won_within(start, end))
        assert row["inside"] == (row["p10"] <= row["actual"] <= row["p90"])
        assert row["ape"] == pytest.approx(abs(row["p50"] - row["actual"]) / row["actual"], abs=1e-3)
    for score in found["scores"]:
        apes = [r["ape"] for r in found["rows"] if r["method"] == score["method"]]
        assert score["mape"] == pytest.approx(sum(apes) / len(apes), abs=1e-3)
        inside = [r["inside"] for r in found["rows"] if r["method"] == score["method"]]
        assert score["coverage"] == pytest.approx(sum(inside) / len(inside))


def test_snapshots_are_scored_on_what_they_said_at_the_time(
    history: list[Deal], cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    period = parse_period("2025-Q4")
    with UnitOfWork(engine, clock=lambda: AS_OF) as uow:
        taken = take_snapshot(uow=uow, period=period, trials=1000, seed=1, process="imported")
    assert len(taken.ids) == 2
    assert taken.deals == sum(d.open_at(AS_OF) for d in history)
    with engine.connect() as connection:
        stored = connection.execute(
            select(t.forecast_snapshots.c.id, t.forecast_snapshots.c.method, t.forecast_snapshots.c.expected)
        ).all()
        rows = connection.execute(
            select(
                t.forecast_snapshot_deals.c.snapshot_id,
                t.forecast_snapshot_deals.c.deal_id,
                t.forecast_snapshot_deals.c.probability,
            )
        ).all()
    assert {r.method for r in stored} == {"history", "naive"}
    # More history arrives after the snapshot: a forecast made now would say something else.
    later = generate(seed=12, deals=40)
    for d in later:
        d.ref = d.ref.replace("OPP", "NEW")
    assert cli("import", str(write_csv(tmp_path / "later.csv", later)), "--format", "events") == 0, cli.err

    with engine.connect() as connection:
        card = score_snapshots(connection, now=datetime(2026, 2, 1, tzinfo=UTC))
        deal_ids = {row.deal_id for row in rows}
        refs = dict(connection.execute(select(t.deals.c.id, t.deals.c.title).where(t.deals.c.id.in_(deal_ids))).all())
    by_ref = {d.ref: d for d in history}
    assert card.waiting == 0
    assert {s.id for s in card.snapshots} == set(taken.ids)
    for snapshot in card.snapshots:
        mine = [r for r in rows if r.snapshot_id == snapshot.id]
        won = [by_ref[refs[r.deal_id]].won_within(period.start, period.end) for r in mine]
        brier = sum((r.probability - w) ** 2 for r, w in zip(mine, won, strict=True)) / len(mine)
        assert snapshot.brier == pytest.approx(brier, abs=1e-4)
        assert snapshot.expected == pytest.approx(float(next(s.expected for s in stored if s.id == snapshot.id)))
        assert snapshot.actual == sum(by_ref[refs[r.deal_id]].amount for r, w in zip(mine, won, strict=True) if w)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("forecast", "--period", "2026-Q5"), "2026-Q5"),
        (("forecast", "--period", "2025-Q4", "--trials", "5"), "--trials"),
        (("forecast", "--period", "2025-Q4", "--as-of", "yesterday-ish"), "--as-of"),
        (("forecast", "score", "--period", "2025-13"), "2025-13"),
        (("forecast", "--period", "2025-Q4", "--process", "nope"), "nope"),
    ],
)
def test_bad_input_is_refused_with_what_is_wrong(
    history: list[Deal], cli: Cli, args: tuple[str, ...], named: str
) -> None:
    code = cli(*args)
    assert code in (2, 4)
    assert named in cli.err
    assert len(cli.err.strip().splitlines()) == 1


def test_a_forecast_without_history_says_so(workspace: Cli, engine: Engine) -> None:
    assert workspace("forecast") == 2
    assert "needs history" in workspace.err
    assert workspace("forecast", "snapshot") == 2
    assert "needs history" in workspace.err
    with engine.connect() as connection:
        assert connection.execute(select(t.forecast_snapshots.c.id)).first() is None
