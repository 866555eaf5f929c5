"""Reading an event log as columns gives what the general reader gives: the same moments for the
same timestamps, the same JSON text for the same strings, the same stage order for the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dealflow.imports.columnar import _hours, json_strings
from dealflow.imports.csvfiles import ISO, DateColumn
from dealflow.imports.event_columns import _moments, read_event_columns
from dealflow.imports.generic import read_event_log
from dealflow.imports.history import ImportReport
from dealflow.imports.recording import stage_order
from dealflow.store.stay_summaries import HOUR, hour_of

# Digits around the edges of what a date can hold: month 13, day 31 of a short month, hour 24,
# second 60, year 0, leap days.
_YEARS = st.sampled_from(["0000", "0001", "1999", "2023", "2024", "2100", "9999"])
_TWO = st.sampled_from(["00", "01", "02", "09", "12", "13", "23", "24", "28", "29", "30", "31", "59", "60", "99"])
_TIMES = st.builds(
    lambda y, mo, d, time, h, mi, s, frac, zone: f"{y}-{mo}-{d}" + (f"{time}{h}:{mi}:{s}{frac}{zone}" if time else ""),
    _YEARS, _TWO, _TWO, st.sampled_from(["", "T", " "]), _TWO, _TWO, _TWO,
    st.sampled_from(["", ".250", ".000001", ".999999"]), st.sampled_from(["", "Z", "+00:00"]),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_TIMES, min_size=1, max_size=30))
def test_timestamps_read_as_the_general_reader_reads_them(values: list[str]) -> None:
    values = ["2024-05-01T10:00:00Z", *values]  # one good value in the sample, as the reader needs
    moments = _moments(pl.Series(values))
    assert moments is not None
    general = DateColumn("timestamp", ISO)
    assert moments.to_list() == [general.parse(value) for value in values]


def test_timestamps_in_another_shape_go_to_the_general_reader() -> None:
    assert _moments(pl.Series(["2024-05-01T10:00:00Z", "05/01/2024"])) is None
    assert _moments(pl.Series(["2024-05-01T10:00:00+02:00"])) is None
    assert _moments(pl.Series(["2024-02-30T10:00:00Z"] * 3)) is None  # the reader refuses the file


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=20))
def test_strings_are_json_text_as_json_dumps_writes_it(values: list[str]) -> None:
    assert json_strings(pl.Series(values, dtype=pl.String)).to_list() == [json.dumps(value) for value in values]


def test_stage_order_and_histories_are_the_general_readers(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    rows = [
        "deal_id,stage,timestamp,owner,amount",
        "A,Lead,2024-01-01,Ann,100",
        "A,Demo,2024-01-03,Ann,",
        "B,Demo,2024-01-02,Bob,abc",  # a bad amount: B is read by the general reader
        "B,Lead,2024-01-01,,",
        "C,Proposal,2024-01-05,Cy,",
        "C,Lead,2024-01-04,Cy,",
        "C,Demo,2024-01-04,Cy,",  # same time as Lead: file order decides
        "C,Closed Won,2024-01-09,Cy,300",
        ",Lead,2024-01-01,Dee,",  # no deal_id: reported
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    general_report = ImportReport(format="events", file=path.name)
    source = read_event_log(path, report=general_report)
    report = ImportReport(format="events", file=path.name)
    columns = read_event_columns(path, report=report)
    assert columns is not None
    assert columns.stage_order() == stage_order(source.histories) == ["Lead", "Demo", "Proposal"]
    assert columns.won_from() == {"Proposal"}
    assert report.issues == general_report.issues
    assert list(columns.histories) == [1]  # B, with its reported row
    assert columns.histories[1] == source.histories[1]
    deals = columns.deals.select("ref", "owner", "outcome").rows()
    assert deals == [("A", "Ann", None), ("B", "Bob", None), ("C", "Cy", "won")]


EDGES = [h * HOUR + d for h in (0, 1, 2, 24, 8_760, 10**6) for d in (-1e-9, -1e-6, 0.0, 1e-9, 1e-6)]


@given(st.lists(st.floats(min_value=-1e7, max_value=1e11, allow_nan=False) | st.sampled_from(EDGES), max_size=50))
@settings(max_examples=200, deadline=None)
def test_hours_as_columns_are_the_hours_a_stay_counts_in(seconds: list[float]) -> None:
    values = pl.Series("s", [*seconds, *EDGES], dtype=pl.Float64)
    found = pl.DataFrame({"s": values}).select(_hours(pl.col("s"))).to_series().to_list()
    assert found == [hour_of(value) for value in values.to_list()]


def test_bytes_the_csv_module_reads_otherwise_send_the_file_to_the_general_reader(tmp_path: Path) -> None:
    lines = ["deal_id,stage,timestamp,title", "A,Lead,2025-01-01,x", "A,Demo,2025-01-03,{}"]
    cases = {
        "crlf.csv": ("\r\n".join(lines).format("Acme") + "\r\n", True),
        "lf.csv": ("\n".join(lines).format("Acme") + "\n", True),
        "padded.csv": ("\n".join(lines).format("  Acme ") + "\n", True),
        "lone-cr.csv": ("\n".join(lines).format("Ac\rme") + "\n", False),
        "cr-at-end.csv": ("\n".join(lines).format("Acme") + "\r", False),
        "nul.csv": ("\n".join(lines).format("Ac\x00me") + "\n", False),
        "separator.csv": ("\n".join(lines).format("Ac\x1fme") + "\n", False),
    }
    for name, (text, as_columns) in cases.items():
        path = tmp_path / name
        path.write_bytes(text.encode())
        columns = read_event_columns(path, report=ImportReport(format="events", file=name))
        assert (columns is not None) == as_columns, name
        if columns is not None:
            assert columns.deals["title"].to_list() == ["Acme"], name
