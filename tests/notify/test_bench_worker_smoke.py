"""The worker benchmark's smoke run, so that its seeding and passes keep working (no timing is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_worker.py"


def test_bench_worker_smoke_run_seeds_and_delivers_what_falls_due(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--db", url], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "seeded in" in out
    assert "600 deals, 600 leads, 600 next steps, 30 handoffs" in out
    assert re.search(r"^\| nothing due +\|", out, flags=re.MULTILINE)
    # 30 stays and 3 handoffs late: 33 breaches, each an email to the owner and the team's manager
    # (66), and a digest for each of the 30 reps with a step due: 96 emails, every one received.
    assert "sla_breaches 33 in" in out
    assert "daily_reminders 30 in" in out
    assert "outbox after: {'sent': 96}; emails the SMTP server received: 96" in out
