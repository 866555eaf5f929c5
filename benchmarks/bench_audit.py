"""Benchmark: ``dealflow audit`` (transition graph with median durations, variants, conformance,
findings) against pm4py's ``discover_dfg`` + ``get_variants`` + ``discover_performance_dfg`` on the
same log, exported from the same database, in the same run.

Run ``.venv/bin/python benchmarks/bench_audit.py [--deals 1000000] [--reuse] [--rounds 3]``.
It fills the PostgreSQL database ``dealflow_audit_bench`` with a synthetic history
(:mod:`synthetic`; every table in it is dropped first) unless ``--reuse`` finds it holding that
many deals already (then it only upgrades the schema). It exports the log (case = deal,
activity = stage entered or outcome reached, timestamp = when) to a CSV file and starts
``benchmarks/pm4py_audit.py`` under a separate interpreter (``--pm4py``, default
``/work/pm4py-venv/bin/python``: pm4py is AGPL and is never installed in the project's
environment nor imported by it). pm4py loads the log once, untimed; then each round times one
audit and one run of the three pm4py calls, alternating which goes first. Before timing, the
figures of both are compared: edge counts, start stages, median durations, variant counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from dealflow.analytics.audit import ProcessAudit, compute_audit
from dealflow.settings import Settings
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade

sys.path.insert(0, str(Path(__file__).parent))
from bench_moves import prepare_database
from synthetic import NOW, fill

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/dealflow_audit_bench"
PM4PY_PYTHON = "/work/pm4py-venv/bin/python"
TARGET = 5.0
OUTCOMES = ("won", "lost", "disqualified")
# One row per stage entered (finished stays, then the stay each open deal is in now) and one per
# outcome reached: what pm4py needs to find the same graph, durations and variants.
LOG_QUERY = """
COPY (
    SELECT deal_id AS "case", stage AS activity, entered_at AS "timestamp" FROM stage_visits
    WHERE process = 'standard'
    UNION ALL
    SELECT id, stage, stage_entered_at FROM deals WHERE process = 'standard' AND status = 'open'
    UNION ALL
    SELECT deal_id, exit, left_at FROM stage_visits
    WHERE process = 'standard' AND exit IN ('won', 'lost', 'disqualified')
) TO STDOUT (FORMAT csv, HEADER)
"""


def database(url: str, deals: int, *, reuse: bool, seed: int) -> Engine:
    """The benchmark's database holding ``deals`` synthetic deals (filled unless reused)."""
    if reuse:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                found = connection.execute(select(func.count()).select_from(t.deals)).scalar()
        except Exception:
            found = None
        if found == deals:
            upgrade(engine)  # the indexes of later migrations, as a database that has run for a while has
            print(f"reusing {make_url(url).render_as_string(hide_password=True)}: {deals:,} deals")
            return engine
        engine.dispose()
        print(f"--reuse: the database holds {found} deals, not {deals:,}; filling it again")
    engine = prepare_database(url)
    start = time.perf_counter()
    counts = fill(engine, deals, seed=seed)
    print(f"filled {counts} in {time.perf_counter() - start:.0f} s")
    return engine


def export_log(engine: Engine, path: Path) -> int:
    """Write the event log of the database to ``path`` as CSV; returns the number of events."""
    raw = engine.raw_connection()
    try:
        with path.open("wb") as out, raw.cursor() as cursor, cursor.copy(LOG_QUERY) as copy:  # type: ignore[attr-defined]
            for chunk in copy:
                out.write(chunk)
    finally:
        raw.close()
    with path.open("rb") as f:
        return sum(1 for _ in f) - 1


def audit(engine: Engine) -> tuple[float, ProcessAudit]:
    """One audit of the standard process, timed."""
    start = time.perf_counter()
    with engine.connect() as connection:
        found = compute_audit(connection, process="standard", period=None, filters={}, now=NOW, top=10)
    return time.perf_counter() - start, found.processes[0]


class Pm4py:
    """pm4py in its own interpreter, driven line by line."""

    def __init__(self, python: str, log: Path) -> None:
        script = Path(__file__).with_name("pm4py_audit.py")
        self.process = subprocess.Popen(
            [python, str(script), str(log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the pm4py process ended without answering (is pm4py installed there?)")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, *, full: bool = False) -> dict[str, Any]:
        """Time the three calls once (``full``: also return what they found)."""
        assert self.process.stdin is not None
        self.process.stdin.write("run full\n" if full else "run\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def compare(ours: ProcessAudit, theirs: dict[str, Any]) -> list[str]:
    """Where the audit and pm4py disagree (an empty list when they find the same)."""
    problems = []
    edges = {(e.source, e.target): e for e in ours.edges if e.source != "start"}
    seen = {(a, b): (n, median) for a, b, n, median in theirs["edges"]}
    if set(edges) != set(seen):
        problems.append(f"edges differ: {sorted(set(edges) ^ set(seen))}")
    for key in set(edges) & set(seen):
        count, median = seen[key]
        mine = edges[key]
        if mine.count != count:
            problems.append(f"{key}: {mine.count} moves here, {count} in pm4py")
        if mine.median_days is None or abs(mine.median_days * 86_400 - median) > 0.01:
            problems.append(f"{key}: median {mine.median_days} d here, {median / 86_400} d in pm4py")
    starts = {e.target: e.count for e in ours.edges if e.source == "start"}
    if starts != theirs["starts"]:
        problems.append(f"start stages differ: {starts} against {theirs['starts']}")
    if ours.variant_count != theirs["variant_count"]:
        problems.append(f"{ours.variant_count} variants here, {theirs['variant_count']} in pm4py")
    pm4py_top = {tuple(path): n for path, n in theirs["variants"]}
    for v in ours.variants:
        path = (*v.stages, v.outcome) if v.outcome in OUTCOMES else v.stages
        if pm4py_top.get(path) != v.deals:
            problems.append(f"variant {' > '.join(path)}: {v.deals} here, {pm4py_top.get(path)} in pm4py")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=POSTGRES_URL)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds --deals deals")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pm4py", default=PM4PY_PYTHON, help="the interpreter that has pm4py and pandas")
    args = parser.parse_args(argv)
    url = Settings(database_url=args.db).database_url
    engine = database(url, args.deals, reuse=args.reuse, seed=args.seed)
    with engine.connect() as connection:
        stays = connection.execute(select(func.count()).select_from(t.stage_visits)).scalar()
        events = connection.execute(select(func.count()).select_from(t.events)).scalar()
    print(f"history: {args.deals:,} deals, {events:,} events, {stays:,} finished stage stays; load average {load()}")
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "log.csv"
        start = time.perf_counter()
        rows = export_log(engine, log)
        print(f"exported the log for pm4py: {rows:,} events in {time.perf_counter() - start:.1f} s")
        pm4py = Pm4py(args.pm4py, log)
        print(
            f"pm4py {pm4py.ready['pm4py']} loaded it in {pm4py.ready['read']:.1f} s "
            f"(+ {pm4py.ready['format']:.1f} s for format_dataframe), untimed"
        )
        try:
            _, ours = audit(engine)  # warms the caches of the database, as pm4py's first run warms its own
            problems = compare(ours, pm4py.run(full=True)["found"])
            print("cross-check: " + ("same edges, counts, medians, start stages and variants" if not problems else ""))
            for problem in problems[:20]:
                print(f"  MISMATCH {problem}")
            mine: list[float] = []
            theirs: list[dict[str, float]] = []
            for round_ in range(args.rounds):
                order = ("ours", "pm4py") if round_ % 2 == 0 else ("pm4py", "ours")
                for who in order:
                    if who == "ours":
                        mine.append(audit(engine)[0])
                    else:
                        theirs.append(pm4py.run()["times"])
                print(
                    f"round {round_ + 1}: audit {mine[-1]:.2f} s, pm4py {theirs[-1]['total']:.2f} s, "
                    f"load average {load()}",
                    flush=True,
                )
        finally:
            pm4py.close()
    report(mine, theirs, pm4py.ready["format"])
    return 0


def load() -> str:
    """The load average over 1, 5 and 15 minutes: the machine is shared, figures move with it."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def report(mine: list[float], theirs: list[dict[str, float]], format_seconds: float) -> None:
    """The medians of the rounds and the ratio against the target."""
    calls = ("discover_dfg", "get_variants", "discover_performance_dfg", "total")
    pm4py = {call: statistics.median(t[call] for t in theirs) for call in calls}
    ours = statistics.median(mine)
    print()
    print("| what | median s |")
    print("|---|---:|")
    print(f"| dealflow audit (graph + durations + variants + conformance + findings) | {ours:.2f} |")
    for call in calls[:-1]:
        print(f"| pm4py {call} | {pm4py[call]:.2f} |")
    print(f"| pm4py, the three calls | {pm4py['total']:.2f} |")
    ratio = pm4py["total"] / ours
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"\naudit vs pm4py's three calls: {ratio:.1f}x faster (target {TARGET:.0f}x: {verdict})")
    print(f"counting pm4py's format_dataframe too: {(pm4py['total'] + format_seconds) / ours:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
