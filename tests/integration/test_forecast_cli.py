"""The forecast on a workspace: an imported history, the forecast as of a date, the back-test, the
snapshots scored against what they said at the time, and the refusals, on both backends."""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select, true, update

from dealflow.analytics import forecast_history
from dealflow.analytics.forecast import History
from dealflow.analytics.forecast_history import Calls, load_history
from dealflow.analytics.forecast_runs import forecast_period
from dealflow.analytics.forecast_snapshots import score_snapshots, take_snapshot
from dealflow.analytics.periods import parse_period
from dealflow.server.app import create_app
from dealflow.services import tokens
from dealflow.settings import Settings
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


def test_the_cli_and_the_api_write_the_json_of_the_forecast_model(
    history: list[Deal], cli: Cli, engine: Engine, database_url: str
) -> None:
    with engine.begin() as connection:  # a title that JSON escapes, and a rep's call
        d = t.deals
        opened = [x.ref for x in history if x.open_at(AS_OF)]
        connection.execute(update(d).where(d.c.title == opened[0]).values(title='Say "hi"\\ \n\t\x01 Ünï'))
        state = connection.execute(select(d.c.state).where(d.c.title == opened[1])).scalar_one()
        state["fields"]["forecast_category"] = {"value": "commit", "at": "2025-09-01T10:00:00+00:00"}
        state["fields"]["rep_probability"] = {"value": "70%", "at": "2025-09-01T10:00:00+00:00"}
        connection.execute(update(d).where(d.c.title == opened[1]).values(state=state))
    with engine.connect() as connection:
        found, _run = forecast_period(
            connection, period=parse_period("2025-Q4"), as_of=AS_OF, trials=2000, seed=5, process="imported"
        )
    model = found.model_dump(mode="json")
    rows = {r["title"]: r for r in model["deals"]}  # type: ignore[union-attr]
    assert rows[opened[1]]["forecast_category"] == "commit"
    assert rows[opened[1]]["rep_probability"] == 0.7
    assert 'Say "hi"\\ \n\t\x01 Ünï' in rows
    assert forecast(cli, "--seed", "5", "--trials", "2000") == model
    assert cli.out == json.dumps(model, indent=2, ensure_ascii=False) + "\n"  # as every --json prints
    app = create_app(Settings(database_url=database_url), engine=engine)
    with UnitOfWork(engine) as uow:
        token = tokens.create_token(uow=uow, actor_id="founder", name="tests")[1]
    answer = TestClient(app, headers={"Authorization": f"Bearer {token}"}).get(
        "/api/v1/forecast",
        params={"period": "2025-Q4", "as_of": AS_OF.isoformat(), "trials": 2000, "seed": 5, "process": "imported"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == json.dumps(model, ensure_ascii=False, separators=(",", ":")).encode()


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


def read_row_by_row(connection: Connection, process: str | None) -> tuple[History, Calls]:
    """The history read the plain way, a Python object per row and per timestamp (the reference)."""
    d, v = t.deals, t.stage_visits
    deals = connection.execute(select(d).where(d.c.process == process if process else true()).order_by(d.c.id)).all()
    index = {row.id: i for i, row in enumerate(deals)}
    ends = [row.closed_at.timestamp() if row.closed_at else math.inf for row in deals]
    visits = connection.execute(select(v).where(v.c.process == process if process else true())).all()
    stays = [
        (index[r.deal_id], r.process, r.stage, r.owner, r.entered_at.timestamp(), r.left_at.timestamp())
        for r in visits
        if r.deal_id in index and r.entered_at.timestamp() < ends[index[r.deal_id]]
    ]
    stays += [
        (i, r.process, r.stage, r.owner, r.stage_entered_at.timestamp(), math.inf)
        for i, r in enumerate(deals)
        if r.status == "open"
    ]
    stages = forecast_history._stage_order(connection, {(s[1], s[2]) for s in stays})
    owners = sorted({s[3] for s in stays})
    several = len({p for p, _ in stages}) > 1
    fields = [row.state["fields"] for row in deals]

    def call(name: str, part: str) -> list[Any]:
        return [f.get(name, {}).get(part) for f in fields]

    history = History(
        stages=tuple(f"{p}/{s}" if several else s for p, s in stages),
        owners=tuple(owners),
        deal_ids=tuple(r.id for r in deals),
        titles=tuple(r.title for r in deals),
        closed=np.array(ends),
        won=np.array([r.status == "won" for r in deals]),
        amount=np.array([float(r.amount or 0) for r in deals]),
        has_amount=np.array([r.amount is not None for r in deals]),
        stay_deal=np.array([s[0] for s in stays], dtype=np.int64),
        stay_stage=np.array([stages.index((s[1], s[2])) for s in stays], dtype=np.int64),
        stay_owner=np.array([owners.index(s[3]) for s in stays], dtype=np.int64),
        entered=np.array([s[4] for s in stays]),
        left=np.array([s[5] for s in stays]),
    )
    calls = Calls(
        category=tuple(forecast_history._category(c) for c in call("forecast_category", "value")),
        category_at=np.array([forecast_history._moment(c) for c in call("forecast_category", "at")]),
        probability=np.array([forecast_history._probability(c) for c in call("rep_probability", "value")]),
        probability_at=np.array([forecast_history._moment(c) for c in call("rep_probability", "at")]),
    )
    return history, calls


def stays_in_order(history: History) -> list[tuple[Any, ...]]:
    """The stays as (deal, stage, owner, entered, left) rows, sorted: the database gives no order."""
    columns = (history.stay_deal, history.stay_stage, history.stay_owner, history.entered, history.left)
    return sorted(zip(*(c.tolist() for c in columns), strict=True))


@pytest.mark.parametrize("process", [None, "imported"])
def test_the_history_read_into_arrays_is_the_one_read_row_by_row(
    history: list[Deal], cli: Cli, engine: Engine, process: str | None
) -> None:
    assert cli("deal", "create", "Acme: second process", "--amount", "1234.56") == 0, cli.err  # standard process
    assert cli("deal", "create", "Acme: no amount yet") == 0, cli.err
    with engine.begin() as connection:  # reps' calls, as an import of a CRM's forecast fields leaves them
        for n, (category, probability) in enumerate((("Commit", "70%"), ("best case", "0.4"), ("maybe", "300"))):
            state = connection.execute(select(t.deals.c.state).where(t.deals.c.title == f"OPP-{n:03d}")).scalar_one()
            state["fields"]["forecast_category"] = {"value": category, "at": "2025-09-01T10:00:00.123456+00:00"}
            state["fields"]["rep_probability"] = {"value": probability, "at": "2025-09-02T00:00:00+00:00"}
            connection.execute(update(t.deals).where(t.deals.c.title == f"OPP-{n:03d}").values(state=state))
    with engine.connect() as connection:
        found, calls = load_history(connection, process=process)
        expected, expected_calls = read_row_by_row(connection, process)
    for name in ("stages", "owners", "deal_ids", "titles"):
        assert getattr(found, name) == getattr(expected, name), name
    for name in ("closed", "won", "amount", "has_amount"):
        assert np.array_equal(getattr(found, name), getattr(expected, name)), name
    assert stays_in_order(found) == stays_in_order(expected)
    assert len(found.stages) == (4 if process else 5)  # the standard process's prospecting when reading all
    assert calls.category == expected_calls.category
    assert sum(c is not None for c in calls.category) == 2
    for name in ("category_at", "probability", "probability_at"):
        assert np.array_equal(getattr(calls, name), getattr(expected_calls, name), equal_nan=True), name
