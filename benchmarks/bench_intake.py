"""Benchmark: website form posts through ``dealflow serve`` until each lead is routed, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_intake.py [--rate 20] [--seconds 30] [--backends sqlite,postgresql]

For each backend a workspace is made (SQLite: a file in a temporary folder; PostgreSQL: the
database ``dealflow_bench_intake``, created if missing, emptied) with the standard process (its
``website`` form, routing by region with round robin inside the east and west teams, a fallback)
and the demo's team. ``dealflow serve`` (Uvicorn) serves it on loopback. Posts go to
``POST /api/v1/intake/website`` at ``--rate`` a second for ``--seconds`` from a pool of client
threads (httpx), each from its own address (``X-Forwarded-For``, which Uvicorn trusts from
loopback), so the rate limit of 5 a minute per address is exercised but never reached. A post
answers once its lead is deduplicated, stored, routed and committed, so its latency is
intake-to-routed. One post in ten repeats an earlier email (a resubmission), one in twenty names
no region (the fallback), one in fifty fills the honeypot. Then ``--open-leads`` open leads
are added (their speed-to-lead clocks running, none due) and the escalation job's pass over them
is timed (five passes; each must escalate nothing).

The baseline, in the same run and on the same database: one row inserted and committed in its
own transaction by this process (what any write through the server costs at the least). The
report gives p50/p95 of both and their ratio, and checks the database afterwards: every post that
made a lead made exactly one lead with a LeadAssigned event; nothing is lost. ``--quick`` is a smoke
run (a few posts).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select, text

from dealflow.process.loading import load_template
from dealflow.services import demo
from dealflow.services import workspace as ws
from dealflow.services.routing import escalate_overdue_leads
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade
from dealflow.store.unit_of_work import UnitOfWork

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_load import free_port, wait_until_up  # noqa: E402
from bench_moves import prepare_database  # noqa: E402

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dealflow_bench_intake"
TARGET_P95_MS = 200.0
baseline_metadata = MetaData()
bare_rows = Table(
    "bench_bare_rows", baseline_metadata, Column("id", Integer, primary_key=True), Column("note", String(64))
)


@dataclass
class Run:
    """What one backend's run measured."""

    backend: str
    latencies: list[float] = field(default_factory=list)  # seconds, of posts answered 200
    failures: list[str] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    late: int = 0  # posts sent more than 50 ms after their slot (the client fell behind)
    expected_leads: int = 0
    leads: int = 0
    assigned: int = 0
    owners: dict[str, int] = field(default_factory=dict)
    escalation: list[float] = field(default_factory=list)  # seconds of a pass with nothing due
    open_leads: int = 0


def seed(engine: Engine) -> None:
    """The standard process and the demo's team."""
    upgrade(engine)
    baseline_metadata.create_all(engine)
    with UnitOfWork(engine) as uow:
        ws.install_process(uow=uow, source=load_template("standard")[1], name="standard.yaml")
    for user_id, name, roles, team in demo.TEAM:
        with UnitOfWork(engine) as uow:
            ws.add_user(uow=uow, user_id=user_id, name=name, roles=roles, team=team)


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")


def bare_inserts(engine: Engine, count: int) -> list[float]:
    """Latencies of ``count`` single-row inserts, each committed in its own transaction."""
    found = []
    for i in range(count):
        start = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(bare_rows), {"note": f"row {i}"})
        found.append(time.perf_counter() - start)
    return found


def post_bodies(total: int, rng: random.Random, rate: float) -> list[tuple[dict[str, str], bool]]:
    """The posts to send, and whether each should create a lead (not spam, not a repeat). A repeat
    names the email of a lead posted at least a second earlier (so that post has been answered)."""
    bodies: list[tuple[dict[str, str], bool]] = []
    created: list[int] = []
    for i in range(total):
        roll = rng.random()
        settled = [k for k in created if k < i - rate]
        if roll < 0.02:
            bodies.append(({"name": "Bot", "email": f"bot{i}@spam.example", "website_url": "http://x"}, False))
        elif roll < 0.12 and settled:
            bodies.append(({"name": "Again", "email": f"lead{rng.choice(settled)}@firm.example"}, False))
        else:
            region = "" if roll > 0.95 else rng.choice(("east", "west"))
            body = {"name": f"Lead {i}", "email": f"lead{i}@firm.example", "company": f"Firm {i}", "region": region}
            bodies.append((body, True))
            created.append(i)
    return bodies


def drive(base: str, rate: float, seconds: float, run: Run, rng: random.Random) -> None:
    """Send posts at ``rate`` a second for ``seconds``, each from its own address."""
    total = max(1, int(rate * seconds))
    bodies = post_bodies(total, rng, rate)
    local = threading.local()
    lock = threading.Lock()

    def send(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
        slot = start + i / rate
        wait = slot - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.05:
            with lock:
                run.late += 1
        body, _ = bodies[i]
        address = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        began = time.perf_counter()
        answer = client.post(f"{base}/api/v1/intake/website", data=body, headers={"X-Forwarded-For": address})
        took = time.perf_counter() - began
        with lock:
            if answer.status_code == 200:
                run.latencies.append(took)
            else:
                run.failures.append(f"{answer.status_code} {answer.text[:200]}")

    with httpx.Client(timeout=30) as warm:  # first requests load the process and fill caches: not timed
        for i in range(3):
            body = {"name": f"Warm {i}", "email": f"warm{i}@firm.example", "region": "east"}
            headers = {"X-Forwarded-For": f"10.255.255.{i}"}
            assert warm.post(f"{base}/api/v1/intake/website", data=body, headers=headers).status_code == 200
    start = time.perf_counter() + 0.2
    # Enough threads that a slow answer never holds back the next slot.
    with ThreadPoolExecutor(max_workers=min(32, max(4, int(rate)))) as pool:
        list(pool.map(send, range(total)))
    run.expected_leads = 3 + sum(1 for _, creates in bodies if creates)


def check(engine: Engine, run: Run) -> None:
    """Count the leads made and their assignments."""
    with engine.connect() as connection:
        run.leads = int(connection.execute(select(func.count()).select_from(t.leads)).scalar_one())
        run.assigned = int(
            connection.execute(
                select(func.count(func.distinct(t.events.c.stream))).where(t.events.c.type == "LeadAssigned")
            ).scalar_one()
        )
        rows = connection.execute(select(t.leads.c.owner, func.count()).group_by(t.leads.c.owner)).all()
    run.owners = {owner: int(n) for owner, n in rows}


def escalation_pass(engine: Engine, run: Run, extra: int) -> None:
    """Add ``extra`` open leads whose speed-to-lead clock runs (or stopped), none due, then time the
    escalation job's pass over them (what the worker runs every minute)."""
    now = datetime.now(UTC)
    due = now + timedelta(days=1)
    with engine.connect() as connection:
        first = int(connection.execute(select(func.coalesce(func.max(t.leads.c.number), 0))).scalar_one()) + 1
    for start in range(first, first + extra, 10_000):
        rows = [
            {"id": f"L-{n}", "number": n, "name": f"Open {n}", "owner": "sam", "status": "open", "created_at": now,
             "process": "standard", "sla_due_at": None if n % 10 == 0 else due + timedelta(seconds=n)}
            for n in range(start, min(start + 10_000, first + extra))
        ]  # fmt: skip
        with engine.begin() as connection:
            connection.execute(insert(t.leads), rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE leads"))  # as autovacuum would after such a load
    with engine.connect() as connection:
        run.open_leads = int(
            connection.execute(select(func.count()).select_from(t.leads).where(t.leads.c.status == "open")).scalar_one()
        )
    for _ in range(5):
        began = time.perf_counter()
        if escalate_overdue_leads(engine, datetime.now(UTC)) != 0:
            run.failures.append("the escalation pass escalated a lead that was not due")
        run.escalation.append(time.perf_counter() - began)


def serve(url: str, port: int, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``dealflow serve`` on ``url``, answering on ``port``."""
    log = folder / f"serve-{port}.log"
    dealflow = str(Path(sys.executable).parent / "dealflow")
    env = {**os.environ, "DEALFLOW_INTAKE_POSTS_PER_MINUTE": "5"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [dealflow, "serve", "--db", url, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    wait_until_up(f"http://127.0.0.1:{port}/api/v1/health", process, log)
    return process, log


def run_backend(backend: str, url: str, rate: float, seconds: float, bare: int, extra: int, folder: Path) -> Run:
    """Seed, serve, post, check, and measure the bare insert, on one backend."""
    engine = prepare_database(url) if backend == "postgresql" else make_engine(url)
    seed(engine)
    run = Run(backend)
    port = free_port()
    process, log = serve(url, port, folder)
    try:
        drive(f"http://127.0.0.1:{port}", rate, seconds, run, random.Random(7))
        run.bare = bare_inserts(engine, bare)
    finally:
        process.terminate()
        process.wait(timeout=30)
    if " 500 " in log.read_text():
        run.failures.append("the server answered 500 (see its log)")
    check(engine, run)
    if extra:
        escalation_pass(engine, run, extra)
    engine.dispose()
    return run


def report(runs: Sequence[Run], rate: float, seconds: float) -> bool:
    """Print the results table; return whether every check held."""
    load = os.getloadavg()
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {rate:g} posts/s for {seconds:g} s; load {load[0]:.2f}")
    print("\n| backend | posts | p50 ms | p95 ms | max ms | bare insert p50 / p95 ms | p50 ratio | p95 ratio | late |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    for run in runs:
        p50, p95 = percentile(run.latencies, 0.5) * 1000, percentile(run.latencies, 0.95) * 1000
        b50, b95 = percentile(run.bare, 0.5) * 1000, percentile(run.bare, 0.95) * 1000
        top = max(run.latencies, default=float("nan")) * 1000
        print(
            f"| {run.backend} | {len(run.latencies)} | {p50:.1f} | {p95:.1f} | {top:.1f} | {b50:.2f} / {b95:.2f} "
            f"| {p50 / b50:.1f} | {p95 / b95:.1f} | {run.late} |"
        )
    print()
    for run in runs:
        owners = ", ".join(f"{k} {v}" for k, v in sorted(run.owners.items()))
        print(f"{run.backend}: {run.leads} leads for {run.expected_leads} new posts, {run.assigned} routed ({owners})")
        p95 = percentile(run.latencies, 0.95) * 1000
        if run.failures:
            ok = False
            print(f"  FAILED: {len(run.failures)} posts not answered 200, first: {run.failures[0]}")
        if run.leads != run.expected_leads or run.assigned != run.leads:
            ok = False
            print("  FAILED: leads lost, doubled or not routed")
        verdict = "meets" if p95 < TARGET_P95_MS else "misses"
        print(f"  p95 {p95:.0f} ms {verdict} the {TARGET_P95_MS:.0f} ms target")
        if run.escalation:
            print(
                f"  escalation pass over {run.open_leads:,} open leads, none due: "
                f"median {statistics.median(run.escalation) * 1000:.1f} ms, max {max(run.escalation) * 1000:.1f} ms"
            )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="posts a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to post")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="the PostgreSQL database to empty and use")
    parser.add_argument("--bare", type=int, default=300, help="bare single-row inserts for the baseline")
    parser.add_argument("--open-leads", type=int, default=100_000, help="open leads for the escalation pass")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few posts")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate, args.seconds, args.bare, args.open_leads = 10.0, 1.5, 20, 2000
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as folder:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if backend == "sqlite":
                url = f"sqlite:///{Path(folder) / 'intake.db'}"
            elif backend == "postgresql":
                url = args.postgres
            else:
                parser.error(f"unknown backend {backend!r}")
            runs.append(run_backend(backend, url, args.rate, args.seconds, args.bare, args.open_leads, Path(folder)))
    return 0 if report(runs, args.rate, args.seconds) else 1


if __name__ == "__main__":
    sys.exit(main())
