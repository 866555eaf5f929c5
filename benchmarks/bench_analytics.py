"""Benchmark: the full metrics set over a generated history, and the Monte Carlo forecast, each
against a plain baseline measured in the same run.

Run ``.venv/bin/python benchmarks/bench_analytics.py [--deals 1000000] [--db URL] [--reuse]``.

1. Metrics. The database (default: the PostgreSQL database ``dealflow_history``) is filled with
   :func:`synthetic.fill` (every table dropped first), or, with ``--reuse``, kept when it already
   holds that many deals. The full metrics set is what ``dealflow metrics --json`` computes with no
   filters: :func:`dealflow.analytics.metrics.compute_metrics`, in-process, as of the history's
   last moment. Baselines: ``SELECT count(*), sum(amount) FROM deals`` and ``SELECT count(*) FROM
   events``, both forced to full table scans, so that the ratio reads as "the metrics cost N full
   scans". The three run interleaved, ``--repeat`` times after one warm-up round; medians reported.
   With ``--sliced``, two runs the stays' summaries do not answer are timed in the same rounds: by
   owner, and over the history's last quarter.
2. Forecast. ``--open-deals`` open deals with ``--trials`` trials: taken from the database when its
   history has that many open deals, otherwise from a pipeline generated in memory (``--open-deals``
   open and ``--closed-deals`` closed deals walking the same stages). Timed: the simulation (one
   method's Monte Carlo) and the whole forecast (win model, both methods' simulations and the
   report with every deal). Baseline: numpy drawing the trials x open deals uniforms that a
   deal-by-deal simulation needs, in 2-million-cell blocks (the whole matrix would take 4 GB).
   Also timed: the whole forecast with its JSON, every deal's row, as ``dealflow forecast --json``
   prints it (``Forecast.json_text``).
   With ``--skip-metrics`` and no ``--db`` no database is opened: the pipeline is generated in memory.
3. History load (``--load-history URL``): :func:`load_history`, what ``dealflow forecast`` reads
   before forecasting, from that database (read only: point it at a copy), against full scans of
   the stays and of the deals, interleaved.

The script prints absolute times, the ratios, and whether each target was met; it always exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))

from bench_moves import prepare_database
from dealflow.analytics.forecast import History
from dealflow.analytics.forecast_history import Calls, load_history
from dealflow.analytics.forecast_runs import compute, report
from dealflow.analytics.forecast_simulation import BLOCK_CELLS, simulate
from dealflow.analytics.metrics import compute_metrics
from dealflow.analytics.periods import parse_period, period_of
from dealflow.settings import Settings
from dealflow.store.engine import make_engine, upgrade
from synthetic import MEAN_DAYS, NOW, REPS, SPAN, STAGES, fill

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/dealflow_history"
METRICS_TARGET, FORECAST_TARGET = 2.0, 1.0
SLICED_PERIOD = "2026-Q3"  # the history's last full quarter
DAY = 86_400.0
WON_AT_LAST_STAGE = 0.55  # share of the closed deals that reached the last stage that were won, as in synthetic


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def full_scan(engine: Engine, sql: str) -> Callable[[], object]:
    """Run ``sql`` with index scans turned off (for this transaction), so that it reads the table."""

    def run() -> object:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                    connection.execute(text(f"SET LOCAL {setting} = off"))
            return connection.execute(text(sql)).all()

    return run


def metrics_run(engine: Engine, *, by: str | None = None, period: str | None = None) -> Callable[[], object]:
    """The call ``dealflow metrics --json`` makes (with no filters: ``--by`` and ``--period`` as
    given), as of the history's last moment."""
    chosen = None if period is None else parse_period(period)

    def run() -> object:
        with engine.connect() as connection:
            return compute_metrics(
                connection, process=None, period=chosen, slice_by=by, filters={}, now=NOW, target=None
            ).as_json()

    return run


def interleaved(actions: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Every action once to warm up, then ``repeat`` rounds, the order rotating each round."""
    for action in actions.values():
        action()
    names = list(actions)
    found: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            found[name].append(timed(actions[name]))
    return found


def deals_in(engine: Engine) -> int:
    """How many deals the database holds (0 when it has no schema yet)."""
    with engine.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM information_schema.tables WHERE table_name = 'deals'"))
        if exists.first() is None:
            return 0
        return int(connection.execute(text("SELECT count(*) FROM deals")).scalar_one())


def prepare(url: str, deals: int, reuse: bool) -> Engine:
    """The engine on a database holding ``deals`` synthetic deals, filled unless reused."""
    engine = make_engine(url)
    if reuse and deals_in(engine) == deals:
        print(f"reusing {deals:,} deals in {make_url(url).render_as_string(hide_password=True)}")
        start = time.perf_counter()
        upgrade(engine)
        print(f"  schema upgraded in {time.perf_counter() - start:.1f} s")
        return engine
    engine.dispose()
    engine = prepare_database(url)
    print(f"filling {make_url(url).render_as_string(hide_password=True)} with {deals:,} deals ...", flush=True)
    start = time.perf_counter()
    counts = fill(engine, deals)
    print(f"  {counts} in {time.perf_counter() - start:.0f} s")
    return engine


def table_sizes(engine: Engine) -> str:
    """Rows in the tables the metrics read, for the record."""
    with engine.connect() as connection:
        found = [
            f"{name} {connection.execute(text(f'SELECT count(*) FROM {name}')).scalar_one():,}"
            for name in ("deals", "events", "stage_visits", "deal_journeys", "stay_durations")
        ]
    return ", ".join(found)


def bench_metrics(engine: Engine, repeat: int, sliced: bool) -> None:
    """Time the full metrics set against the two scans, interleaved (with ``sliced``, also a run by
    owner and one over a quarter)."""
    print(f"\nmetrics: {table_sizes(engine)}; {repeat} rounds after a warm-up")
    actions = {
        "deals scan": full_scan(engine, "SELECT count(*), sum(amount) FROM deals"),
        "events scan": full_scan(engine, "SELECT count(*) FROM events"),
        "full metrics": metrics_run(engine),
    }
    if sliced:
        actions["by owner"] = metrics_run(engine, by="owner")
        actions[SLICED_PERIOD] = metrics_run(engine, period=SLICED_PERIOD)
    found = interleaved(actions, repeat)
    for name, times in found.items():
        show(name, times)
    metrics = statistics.median(found["full metrics"])
    for name in ("deals scan", "events scan"):
        print(f"  full metrics / {name}: {metrics / statistics.median(found[name]):.1f}x")
    for name in list(actions)[3:]:
        print(
            f"  {name} / events scan: {statistics.median(found[name]) / statistics.median(found['events scan']):.1f}x"
        )
    met = "met" if metrics < METRICS_TARGET else "NOT met"
    print(f"  target (full metrics under {METRICS_TARGET:.0f} s on PostgreSQL): {met} ({metrics:.2f} s)")


def show(name: str, times: list[float]) -> None:
    """One measurement's median, minimum and every round."""
    each = " ".join(f"{t:.2f}" for t in times)
    print(f"  {name:<15} median {statistics.median(times):7.3f} s   min {min(times):7.3f} s   all {each}")


def pipeline(open_deals: int, closed_deals: int, at: float, seed: int = 1) -> History:
    """A history in memory: ``closed_deals`` deals that walked the synthetic stages and closed over
    the three years before ``at``, and ``open_deals`` deals open at ``at`` in one of them."""
    rng = np.random.default_rng(seed)
    count, width = open_deals + closed_deals, len(STAGES)
    reached = rng.integers(1, width + 1, count)  # stays per deal
    durations = rng.exponential(np.array(MEAN_DAYS) * DAY, (count, width))
    walked = np.arange(width) < reached[:, None]
    is_open = np.zeros(count, dtype=bool)
    is_open[rng.permutation(count)[:open_deals]] = True
    lasted = (durations * walked).sum(axis=1)
    span = SPAN.total_seconds()
    start = np.where(is_open, at - lasted * rng.random(count), at - span * rng.random(count) - lasted)
    entered = start[:, None] + np.concatenate([np.zeros((count, 1)), np.cumsum(durations, axis=1)[:, :-1]], axis=1)
    last = reached - 1
    rows = np.arange(count)
    # An open deal entered its current stage before `at` and is still in it.
    shift = np.where(is_open, np.minimum(0.0, at - 1.0 - entered[rows, last]), 0.0)
    entered += shift[:, None]
    left = entered + durations
    left[rows[is_open], last[is_open]] = np.inf
    closed = np.where(is_open, np.inf, left[rows, last])
    won = ~is_open & (reached == width) & (rng.random(count) < WON_AT_LAST_STAGE)
    deal, stage = np.nonzero(walked)
    return History(
        stages=STAGES,
        owners=REPS,
        deal_ids=tuple(f"D-{i + 1}" for i in range(count)),
        titles=tuple(f"Deal {i + 1}" for i in range(count)),
        closed=closed,
        won=won,
        amount=np.round(np.exp(rng.normal(9.3, 0.9, count)), -2).astype(np.float64),
        has_amount=np.ones(count, dtype=bool),
        stay_deal=deal.astype(np.int64),
        stay_stage=stage.astype(np.int64),
        stay_owner=rng.integers(0, len(REPS), deal.size).astype(np.int64),
        entered=entered[deal, stage],
        left=left[deal, stage],
    )


def no_calls(deals: int) -> Calls:
    """Reps' calls for a pipeline where no rep called anything."""
    unset = np.full(deals, np.nan)
    return Calls(category=(None,) * deals, category_at=unset, probability=unset, probability_at=unset)


def forecast_history(engine: Engine | None, open_deals: int, closed_deals: int) -> tuple[History, Calls, str]:
    """The history to forecast from: the database's when it has enough open deals, else one in
    memory (always, without a database: ``--skip-metrics`` without ``--db``)."""
    in_db = 0
    if engine is not None:
        with engine.connect() as connection:
            in_db = int(connection.execute(text("SELECT count(*) FROM deals WHERE status = 'open'")).scalar_one())
            if in_db >= open_deals:
                history, calls = load_history(connection)
                return history, calls, f"the database's history ({in_db:,} open deals)"
    history = pipeline(open_deals, closed_deals, NOW.timestamp())
    where = f"a pipeline generated in memory ({open_deals:,} open and {closed_deals:,} closed deals, "
    where += f"{history.entered.size:,} stays)"
    if engine is not None:
        where += f": the database's history has only {in_db:,} open deals"
    return history, no_calls(history.closed.size), where


def bench_history_load(url: str, repeat: int) -> None:
    """Time reading the history for ``dealflow forecast`` from a database (only read), against a
    full scan of the stays and one of the deals."""
    engine = make_engine(url)
    print(f"\nhistory load from {make_url(url).render_as_string(hide_password=True)}: {table_sizes(engine)}")

    def load() -> object:
        with engine.connect() as connection:
            return load_history(connection)

    found = interleaved(
        {
            "stays scan": full_scan(engine, "SELECT count(*), max(left_at) FROM stage_visits"),
            "deals scan": full_scan(engine, "SELECT count(*), sum(amount) FROM deals"),
            "history load": load,
        },
        repeat,
    )
    for name, times in found.items():
        show(name, times)
    seconds = statistics.median(found["history load"])
    for name in ("stays scan", "deals scan"):
        print(f"  history load / {name}: {seconds / statistics.median(found[name]):.1f}x")


def bench_forecast(engine: Engine | None, open_deals: int, closed_deals: int, trials: int, repeat: int) -> None:
    """Time the simulation and the whole forecast against drawing every uniform of an exact one."""
    history, calls, where = forecast_history(engine, open_deals, closed_deals)
    period = period_of(NOW, "quarter")
    print(f"\nforecast of {period.label} as of {NOW:%Y-%m-%d}, {trials:,} trials, from {where}")
    run = compute(history, period, NOW, trials=trials, seed=1)
    amounts, probability = run.amounts(history), run.probability
    cells = trials * run.deals.size

    def uniforms() -> None:
        rng, block = np.random.default_rng(1), np.empty(BLOCK_CELLS, dtype=np.float32)
        for _ in range(0, cells, BLOCK_CELLS):
            rng.random(out=block, dtype=np.float32)

    def whole() -> None:
        report(compute(history, period, NOW, trials=trials, seed=1), history, calls, process=None)

    def as_json() -> None:  # what `dealflow forecast --json` prints (the API: the same, compact)
        report(compute(history, period, NOW, trials=trials, seed=1), history, calls, process=None).json_text(2)

    found = interleaved(
        {
            "uniforms": uniforms,
            "simulation": lambda: simulate(amounts, probability, trials=trials, seed=1),
            "whole forecast": whole,
            "with its JSON": as_json,
        },
        repeat,
    )
    print(f"  open deals forecast: {run.deals.size:,}; simulation: {run.history_simulation.method}")
    print(f"  uniforms: {cells:,} float32 draws")
    for name, times in found.items():
        show(name, times)
    uniform = statistics.median(found["uniforms"])
    for name in ("simulation", "whole forecast", "with its JSON"):
        print(f"  {name} / uniforms: {statistics.median(found[name]) / uniform:.2f}x")
    for name in ("simulation", "whole forecast", "with its JSON"):
        seconds = statistics.median(found[name])
        met = "met" if seconds < FORECAST_TARGET else "NOT met"
        print(f"  target ({name} under {FORECAST_TARGET:.0f} s): {met} ({seconds:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=1_000_000, help="deals in the generated history")
    parser.add_argument("--db", default=DEFAULT_DB, help="database URL (every table in it is dropped when filled)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds --deals deals")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each measurement")
    parser.add_argument("--open-deals", type=int, default=100_000)
    parser.add_argument("--closed-deals", type=int, default=900_000, help="closed deals of an in-memory pipeline")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--skip-metrics", action="store_true")
    parser.add_argument("--skip-forecast", action="store_true")
    parser.add_argument("--sliced", action="store_true", help="also time a run by owner and one over a quarter")
    parser.add_argument("--load-history", metavar="URL", help="also time reading the forecast's history from URL")
    args = parser.parse_args(argv)
    # Without the metrics and without --db, nothing touches a database: the forecast runs in memory.
    engine = None
    if not args.skip_metrics or "--db" in (argv if argv is not None else sys.argv):
        engine = prepare(Settings(database_url=args.db).database_url, args.deals, args.reuse)
    if engine is not None and not args.skip_metrics:
        bench_metrics(engine, args.repeat, args.sliced)
    if not args.skip_forecast:
        bench_forecast(engine, args.open_deals, args.closed_deals, args.trials, args.repeat)
    if args.load_history:
        bench_history_load(Settings(database_url=args.load_history).database_url, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
