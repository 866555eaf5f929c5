"""The intake benchmark's smoke run, so that its seeding, serving and checks keep working (no timing is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_intake.py"


def test_bench_intake_smoke_run_posts_and_routes_every_lead() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--backends", "sqlite"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"^sqlite: (\d+) leads for (\d+) new posts, (\d+) routed", done.stdout, flags=re.MULTILINE)
    assert found is not None, done.stdout
    leads, expected, routed = (int(g) for g in found.groups())
    assert leads == expected == routed > 3
    assert re.search(r"^\| sqlite \| \d+ \| [\d.]+ \| [\d.]+ \|", done.stdout, flags=re.MULTILINE)
