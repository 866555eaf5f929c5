"""Benchmark: the nurture job over many open leads, rule scoring, and training the learned score.

    .venv/bin/python benchmarks/bench_lead_scoring.py [--open-leads 100000] [--backends sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/dealflow_bench_scoring]

For each backend a workspace is made (SQLite: a file in a temporary folder; PostgreSQL: the
database named by ``--postgres-url``, created if missing, emptied) holding ``--open-leads`` open
leads and a tenth as many nurtured leads whose date is weeks away. The nurture job's pass
(``reopen_nurtured``, what the worker runs every minute) is timed five times with nothing due;
then 1,000 nurtured leads come due and one pass reopens them (a second must reopen none).

The baseline, in the same run and on the same database: one ``SELECT 1`` in its own transaction
(a round trip, the least any pass costs). Without a database: scoring 10,000 leads with the SaaS
template's rules, and training the calibrated model on 2,000 closed deals' features.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from dealflow.analytics import lead_model
from dealflow.domain.decisions import Actor
from dealflow.domain.lead_scores import score_lead
from dealflow.domain.lead_state import evolve
from dealflow.domain.leads import create_lead
from dealflow.process.loading import load_template
from dealflow.services.lead_scoring import reopen_nurtured
from dealflow.store import tables as t
from dealflow.store.engine import upgrade

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_moves import prepare_database  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DUE = 1_000
BATCH = 10_000


def due_count(open_leads: int) -> int:
    """How many nurtured leads come due in the busy pass."""
    return min(DUE, open_leads // 10)


def fill(engine: Engine, open_leads: int) -> None:
    """Open leads, and a tenth as many nurtured ones due in three to nine weeks."""
    nurtured = open_leads // 10
    for start in range(1, open_leads + nurtured + 1, BATCH):
        rows = []
        for n in range(start, min(start + BATCH, open_leads + nurtured + 1)):
            parked = n > open_leads
            rows.append({
                "id": f"L-{n}", "number": n, "name": f"Lead {n}", "owner": "sam", "created_at": NOW,
                "status": "nurture" if parked else "open", "score": n % 97,
                "reengage_on": (NOW + timedelta(days=21 + n % 42)).date() if parked else None,
            })  # fmt: skip
        with engine.begin() as connection:
            connection.execute(insert(t.leads), rows)
    events = [
        {"stream": f"lead:L-{n}", "version": 1, "type": "LeadCreated", "actor": "sam", "at": NOW, "data": {}}
        for n in range(open_leads + 1, open_leads + due_count(open_leads) + 1)
    ]
    with engine.begin() as connection:
        connection.execute(insert(t.events), events)


def bench_backend(engine: Engine, open_leads: int) -> dict[str, float]:
    """Time the nurture pass with nothing due, and with 1,000 leads due."""
    upgrade(engine)
    fill(engine, open_leads)
    quiet = []
    for _ in range(5):
        began = time.perf_counter()
        assert reopen_nurtured(engine, NOW) == 0, "a pass with nothing due reopened a lead"
        quiet.append(time.perf_counter() - began)
    baseline = []
    for _ in range(20):
        began = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
        baseline.append(time.perf_counter() - began)
    with engine.begin() as connection:
        ids = [f"L-{n}" for n in range(open_leads + 1, open_leads + due_count(open_leads) + 1)]
        connection.execute(t.leads.update().where(t.leads.c.id.in_(ids)).values(reengage_on=NOW.date()))
    began = time.perf_counter()
    reopened = reopen_nurtured(engine, NOW)
    busy = time.perf_counter() - began
    assert reopened == due_count(open_leads), f"reopened {reopened}, expected {due_count(open_leads)}"
    assert reopen_nurtured(engine, NOW) == 0, "a second pass reopened a lead again"
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(t.leads)).scalar_one()
    base = statistics.median(baseline)
    return {
        "leads": count,
        "quiet_ms": statistics.median(quiet) * 1000,
        "baseline_ms": base * 1000,
        "ratio": statistics.median(quiet) / base,
        "due": due_count(open_leads),
        "reopen_ms": busy * 1000,
    }


def bench_pure() -> dict[str, float]:
    """Time rule scoring and training, without a database."""
    process = load_template("saas")[0]
    actor = Actor("sam", ("sdr",))
    rng = random.Random(1)
    leads = []
    for n in range(10_000):
        answers = {
            "title": rng.choice(["VP Sales", "Intern", "Head of Ops"]),
            "company_size": str(rng.randint(1, 9000)),
        }
        details = {"process": "saas", "fields": answers}
        found = create_lead(
            f"L-{n}", name="X", company="Y", email=rng.choice(["a@gmail.com", "b@acme.io"]),
            source=rng.choice(["demo_request", "content"]), owner="sam", actor=actor, now=NOW, details=details,
        )  # fmt: skip
        assert isinstance(found, list)
        leads.append(evolve(None, found[0]))
    began = time.perf_counter()
    for lead in leads:
        score_lead(lead, process, NOW)
    per_lead_us = (time.perf_counter() - began) / len(leads) * 1e6
    rows, won = [], []
    for _ in range(2_000):
        demo = rng.random() < 0.4
        rows.append({f"source={'demo_request' if demo else 'content'}": 1.0, "#company_size": rng.random() * 8})
        won.append(rng.random() < (0.8 if demo else 0.2))
    began = time.perf_counter()
    model = lead_model.train(rows, won, now=NOW)
    return {"score_per_lead_us": per_lead_us, "train_2000_s": time.perf_counter() - began, "auc": model.auc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open-leads", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/dealflow_bench_scoring")
    args = parser.parse_args()
    pure = bench_pure()
    print(f"rule scores: {pure['score_per_lead_us']:.0f} µs a lead (SaaS template, 10 rules)")
    print(f"training on 2,000 closed deals: {pure['train_2000_s']:.2f} s (held-out AUC {pure['auc']:.2f})")
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            url = f"sqlite:///{folder}/bench.db" if backend == "sqlite" else args.postgres_url
            engine = prepare_database(url)
            found = bench_backend(engine, args.open_leads)
            engine.dispose()
            print(
                f"{backend}: {found['leads']:,} leads; nurture pass with nothing due {found['quiet_ms']:.2f} ms "
                f"(baseline SELECT 1 {found['baseline_ms']:.2f} ms, ratio {found['ratio']:.1f}); "
                f"reopening {found['due']:,} due {found['reopen_ms']:.0f} ms"
            )


if __name__ == "__main__":
    main()
