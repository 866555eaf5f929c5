"""The pm4py side of ``bench_audit.py``: run only with the benchmark's own interpreter, never the
project's (pm4py is AGPL; dealflow neither depends on it nor imports it).

``python pm4py_audit.py LOG.csv`` loads an event log (columns ``case``, ``activity``,
``timestamp``) into pandas once and prepares it with ``format_dataframe`` (sorted by case and
time: on an unsorted frame the calls below find wrong variants), prints how long that took as one
JSON line, then for every
``run`` line read on standard input times ``discover_dfg`` + ``get_variants`` +
``discover_performance_dfg`` (median durations) on it and prints one JSON line with the times;
``run full`` also prints what they found, for the cross-check.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pandas as pd
import pm4py

KEYS = {"case_id_key": "case", "activity_key": "activity", "timestamp_key": "timestamp"}


def read(path: str) -> pd.DataFrame:
    """The log as a data frame with typed timestamps."""
    frame = pd.read_csv(path, dtype={"case": "string", "activity": "string"})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The log as pm4py wants it: its columns checked, events sorted by case and time."""
    return pm4py.format_dataframe(frame, case_id="case", activity_key="activity", timestamp_key="timestamp")


def run(frame: pd.DataFrame) -> tuple[dict[str, float], tuple[Any, Any, Any]]:
    """The three calls, each timed."""
    times = {}
    start = time.perf_counter()
    dfg = pm4py.discover_dfg(frame, **KEYS)
    times["discover_dfg"] = time.perf_counter() - start
    start = time.perf_counter()
    variants = pm4py.get_variants(frame, **KEYS)
    times["get_variants"] = time.perf_counter() - start
    start = time.perf_counter()
    performance = pm4py.discover_performance_dfg(frame, perf_aggregation_key="median", **KEYS)
    times["discover_performance_dfg"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    return times, (dfg, variants, performance)


def found(results: tuple[Any, Any, Any]) -> dict[str, Any]:
    """What pm4py found, as JSON: edges with counts and median seconds, starts, variants."""
    (dfg, starts, _), variants, (performance, _, _) = results
    counts = {k: (len(v) if isinstance(v, list) else int(v)) for k, v in variants.items()}
    return {
        "edges": [[a, b, int(n), float(performance[(a, b)])] for (a, b), n in dfg.items()],
        "starts": {k: int(v) for k, v in starts.items()},
        "variant_count": len(counts),
        "variants": sorted(([list(k), n] for k, n in counts.items()), key=lambda item: (-item[1], item[0]))[:50],
    }


def main() -> int:
    start = time.perf_counter()
    frame = read(sys.argv[1])
    loaded = time.perf_counter()
    frame = prepare(frame)
    ready = {
        "read": loaded - start,
        "format": time.perf_counter() - loaded,
        "events": len(frame),
        "pm4py": pm4py.__version__,
    }
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        if not line.startswith("run"):
            break
        times, results = run(frame)
        answer: dict[str, Any] = {"times": times}
        if "full" in line:
            answer["found"] = found(results)
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
