"""The page benchmark's smoke run, so that its seeding and requests keep working (no timing is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_pages.py"


def test_bench_pages_smoke_run_seeds_the_floor_and_gets_every_page(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pages.db'}"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--db", url, "--profile", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "workspace: 24 open deals" in out
    # Every kind of request answered 200 (anything else stops the script) and made a row.
    rows = re.findall(r"^\| (constant|SELECT 1|board as \w+|deal page as \w+)", out, flags=re.MULTILINE)
    assert sorted(set(rows)) == sorted(
        {"constant", "SELECT 1", "board as admin", "board as manager", "board as rep", "deal page as admin",
         "deal page as rep"}
    )  # fmt: skip
    assert "profile of 2 x" in out
