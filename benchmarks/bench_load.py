"""Benchmark: 50 concurrent users against ``dealflow serve`` on PostgreSQL, beside a bare FastAPI endpoint.

Locust is a load tool, not a dependency of dealflow: install it in an environment of its own, then run

    python3 -m venv /tmp/locust-venv && /tmp/locust-venv/bin/pip install "locust==2.47.0"
    .venv/bin/python benchmarks/bench_load.py --locust /tmp/locust-venv/bin/locust [--users 50] [--seconds 60]

The PostgreSQL database ``dealflow_load_loadbench`` (``--db``) is dropped and seeded with the sales floor
of ``sales_floor.py`` (2,000 open deals; a copy of the seeded database is kept beside it, so later runs
start from it in seconds). Two ``dealflow serve`` processes (Uvicorn) serve it on two ports; a third
Uvicorn process serves a bare FastAPI app whose one route returns a constant. Then, in one run:

1. checks across the two instances: a session opened on one is valid on the other and ended there;
   failed logins counted on both trip the login limit; an Idempotency-Key used on one is replayed on
   the other;
2. the bare endpoint under ``--users`` users for half of ``--seconds``;
3. every user's session opened (through the login API, on both servers, before the clock starts);
   dealflow under the same users for ``--seconds`` (``load_users.Rep``: board views, deal pages, moves
   that pass, moves the gate refuses, calls logged, retried moves); both instances take requests
   during the middle third, the first one alone otherwise;
4. the bare endpoint again for half of ``--seconds``;
5. checks on the database: no 5xx in either server's log, every move the users saw succeed is one
   ``DealMoved`` event (none lost, none doubled by a retry), every deal stands where its moves left it,
   every call the users logged is one activity.

It prints p50/p95 and throughput of each phase, the ratios to the bare endpoint and the load average,
and exits 1 if a check fails. ``--quick`` is a smoke run (60 deals, 8 users, 12 s).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from dealflow.domain import events as ev
from dealflow.settings import Settings
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_moves import prepare_database  # noqa: E402
from sales_floor import PASSWORD, seed  # noqa: E402

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/dealflow_load_loadbench"
CYCLE_TITLE = "load cycle"


@dataclass(frozen=True)
class Phase:
    """One Locust run: what it hit and what it measured."""

    name: str
    stats: list[dict[str, str]]
    load: tuple[float, float, float]
    seconds: float

    def row(self, name: str = "Aggregated") -> dict[str, str]:
        """The Locust stats row of one request name (all requests by default)."""
        return next(r for r in self.stats if r["Name"] == name)


def bare_app() -> Any:
    """A FastAPI app with one route that does nothing: the baseline (a sync route, as dealflow's are)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int) -> None:
    """Serve the bare app with Uvicorn, configured as ``dealflow serve`` configures it."""
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port, proxy_headers=True, log_level="info")


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for a server to answer (or fail with its log)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server {url} did not answer within 60 s")


class Servers:
    """Two ``dealflow serve`` instances on one database, and the bare baseline server."""

    def __init__(self, url: str, folder: Path) -> None:
        self.folder = folder
        self.ports = [free_port(), free_port()]
        self.bare_port = free_port()
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        dealflow = str(Path(sys.executable).parent / "dealflow")
        for i, port in enumerate(self.ports):
            self._start([dealflow, "serve", "--db", url, "--port", str(port)], folder / f"server{i + 1}.log")
        self._start([sys.executable, __file__, "--serve-bare", str(self.bare_port)], folder / "bare.log")
        try:
            for (process, log), port in zip(self.processes, [*self.ports, self.bare_port], strict=True):
                path = "ping" if port == self.bare_port else "api/v1/health"
                wait_until_up(f"http://127.0.0.1:{port}/{path}", process, log)
        except BaseException:
            self.stop()
            raise

    def _start(self, command: list[str], log: Path) -> None:
        handle = log.open("wb")
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((process, log))

    @property
    def hosts(self) -> list[str]:
        """The two dealflow instances' base URLs."""
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def stop(self) -> None:
        """Stop the servers this benchmark started."""
        for process, _ in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def errors(self) -> list[str]:
        """Access-log lines of any 5xx answer, and tracebacks, from every server."""
        found = []
        for _, log in self.processes:
            for line in log.read_text(errors="replace").splitlines():
                if '" 5' in line or "Traceback" in line:
                    found.append(f"{log.name}: {line}")
        return found


def prepared(url: str, deals: int, cycle: int) -> Engine:
    """The seeded workspace: a fresh copy of the kept seeded database when it matches, else seeded now."""
    parsed = make_url(url)
    name = parsed.database
    assert name
    seeded = f"{name}_seeded_{deals}_{cycle}"[:63]
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        have = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": seeded}).first()
    if have is None:
        engine = prepare_database(url)
        upgrade(engine)
        start = time.perf_counter()
        seed(engine, open_deals=deals, cycle_per_sdr=cycle)
        print(f"seeded {deals:,} open deals (+{cycle} per SDR to cycle) in {time.perf_counter() - start:.1f} s")
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{seeded}" TEMPLATE "{name}"'))
    else:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seeded}"'))
        print(f"workspace copied from {seeded}")
    admin.dispose()
    engine = make_engine(url)
    upgrade(engine)  # a copy kept from an older schema is brought up to date
    return engine


def slots(engine: Engine, users: int) -> list[dict[str, Any]]:
    """Each Locust user's rep, its own slice of cycle deals, and deals it may look at."""
    d = t.deals
    with engine.connect() as connection:
        rows = connection.execute(
            select(d.c.id, d.c.owner).where(d.c.title.like(f"%{CYCLE_TITLE}")).order_by(d.c.number)
        ).all()
        others = connection.execute(
            select(d.c.id, d.c.owner).where(d.c.status == "open", ~d.c.title.like(f"%{CYCLE_TITLE}")).order_by(d.c.id)
        ).all()
    by_owner: dict[str, list[str]] = {}
    for row in rows:
        by_owner.setdefault(row.owner, []).append(row.id)
    owners = sorted(by_owner)
    per_owner = max(1, -(-users // len(owners)))  # Locust users on each rep (ceiling)
    found = []
    for i in range(users):
        owner, part = owners[i % len(owners)], i // len(owners)
        deals = by_owner[owner][part::per_owner]
        found.append({"user": owner, "cycle": deals, "view": [r.id for r in others if r.owner == owner][:40]})
    return found


def check_instances(hosts: list[str], floor_user: str, other_user: str) -> list[str]:
    """Sessions, the login limit and idempotency keys are shared by the two instances."""
    a, b = hosts
    problems = []
    with httpx.Client(base_url=a) as on_a, httpx.Client(base_url=b) as on_b:
        login = on_a.post("/api/v1/auth/login", json={"user": other_user, "password": PASSWORD})
        cookie = {"dealflow_session": login.cookies["dealflow_session"]}
        csrf = login.json()["csrf_token"]
        if on_b.get("/api/v1/auth/session", cookies=cookie).status_code != 200:
            problems.append("a session opened on instance 1 is not valid on instance 2")
        body, key = {"title": "Cross-instance deal", "process": "standard"}, str(uuid.uuid4())
        headers = {"X-CSRF-Token": csrf, "Idempotency-Key": key}
        first = on_a.post("/api/v1/deals", json=body, headers=headers, cookies=cookie)
        again = on_b.post("/api/v1/deals", json=body, headers=headers, cookies=cookie)
        if first.status_code != 201 or again.headers.get("Idempotent-Replayed") != "true":
            problems.append(f"idempotency key not replayed across instances: {first.status_code}, {again.status_code}")
        elif first.json()["id"] != again.json()["id"]:
            problems.append("the retry on instance 2 made a second deal")
        if on_b.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}, cookies=cookie).status_code != 204:
            problems.append("logout on instance 2 failed")
        if on_a.get("/api/v1/auth/session", cookies=cookie).status_code != 401:
            problems.append("a session ended on instance 2 still works on instance 1")
        wrong = {"user": floor_user, "password": "not the password"}
        codes = [(on_a if i % 2 else on_b).post("/api/v1/auth/login", json=wrong).status_code for i in range(5)]
        right = on_a.post("/api/v1/auth/login", json={"user": floor_user, "password": PASSWORD})
        if codes != [401] * 5 or right.status_code != 429:
            problems.append(
                f"login limit not shared: failures answered {codes}, then the right password {right.status_code}"
            )
    print(f"cross-instance checks: {'passed' if not problems else 'FAILED'} (sessions, idempotency keys, login limit)")
    return problems


def log_in(hosts: list[str], plan: list[dict[str, Any]]) -> float:
    """Open each Locust user's session before the run, four logins at a time over both servers
    (argon2 makes each one cost tens of milliseconds of CPU); returns the seconds it took."""

    def one(i: int) -> None:
        slot = plan[i]
        answer = httpx.post(
            f"{hosts[i % len(hosts)]}/api/v1/auth/login", json={"user": slot["user"], "password": PASSWORD}, timeout=120
        )
        if answer.status_code != 200:
            raise RuntimeError(f"login as {slot['user']} answered {answer.status_code}: {answer.text[:200]}")
        slot["session"], slot["csrf"] = answer.cookies["dealflow_session"], answer.json()["csrf_token"]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(len(plan))))
    return time.perf_counter() - start


def run_locust(locust: str, config: dict[str, Any], folder: Path, name: str, users: int, seconds: float) -> Phase:
    """One headless Locust run of the user class ``name``; its stats and the load average after it."""
    path = folder / f"{name.lower()}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    prefix = path.with_suffix("")
    command = [
        locust, "-f", str(HERE / "load_users.py"), "--headless", "-u", str(users), "-r", str(users),
        "-t", f"{seconds:g}s", "--stop-timeout", "10", "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
        "--host", config["hosts"][0], name,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, "DEALFLOW_LOAD_CONFIG": str(path)}, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: some request failed; the checks below say which
        raise RuntimeError(f"locust failed ({done.returncode}): {done.stderr[-3000:]}")
    with open(f"{prefix}_stats.csv", newline="") as handle:
        stats = list(csv.DictReader(handle))
    return Phase(name, stats, os.getloadavg(), elapsed)


def moved_events(engine: Engine, after: int) -> dict[str, int]:
    """DealMoved events recorded after event ``after``, per deal."""
    e = t.events
    query = select(e.c.stream, func.count()).where(e.c.seq > after, e.c.type == ev.DEAL_MOVED).group_by(e.c.stream)
    with engine.connect() as connection:
        return {stream.removeprefix("deal:"): n for stream, n in connection.execute(query).all()}


def check_database(engine: Engine, after: int, result: dict[str, Any], cycle: list[str]) -> list[str]:
    """Every move the users saw succeed is exactly one event; deals stand where their moves left them."""
    problems = []
    seen = {k: int(v) for k, v in result["moves"].items()}
    recorded = moved_events(engine, after)
    if recorded != seen:
        diff = {
            k: (seen.get(k, 0), recorded.get(k, 0)) for k in set(seen) | set(recorded) if seen.get(k) != recorded.get(k)
        }
        problems.append(
            f"moves answered 200 vs DealMoved events differ for {len(diff)} deals: {list(diff.items())[:5]}"
        )
    d, a, e = t.deals, t.activities, t.events
    with engine.connect() as connection:
        stages = dict(connection.execute(select(d.c.id, d.c.stage).where(d.c.id.in_(cycle))).all())
        calls = connection.execute(
            select(func.count()).select_from(a).join(e, e.c.seq == a.c.seq).where(e.c.seq > after, a.c.kind == "call")
        ).scalar()
    wrong = [i for i in cycle if stages.get(i) != ("qualification" if seen.get(i, 0) % 2 else "prospecting")]
    if wrong:
        problems.append(f"{len(wrong)} deals are not where their moves left them: {wrong[:5]}")
    if calls != result["calls"]:
        problems.append(f"{result['calls']} calls answered 201 but {calls} recorded")
    print(
        f"database checks: {sum(seen.values()):,} moves answered 200, {sum(recorded.values()):,} DealMoved events; "
        f"{result['replays']:,} retries replayed; {result['refused']:,} moves refused by the gate; "
        f"{result['calls']:,} calls answered, {calls:,} recorded: {'passed' if not problems else 'FAILED'}"
    )
    return problems


def report(phases: list[Phase], users: int) -> None:
    """p50/p95 and throughput of each phase and request kind, and the ratios to the bare endpoint."""
    print("\n| phase / request | requests | failures | req/s | p50 ms | p95 ms | p99 ms | load avg after |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for phase in phases:
        rows = [r for r in phase.stats if r["Name"] != "Aggregated" and int(r["Request Count"])] + [phase.row()]
        for r in rows:
            label = f"{phase.name}: {'all' if r['Name'] == 'Aggregated' else r['Name']}"
            print(
                f"| {label} | {int(r['Request Count']):,} | {r['Failure Count']} | {float(r['Requests/s']):.1f} "
                f"| {r['50%']} | {r['95%']} | {r['99%']} | {' '.join(f'{x:.2f}' for x in phase.load)} |"
            )
    bare = [p for p in phases if p.name == "Bare"]
    app = next(p for p in phases if p.name == "Rep")
    if any(p.row()["50%"] == "N/A" for p in [*bare, app]):
        print("a phase measured no request: run longer (--seconds)")
        return
    b50 = sum(float(p.row()["50%"]) for p in bare) / len(bare)
    b95 = sum(float(p.row()["95%"]) for p in bare) / len(bare)
    brps = sum(float(p.row()["Requests/s"]) for p in bare) / len(bare)
    r = app.row()
    print(
        f"\n{users} users: dealflow p50 {r['50%']} ms / bare {b50:.0f} ms = {float(r['50%']) / max(b50, 1):.1f}x; "
        f"p95 {r['95%']} ms / {b95:.0f} ms = {float(r['95%']) / max(b95, 1):.1f}x; "
        f"throughput {float(r['Requests/s']):.0f} / {brps:.0f} req/s = {float(r['Requests/s']) / brps:.2f}x"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=POSTGRES_URL, help="PostgreSQL URL (the database is dropped and re-made)")
    parser.add_argument("--locust", default=shutil.which("locust") or "locust", help="the locust command")
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="length of the dealflow phase (default 60)")
    parser.add_argument("--deals", type=int, default=2_000, help="open deals to seed (default 2000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 deals, 8 users, 12 s")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    users, seconds, deals = (8, 12.0, 60) if args.quick else (args.users, args.seconds, args.deals)
    url = Settings(database_url=args.db).database_url
    if make_url(url).get_backend_name() != "postgresql":
        parser.error("--db must be a PostgreSQL URL: the load run shares one database between two servers")
    cycle = max(2, -(-users * 3 // 6))  # cycle deals per SDR: about three per Locust user
    engine = prepared(url, deals, cycle)
    with engine.connect() as connection:
        after = int(connection.execute(select(func.max(t.events.c.seq))).scalar() or 0)
    plan = slots(engine, users)
    cycle_ids = [i for s in plan for i in s["cycle"]]
    if len(set(cycle_ids)) != len(cycle_ids):
        raise RuntimeError("two Locust users share a cycle deal")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dealflow-load-") as name:
        folder = Path(name)
        servers = Servers(url, folder)
        try:
            problems += check_instances(servers.hosts, "central-csm", "west-ae1")
            print(f"{len(plan)} sessions opened in {log_in(servers.hosts, plan):.1f} s (before the measured run)")
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            bare = {"hosts": [f"http://127.0.0.1:{servers.bare_port}"], "two_from": 0, "two_until": 0, "slots": []}
            config = {
                "hosts": servers.hosts, "two_from": seconds / 3, "two_until": 2 * seconds / 3, "slots": plan,
                "result": str(folder / "result.json"),
            }  # fmt: skip
            phases = [run_locust(args.locust, bare, folder, "Bare", users, seconds / 2)]
            phases.append(run_locust(args.locust, config, folder, "Rep", users, seconds))
            phases.append(run_locust(args.locust, bare, folder, "Bare", users, seconds / 2))
            result = json.loads((folder / "result.json").read_text())
        finally:
            servers.stop()
        problems += [f"server: {line}" for line in servers.errors()]
        problems += [f"unexpected answer: {line}" for line in result["unexpected"]]
        if problems:  # keep the servers' logs to read the tracebacks
            kept = Path(tempfile.mkdtemp(prefix="dealflow-load-logs-"))
            for _, log in servers.processes:
                shutil.copy(log, kept)
            print(f"server logs kept in {kept}")
        problems += check_database(engine, after, result, cycle_ids)
        two = dict(result["by_host"].items())
        print(f"requests per instance (moves, calls, pages): {two}")
        print(f"requests cut off by Locust while it stopped the users: {result['cut_at_stop']}")
        if len(two) < 2:
            problems.append("the second instance took no requests")
    report(phases, users)
    engine.dispose()
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"\nchecks: {'all passed' if not problems else f'{len(problems)} FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
