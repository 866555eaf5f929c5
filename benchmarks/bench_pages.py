"""Benchmark: the pipeline board and a deal page with 2,000 open deals, against baselines in the same app.

Run ``.venv/bin/python benchmarks/bench_pages.py [--db URL ...] [--deals 2000] [--requests 200] [--quick]``.
Without ``--db`` it runs on a temporary SQLite file and on the PostgreSQL database
``dealflow_pages_loadbench`` (created if missing; every table in it is dropped first). The workspace
is seeded by ``sales_floor.seed`` through the real use cases. The requests go in-process through the
ASGI app (httpx's ASGITransport on one event loop; sync routes run in the thread pool, as under
Uvicorn), logged in with the session cookie, interleaved in blocks with two baselines added to the
same app: a route that returns a constant, and a route that runs ``SELECT 1`` in a unit of work.
``--profile N`` then prints a cProfile of N requests of the slowest page, its sync code run inline.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
import httpx2 as httpx
from fastapi import FastAPI
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from dealflow.server.app import create_app
from dealflow.settings import Settings
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade

sys.path.insert(0, str(Path(__file__).parent))
from bench_moves import prepare_database
from sales_floor import PASSWORD, Floor, open_deal_count, read_floor, seed

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/dealflow_pages_loadbench"
TARGETS = {"board": 0.150, "deal": 0.050}  # seconds of server time
BLOCK, WARMUP = 20, 5


@dataclass(frozen=True)
class Operation:
    """One timed request: a name, the client (who is logged in) and the path, rotated over ``paths``."""

    name: str
    kind: str  # "board", "deal" or "baseline"
    client: httpx.AsyncClient
    paths: Sequence[str]


def add_baselines(app: FastAPI) -> None:
    """Two routes that do (almost) nothing, in the same app and middleware as the pages."""

    @app.get("/bench/constant")
    def constant() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bench/select")
    def select_one() -> dict[str, int]:
        with app.state.workspace.unit() as uow:
            return {"one": int(uow.connection.execute(text("SELECT 1")).scalar_one())}


def login(runner: asyncio.Runner, app: FastAPI, user: str) -> httpx.AsyncClient:
    """A client holding ``user``'s session cookie, logged in through the login page."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    form = {"user": user, "password": PASSWORD, "next": "/board"}
    answer = runner.run(client.post("/login", data=form))
    if answer.status_code != 303:
        raise RuntimeError(f"login as {user} failed: {answer.status_code} {answer.text[:200]}")
    return client


def sample_deals(engine: Engine, *, owner: str | None, count: int) -> list[str]:
    """Open deals with the longest histories (of one owner, or of anyone), for the deal page."""
    d = t.deals
    query = select(d.c.id).where(d.c.status == "open").order_by(d.c.version.desc(), d.c.id).limit(count)
    if owner is not None:
        query = query.where(d.c.owner == owner)
    with engine.connect() as connection:
        return [str(r) for r in connection.execute(query).scalars()]


def operations(runner: asyncio.Runner, app: FastAPI, engine: Engine, floor: Floor) -> list[Operation]:
    """The requests to time: the board and a deal page as an admin, a manager and a rep; the baselines."""
    admin, manager = floor.admin, floor.managers["east"]
    rep = next(r[0] for r in floor.reps if r[1] == "ae" and r[2] == "east")
    clients = {user: login(runner, app, user) for user in (admin, manager, rep)}
    anyone, own = sample_deals(engine, owner=None, count=50), sample_deals(engine, owner=rep, count=50)
    return [
        Operation("constant (baseline)", "baseline", clients[admin], ["/bench/constant"]),
        Operation("SELECT 1 (baseline)", "baseline", clients[admin], ["/bench/select"]),
        Operation(f"board as admin {admin}", "board", clients[admin], ["/board"]),
        Operation(f"board as manager {manager}", "board", clients[manager], ["/board"]),
        Operation(f"board as rep {rep}", "board", clients[rep], ["/board"]),
        Operation(f"deal page as admin ({len(anyone)} deals)", "deal", clients[admin], [f"/deals/{i}" for i in anyone]),
        Operation(f"deal page as rep ({len(own)} deals)", "deal", clients[rep], [f"/deals/{i}" for i in own]),
    ]


def request(runner: asyncio.Runner, operation: Operation, index: int) -> tuple[float, float]:
    """Seconds one request takes, on the clock and in this process's CPU time (every thread: the
    event loop's and the pool's; one request runs at a time); anything but a 200 stops the benchmark."""
    path = operation.paths[index % len(operation.paths)]
    start, cpu = time.perf_counter(), time.process_time()
    answer = runner.run(operation.client.get(path))
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    if answer.status_code != 200:
        raise RuntimeError(f"{operation.name}: GET {path} answered {answer.status_code}: {answer.text[:300]}")
    return elapsed, used


Samples = dict[str, list[tuple[float, float]]]


def measure(runner: asyncio.Runner, ops: list[Operation], requests: int) -> Samples:
    """(wall, CPU) seconds of each operation, ``requests`` each, in blocks of BLOCK with a rotating order."""
    for op in ops:
        for i in range(WARMUP):
            request(runner, op, i)
    samples: Samples = {op.name: [] for op in ops}
    done, rounds = 0, 0
    while done < requests:
        size = min(BLOCK, requests - done)
        shift = rounds % len(ops)
        for op in ops[shift:] + ops[:shift]:
            samples[op.name].extend(request(runner, op, done + i) for i in range(size))
        done, rounds = done + size, rounds + 1
    return samples


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(title: str, ops: list[Operation], samples: Samples) -> None:
    """A table of medians, p95 and ratios to the constant baseline; whether each target is met."""
    base = statistics.median(wall for wall, _ in samples[ops[0].name])
    print(f"\n{title}")
    print(f"| {'request':<36} | median ms | p95 ms | CPU ms (median) | / constant | target |")
    print(f"|{'-' * 38}|----------:|-------:|----------------:|-----------:|--------|")
    for op in ops:
        walls, cpus = [w for w, _ in samples[op.name]], [c for _, c in samples[op.name]]
        median, p95 = statistics.median(walls), percentile(walls, 95)
        limit = TARGETS.get(op.kind)
        verdict = "" if limit is None else ("met" if p95 < limit else ("median" if median < limit else "MISSED"))
        print(
            f"| {op.name:<36} | {median * 1000:>9.1f} | {p95 * 1000:>6.1f} | {statistics.median(cpus) * 1000:>15.1f} "
            f"| {median / base:>9.1f}x | {verdict:<6} |"
        )
    print("target: board < 150 ms, deal page < 50 ms ('met': p95 under it; 'median': only the median is)")


async def _inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def profile(runner: asyncio.Runner, op: Operation, count: int) -> None:
    """cProfile ``count`` requests of one operation, the sync routes and dependencies run inline (in
    the profiled thread, not the pool); print the top functions by cumulative time."""
    saved = fastapi.routing.run_in_threadpool, fastapi.dependencies.utils.run_in_threadpool
    fastapi.routing.run_in_threadpool = fastapi.dependencies.utils.run_in_threadpool = _inline  # type: ignore[assignment]
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        for i in range(count):
            request(runner, op, i)
        profiler.disable()
    finally:
        fastapi.routing.run_in_threadpool, fastapi.dependencies.utils.run_in_threadpool = saved
    print(f"\nprofile of {count} x {op.name}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"dealflow|jinja2|sqlalchemy|pydantic|fastapi/(routing|dep)", 40)
    stats.sort_stats("tottime").print_stats(15)


def run(url: str, deals: int, requests: int, *, reuse: bool, profile_count: int) -> None:
    """Seed (or reuse) the workspace at ``url``, then time the pages and the baselines."""
    parsed = make_url(url)
    print(f"\n=== {parsed.get_backend_name()}: {parsed.render_as_string(hide_password=True)} ===")
    try:
        engine, floor = workspace(url, deals, reuse=reuse)
    except OperationalError as exc:
        print(f"skipped: cannot reach the database ({str(exc.orig).strip().splitlines()[0]})")
        return
    with engine.connect() as connection:
        events = int(connection.execute(select(func.count()).select_from(t.events)).scalar() or 0)
    print(f"workspace: {open_deal_count(engine):,} open deals, {events:,} events, {len(floor.users())} users")
    app = create_app(Settings(database_url=url), engine=engine)
    add_baselines(app)
    with asyncio.Runner() as runner:
        ops = operations(runner, app, engine, floor)
        start, load = time.perf_counter(), " ".join(f"{x:.2f}" for x in os.getloadavg())
        samples = measure(runner, ops, requests)
        print(f"timed {requests} requests of each of {len(ops)} kinds in {time.perf_counter() - start:.1f} s")
        report(f"{parsed.get_backend_name()}, {deals:,} open deals (blocks of {BLOCK}, interleaved)", ops, samples)
        print(f"load average: {load} before, {' '.join(f'{x:.2f}' for x in os.getloadavg())} after")
        if profile_count:
            slowest = max(ops, key=lambda op: statistics.median(w for w, _ in samples[op.name]))
            profile(runner, slowest, profile_count)
    engine.dispose()


def workspace(url: str, deals: int, *, reuse: bool) -> tuple[Engine, Floor]:
    """The seeded workspace: with ``reuse``, one already holding that many open deals is kept."""
    if reuse:
        engine = make_engine(url)
        try:
            floor = read_floor(engine)
        except (OperationalError, ProgrammingError):
            floor = None  # no workspace there yet
        if floor is not None and floor.open_deals == deals:
            upgrade(engine)  # a workspace kept from an older schema is brought up to date
            print("reusing the seeded workspace")
            return engine, floor
        engine.dispose()
    engine = prepare_database(url)
    upgrade(engine)
    start = time.perf_counter()
    floor = seed(engine, open_deals=deals)
    print(f"seeded {deals:,} open deals and {floor.closed_deals:,} closed in {time.perf_counter() - start:.1f} s")
    return engine, floor


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", metavar="URL", help="database URL (repeatable; all tables dropped)")
    parser.add_argument("--deals", type=int, default=2_000, help="open deals to seed (default 2000)")
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind to time (default 200)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 24 open deals, 5 requests of each kind")
    parser.add_argument("--reuse", action="store_true", help="keep a workspace already seeded with --deals open deals")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N requests of the slowest page")
    args = parser.parse_args(argv)
    deals, requests = (24, 5) if args.quick else (args.deals, args.requests)
    if deals < 20 or requests < 2:
        parser.error("need --deals >= 20 and --requests >= 2")
    with tempfile.TemporaryDirectory(prefix="dealflow-pages-") as folder:
        for url in args.db or [f"sqlite:///{Path(folder) / 'pages.db'}", POSTGRES_URL]:
            run(Settings(database_url=url).database_url, deals, requests, reuse=args.reuse, profile_count=args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
