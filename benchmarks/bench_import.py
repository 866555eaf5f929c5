"""Benchmark: `dealflow import FILE --format events` of a large event-log CSV, against plainly reading
and parsing the same file with the csv module, against a bare bulk write of its raw rows, and against a
bare bulk write of the rows the import stored.

Run ``.venv/bin/python benchmarks/bench_import.py [--rows 1000000] [--db URL ...] [--profile] [--phases]``.
It writes an event-log CSV of ``--rows`` rows (deals walking a six-stage pipeline: forward moves,
skips, backward moves, amount changes, wins, losses, disqualifications, a few bad values), then
imports it into a fresh SQLite file and into the PostgreSQL database ``dealflow_import_bench``
(created on ``postgresql://postgres@127.0.0.1:5432`` if missing; every table in it is dropped
first). The baselines are measured in the same run, right before and right after each import,
so that the ratios hold on a noisy machine. The target: 100,000 rows/s or better.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import gc
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, Table, func, select
from sqlalchemy.engine import make_url

from dealflow.imports import columnar
from dealflow.imports.event_columns import read_event_columns
from dealflow.imports.history import ImportReport
from dealflow.services import imports as service
from dealflow.services import workspace as ws
from dealflow.services.imports import import_file
from dealflow.settings import Settings
from dealflow.store import bulk, frames, queries
from dealflow.store import tables as t
from dealflow.store.engine import upgrade
from dealflow.store.unit_of_work import UnitOfWork

IMPORTER = "importer"

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/dealflow_import_bench"
TARGET = 100_000  # rows per second
NOW = datetime(2026, 10, 1, tzinfo=UTC)  # the import's clock: every generated date is before it
SPAN = timedelta(days=3 * 365)
STAGES = ("Lead", "Qualified", "Discovery", "Demo", "Proposal", "Negotiation")
MEAN_DAYS = (3.0, 5.0, 8.0, 6.0, 10.0, 9.0)
HEADER = ("deal_id", "stage", "timestamp", "owner", "amount", "title", "account", "team", "source", "segment",
          "product", "reason")  # fmt: skip
REPS = tuple(f"Rep {i:02d}" for i in range(60))
TEAMS = ("east", "west", "north", "south", "central", "emea")
ACCOUNTS = tuple(f"Account {i:03d}" for i in range(400))
SOURCES, SEGMENTS, PRODUCTS = ("inbound", "outbound", "referral", "event"), ("smb", "mid", "ent"), ("core", "pro")
REASONS = ("price", "competitor", "timing", "no budget")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _deal_rows(number: int, rnd: random.Random) -> list[tuple[str, ...]]:
    """One deal's rows: the stages it entered, amount changes, and how it ended (if it did)."""
    ref, title = f"OPP-{number:07d}", f"Deal {number}"
    rep = rnd.randrange(len(REPS))
    common = (REPS[rep], title, rnd.choice(ACCOUNTS), TEAMS[rep % len(TEAMS)], rnd.choice(SOURCES),
              rnd.choice(SEGMENTS), rnd.choice(PRODUCTS))  # fmt: skip
    at = NOW - SPAN * rnd.random()
    stage, amount = 0, rnd.randrange(20, 900) * 100
    rows = [(ref, STAGES[0], _stamp(at), common[0], str(amount), *common[1:], "")]
    while True:
        at += timedelta(days=rnd.expovariate(1 / MEAN_DAYS[stage]))
        if at > NOW:
            return rows
        roll = rnd.random()
        if roll < 0.10:
            end = "Closed Lost" if roll < 0.08 else "Disqualified"
            rows.append((ref, end, _stamp(at), common[0], "", *common[1:], rnd.choice(REASONS)))
            return rows
        if stage == len(STAGES) - 1 and roll < 0.55:
            rows.append((ref, "Closed Won", _stamp(at), common[0], str(amount), *common[1:], ""))
            return rows
        if roll < 0.13:
            amount = rnd.randrange(20, 900) * 100  # a new amount, same stage
        elif roll < 0.18 and stage > 0:
            stage -= 1
        elif roll < 0.25 and stage < len(STAGES) - 2:
            stage += 2
        else:
            stage = min(stage + 1, len(STAGES) - 1)
        changed = str(amount) if roll < 0.13 else ""
        bad = roll > 0.9995  # a few rows a careful import reports
        stamp = "2025-02-30T10:00:00Z" if bad and roll > 0.99975 else _stamp(at)
        rows.append((ref, STAGES[stage], stamp, common[0], "n/a" if bad else changed, *common[1:], ""))


def write_event_log(path: Path, rows: int, *, seed: int = 1) -> int:
    """An event-log CSV of ``rows`` rows in order of time, like an export; returns the number of deals."""
    rnd = random.Random(seed)
    found: list[tuple[str, ...]] = []
    deals = 0
    while len(found) < rows:
        deals += 1
        found += _deal_rows(deals, rnd)
    del found[rows:]
    found.sort(key=lambda row: row[2])
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(found)
    return deals


def read_baseline(path: Path) -> float:
    """Seconds to read the CSV with the csv module and parse each row's timestamp: the floor of any import."""
    start = time.perf_counter()
    impossible = 0
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            try:
                datetime.fromisoformat(row[2])
            except ValueError:
                impossible += 1
    return time.perf_counter() - start


def write_baseline(engine: Engine, path: Path) -> float:
    """Seconds to bulk-write the raw rows, as read, into a table without indexes, in one transaction."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = [tuple(row) for row in csv.reader(f)][1:]
    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_raw")
        connection.exec_driver_sql(f"CREATE TABLE bench_raw ({columns})")
    start = time.perf_counter()
    with engine.begin() as connection:
        driver = connection.connection.driver_connection
        if postgres:
            with driver.cursor() as cursor, cursor.copy("COPY bench_raw FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in HEADER)
            driver.executemany(f"INSERT INTO bench_raw VALUES ({marks})", rows)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - start
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE bench_raw")
    return elapsed


def stored_baseline(engine: Engine, names: list[str]) -> float:
    """Seconds to bulk-write the rows the import stored in the tables ``names``, read back first, bare:
    into tables with their columns but without keys or indexes, in one transaction. What an import
    storing the same rows through the driver's bulk path (``executemany``, COPY text) in one transaction
    spends at the least, before reading the file."""
    postgres = engine.dialect.name == "postgresql"
    found: dict[str, object] = {}
    with engine.begin() as connection:
        driver = connection.connection.driver_connection
        for name in names:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS bench_bare_{name}")
            if postgres:
                connection.exec_driver_sql(f"CREATE TABLE bench_bare_{name} (LIKE {name})")
                with driver.cursor() as cursor, cursor.copy(f"COPY {name} TO STDOUT") as copy:  # type: ignore[union-attr]
                    found[name] = b"".join(bytes(chunk) for chunk in copy)
            else:
                connection.exec_driver_sql(f"CREATE TABLE bench_bare_{name} AS SELECT * FROM {name} WHERE 0")
                found[name] = driver.execute(f"SELECT * FROM {name}").fetchall()  # type: ignore[union-attr]
    start = time.perf_counter()
    with engine.begin() as connection:
        driver = connection.connection.driver_connection
        for name, rows in found.items():
            if not rows:
                continue  # a small file may leave a table empty
            if postgres:
                with driver.cursor() as cursor, cursor.copy(f"COPY bench_bare_{name} FROM STDIN") as copy:  # type: ignore[union-attr]
                    copy.write(rows)
            else:
                marks = ", ".join("?" for _ in rows[0])  # type: ignore[index]
                driver.executemany(f"INSERT INTO bench_bare_{name} VALUES ({marks})", rows)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - start
    with engine.begin() as connection:
        for name in names:
            connection.exec_driver_sql(f"DROP TABLE bench_bare_{name}")
    return elapsed


def import_once(
    engine: Engine, path: Path, *, profile: bool, general: bool = False
) -> tuple[float, float, ImportReport]:
    """Seconds for one `import_file` (read, check, record, commit) into a fresh workspace, and the
    CPU seconds this process spent on it (every thread; on PostgreSQL the server's are not counted).
    ``general``: through the general path (histories, one pass per deal), as files the columns do
    not cover go."""
    if general:
        with engine.begin() as connection:
            t.metadata.drop_all(connection)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade(engine)
    with UnitOfWork(engine, clock=lambda: NOW) as uow:  # imports need revops or admin: one who imports
        if queries.get_user(uow.connection, user_id=IMPORTER) is None:
            ws.add_user(uow=uow, user_id=IMPORTER, name="Importer", roles=["revops"], team=None)
    columns = service.import_event_columns
    if general:
        service.import_event_columns = lambda **options: None
    profiler = cProfile.Profile() if profile else None
    cpu = time.process_time()
    start = time.perf_counter()
    with UnitOfWork(engine, clock=lambda: NOW) as uow:
        server = _Server(uow)
        if profiler is not None:
            profiler.enable()
        try:
            report = import_file(uow=uow, actor_id=IMPORTER, path=path, fmt="events")
        finally:
            service.import_event_columns = columns
        if profiler is not None:
            profiler.disable()
        report.server_cpu = server.seconds()  # type: ignore[attr-defined]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if profiler is not None:
        print("  profile of the import (top 20 by own time):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)
    return elapsed, cpu, report


class _Server:
    """CPU seconds the PostgreSQL server process of a unit of work spends, when the server runs on
    this machine (read from /proc); None otherwise."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.stat: Path | None = None
        if uow.connection.dialect.name == "postgresql":
            pid = uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            stat = Path(f"/proc/{pid}/stat")
            self.stat = stat if stat.exists() else None
        self.start = self._used()

    def _used(self) -> float:
        if self.stat is None:
            return 0.0
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float | None:
        """CPU seconds spent since the unit of work began."""
        return None if self.stat is None else self._used() - self.start


def columns_seconds(path: Path) -> float:
    """Seconds to read and check the file as columns (the import's first part, without the database)."""
    gc.disable()  # as during an import (see services.imports)
    try:
        start = time.perf_counter()
        read_event_columns(path, report=ImportReport(format="events", file=path.name))
        return time.perf_counter() - start
    finally:
        gc.enable()


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)


def _cpu(seconds: float, report: ImportReport) -> str:
    server = getattr(report, "server_cpu", None)
    return f"CPU {seconds:.2f} s here" + ("" if server is None else f", {server:.2f} s in the server")


def run(url: str, path: Path, rows: int, *, profile: bool, general: bool, phases: bool = False) -> bool:
    """Import the file into the database at ``url`` and print rows/s against the baselines."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_moves import prepare_database

    engine = prepare_database(url)
    name = make_url(url).render_as_string(hide_password=True)
    print(f"\n{name} ({engine.dialect.name})")
    read_before = read_baseline(path)
    write = write_baseline(engine, path)
    timer = Phases() if phases else None
    with timer or contextlib.nullcontext():
        seconds, cpu, report = import_once(engine, path, profile=profile)
    read_after = read_baseline(path)
    reading = columns_seconds(path)
    stored = {table.name: _count(engine, table) for table in (t.events, t.deals, t.stage_visits, t.deal_journeys)}
    events, deals, visits = stored["events"], stored["deals"], stored["stage_visits"]
    floor = stored_baseline(engine, list(stored))
    before = import_once(engine, path, profile=False, general=True) if general else None
    read = statistics.fmean((read_before, read_after))
    engine.dispose()
    speed = rows / seconds
    print(f"  file: {rows:,} rows, {report.deals_seen:,} deals; wrote {events:,} events, {deals:,} deals, "
          f"{visits:,} stage visits; {len(report.issues):,} issues reported ({report.issue_counts()})")  # fmt: skip
    print(f"  csv read+parse baseline: {rows / read:>11,.0f} rows/s  ({read:.2f} s; before {read_before:.2f} s, "
          f"after {read_after:.2f} s)")  # fmt: skip
    print(f"  bare bulk write of the raw rows: {rows / write:>7,.0f} rows/s  ({write:.2f} s)")
    print(f"  file -> columns (no database): {rows / reading:>9,.0f} rows/s  ({reading:.2f} s)")
    print(f"  import: {rows / seconds:>28,.0f} rows/s  ({seconds:.2f} s; {_cpu(cpu, report)})")
    if before is not None:
        print(f"  general path: {rows / before[0]:>22,.0f} rows/s  ({before[0]:.2f} s; {_cpu(before[1], before[2])}): "
              f"the import is {before[0] / seconds:.1f}x faster, {before[1] / cpu:.1f}x less CPU here")  # fmt: skip
    print(f"  import cost: {seconds / read:.1f}x the csv read+parse, {seconds / write:.1f}x the bare bulk write")
    print(
        f"  bare write of the {sum(stored.values()):,} rows it stored (events, deals, stays, journeys): "
        f"{floor:.2f} s, so at most {rows / floor:,.0f} rows/s for an import storing them so in one transaction"
    )
    if timer is not None:
        timer.print()
    met = speed >= TARGET
    print(f"  target {TARGET:,} rows/s: {'met' if met else 'NOT met'}")
    return met


class Phases:
    """Wall seconds of the import's parts, on whichever thread they run (``--phases``): the file read as
    columns, the deals and events told, each table's bulk writes (on the writer's thread, beside the
    rest), the indexes and constraints built after the rows, the commit. Wraps the functions while on."""

    PARTS = (
        (columnar, "read_event_columns", "read the file as columns"),
        (columnar._Teller, "_told", "deals told as columns"),
        (columnar._Teller, "_events", "events worked out"),
        (columnar._Teller, "_write", "write: every table, to the last row"),
        (columnar._Teller, "_summaries", "journeys and stay counts worked out"),
        (columnar, "write_stay_counts", "stay counts written"),
        (UnitOfWork, "commit", "commit"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[tuple[object, str, object]] = []

    def __enter__(self) -> Phases:
        for owner, name, label in self.PARTS:
            self._wrap(owner, name, lambda *args, label=label, **kw: label)
        self._wrap(frames, "write_frame", lambda connection, table, frame: f"  rows into {table.name} (writer)")
        built = bulk.indexes_built_after
        phases = self

        @contextlib.contextmanager
        def timed_indexes(connection: object, tables: object) -> Iterator[bool]:
            with built(connection, tables) as first:  # type: ignore[arg-type]
                yield first
                phases.start = time.perf_counter()
            phases.add("indexes and constraints built after the rows", time.perf_counter() - phases.start)

        self._undo.append((bulk, "indexes_built_after", built))
        bulk.indexes_built_after = timed_indexes
        return self

    def _wrap(self, owner: object, name: str, label: Callable[..., str]) -> None:
        real = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.add(label(*args, **kwargs), time.perf_counter() - start)

        self._undo.append((owner, name, real))
        setattr(owner, name, timed)

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds

    def __exit__(self, *exc: object) -> None:
        for owner, name, real in reversed(self._undo):
            setattr(owner, name, real)

    def print(self) -> None:
        print("  phases (wall seconds; writer rows overlap the rest):")
        for label, seconds in self.seconds.items():
            print(f"    {label:<48} {seconds:6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the event-log CSV (default 1000000)")
    parser.add_argument("--db", action="append", metavar="URL", help="database URL (repeatable; all tables dropped)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each import (slows it down)")
    parser.add_argument("--general", action="store_true", help="also import through the general path, to compare")
    parser.add_argument("--phases", action="store_true", help="print the wall seconds of the import's parts")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    with tempfile.TemporaryDirectory(prefix="dealflow-bench-import-") as folder:
        path = Path(folder) / "events.csv"
        start = time.perf_counter()
        deals = write_event_log(path, args.rows, seed=args.seed)
        print(f"generated {path.name}: {args.rows:,} rows, {deals:,} deals, "
              f"{path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - start:.0f} s")  # fmt: skip
        urls = args.db or [f"sqlite:///{Path(folder) / 'bench.db'}", POSTGRES_URL]
        for url in urls:
            options = {"profile": args.profile, "general": args.general, "phases": args.phases}
            run(Settings(database_url=url).database_url, path, args.rows, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
