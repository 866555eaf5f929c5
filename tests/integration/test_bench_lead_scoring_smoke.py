"""The lead-scoring benchmark's smoke run, so that its set-up and checks keep working (no timing is checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_lead_scoring.py"


def test_bench_lead_scoring_smoke_run_reopens_exactly_the_due_leads() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--open-leads", "300", "--backends", "sqlite"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sqlite: 330 leads; nurture pass with nothing due" in done.stdout
    assert "reopening 30 due" in done.stdout
    assert "training on 2,000 closed deals" in done.stdout
