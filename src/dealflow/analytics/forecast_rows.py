"""A forecast's row per open deal: plain data, held as columns and built only when read.

A forecast covers every open deal, 100,000 of them on a large pipeline, while the text report
shows fifteen and the dashboards none; the rows are therefore kept as the arrays the forecast
computed and turned into plain dicts (rounded exactly as ``round`` rounds) when they are read.
Serialised, they go from the columns straight to JSON text (:meth:`DealRows.json_text`), the text
``json.dumps`` writes for those dicts, without a dict per deal."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Annotated, Any, overload

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import PlainSerializer, PlainValidator
from typing_extensions import TypedDict

from dealflow.analytics.forecast import Floats, History, Ints

DAY = 86_400.0
ESCAPED = re.compile(r'[\x00-\x1f"\\]')  # what json.dumps escapes in a string (with ensure_ascii=False)


class DealForecast(TypedDict):
    """One open deal: its stage and age, amount, probabilities and expected amount."""

    deal_id: str
    title: str
    stage: str
    owner: str
    days_in_stage: float
    amount: float | None
    probability: float
    expected: float
    naive_probability: float
    forecast_category: str | None
    rep_probability: float | None


FIELDS = tuple(DealForecast.__annotations__)


def rounded_array(values: Floats, digits: int) -> Floats:
    """``round(v, digits)`` of each value, exactly as Python rounds, at the speed of numpy.

    ``rint(v * 10**digits) / 10**digits`` gives Python's result (the double nearest the correctly
    rounded decimal) except where the scaled value lies within a few ulps of a half, where the
    rounding of the product may have crossed it, or is too large to hold a fraction: those few
    are rounded by Python."""
    scale = 10.0**digits
    scaled = values * scale
    found: Floats = np.rint(scaled) / scale
    with np.errstate(invalid="ignore"):
        unsure = ~(np.abs(scaled) < 2.0**52) | (
            np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) <= 4 * np.spacing(np.abs(scaled))
        )
    for i in np.flatnonzero(unsure).tolist():
        found[i] = round(float(values[i]), digits)
    return found


def rounded(values: Floats, digits: int) -> list[float]:
    """:func:`rounded_array` as a list of Python floats."""
    found: list[float] = rounded_array(values, digits).tolist()
    return found


def float_texts(values: Floats) -> list[str]:
    """Each value as ``json.dumps`` writes it (Python's ``repr``), at the speed of orjson.

    Both write the shortest digits that read back as the value, the closest such when there are
    several; they differ only in the notation of very small or large values (``1e-05`` against
    ``1e-5``) and of non-finite ones, which Python writes here."""
    if values.size == 0:
        return []
    column = np.ascontiguousarray(values, dtype=np.float64)
    found = orjson.dumps(column, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1].split(",")
    size = np.abs(column)
    with np.errstate(invalid="ignore"):
        other = ~((size >= 1e-4) & (size < 1e15)) & (size != 0)
    for i in np.flatnonzero(other).tolist():
        found[i] = json.dumps(float(column[i]))
    return found


def _optional_float_texts(values: Floats, missing: NDArray[np.bool_]) -> list[str]:
    """:func:`float_texts`, ``null`` where ``missing``."""
    if missing.all():
        return ["null"] * values.size
    found = float_texts(np.where(missing, 0.0, values))
    for i in np.flatnonzero(missing).tolist():
        found[i] = "null"
    return found


def _picked(values: Sequence[str], indices: list[int]) -> Sequence[str]:
    """``values[i]`` for each index, in order."""
    if len(indices) == 1:
        return [values[indices[0]]]
    found: Sequence[str] = operator.itemgetter(*indices)(values)
    return found


def _inner_texts(strings: Sequence[str]) -> Sequence[str]:
    """The strings as JSON writes them, without their quotes: as they are unless one needs escaping."""
    if ESCAPED.search("".join(strings)) is None:
        return strings
    return [encode_basestring(s)[1:-1] for s in strings]


def _choice_texts(names: Sequence[str | None], codes: Ints, *, before: str = "", after: str = "") -> list[str]:
    """``names[code]`` of each code as a JSON value (``null`` for None), ``before`` and ``after`` it."""
    texts = [before + ("null" if n is None else encode_basestring(n)) + after for n in names]
    found: list[str] = np.array(texts, dtype=object)[codes].tolist()
    return found


def _interleaved(
    head: str, inner: Sequence[str | Sequence[str]], tail: str, between: str, *, first: str, last: str
) -> str:
    """Row after row, ``between`` each two, ``first`` and ``last`` around them: each row ``head``, the
    segments of ``inner`` in order (a text, ``str``, the same in every row; a column, a sequence, one
    value per row) and ``tail``. Laid out in one list by slice assignments and joined once: no Python
    call per row."""
    rows = len(next(segment for segment in inner if not isinstance(segment, str)))
    width = 1 + len(inner)
    flat = [""] * (rows * width)
    flat[0::width] = [tail + between + head] * rows  # the end of the row before, and this one's start
    flat[0] = first + head
    for i, segment in enumerate(inner, start=1):
        flat[i::width] = [segment] * rows if isinstance(segment, str) else segment
    flat[-1] += tail + last
    return "".join(flat)


def _row_template(indent: int | None) -> str:
    """A ``%`` template of one deal's JSON object, the values in ``DealForecast``'s order, laid out as
    ``json.dumps`` lays it out in a report's ``deals`` list (compact without ``indent``)."""
    quoted = ("deal_id", "title")  # the strings written here without their quotes
    fields = [f'"{key}":{" " if indent else ""}' + ('"%s"' if key in quoted else "%s") for key in FIELDS]
    if indent is None:
        return "{" + ",".join(fields) + "}"
    inside = "\n" + " " * (3 * indent)
    return "{" + inside + ("," + inside).join(fields) + "\n" + " " * (2 * indent) + "}"


class DealRows(Sequence[DealForecast]):
    """Every open deal's row, those expected to bring most first (then by deal), built when read."""

    def __init__(
        self,
        history: History,
        *,
        deals: Ints,
        stages: Ints,
        owners: Ints,
        age: Floats,
        probability: Floats,
        naive: Floats,
        called: list[str | None],
        rep: Floats,
    ) -> None:
        amounts = history.amount[deals]
        expected = amounts * probability
        order = np.lexsort((deals, -expected))
        self._history = history
        self._deals, self._stages, self._owners = deals[order], stages[order], owners[order]
        self._age, self._amounts, self._expected = age[order], amounts[order], expected[order]
        self._probability, self._naive, self._rep = probability[order], naive[order], rep[order]
        self._called, self._order = called, order
        self._all: list[DealForecast] | None = None

    @classmethod
    def of(cls, rows: list[DealForecast]) -> DealRows:
        """Rows already built (a serialised forecast read back)."""
        found = cls.__new__(cls)
        found._all = list(rows)
        return found

    def __len__(self) -> int:
        return len(self._all) if self._all is not None else int(self._deals.size)

    @overload
    def __getitem__(self, index: int) -> DealForecast: ...

    @overload
    def __getitem__(self, index: slice) -> list[DealForecast]: ...

    def __getitem__(self, index: int | slice) -> DealForecast | list[DealForecast]:
        if self._all is not None:
            return self._all[index]
        if isinstance(index, slice):
            return self._build(np.arange(len(self), dtype=np.int64)[index])
        return self._build(np.array([range(len(self))[index]], dtype=np.int64))[0]

    def rows(self) -> list[DealForecast]:
        """Every row, built once."""
        if self._all is None:
            self._all = self._build(np.arange(len(self), dtype=np.int64))
        return self._all

    def built(self) -> bool:
        """Whether the rows are held as dicts (built, or read back) rather than as columns."""
        return self._all is not None

    def json_text(self, indent: int | None = None, *, before: str = "", after: str = "") -> str:
        """The rows as the JSON list ``json.dumps`` writes for :meth:`rows` as a report's ``deals``
        (``indent`` as given to it, or compact with the separators ``,`` and ``:``), written from
        the columns: no dict per deal. ``before`` and ``after`` come around it (the text of the
        report it ends), so that the whole text is put together once."""
        if self._all is not None:
            raise ValueError("the rows are built: serialise them with json.dumps")
        if not len(self):
            return before + "[]" + after
        h, deals = self._history, self._deals.tolist()
        between, end = ",", "]"
        if indent is not None:
            between, end = "," + "\n" + " " * (2 * indent), "\n" + " " * indent + "]"
        p = _row_template(indent).split("%s")  # the texts around the 11 values
        inner = (
            _inner_texts(_picked(h.deal_ids, deals)),
            p[1], _inner_texts(_picked(h.titles, deals)),
            _choice_texts(h.stages, self._stages, before=p[2], after=p[3]),  # a few names: texts joined to them
            _choice_texts(h.owners, self._owners, after=p[4]),
            float_texts(rounded_array(self._age / DAY, 2)),
            p[5], _optional_float_texts(self._amounts, ~h.has_amount[self._deals]),
            p[6], float_texts(rounded_array(self._probability, 4)),
            p[7], float_texts(rounded_array(self._expected, 2)),
            p[8], float_texts(rounded_array(self._naive, 4)),
            self._call_texts(before=p[9], after=p[10]),
            _optional_float_texts(self._rep, np.isnan(self._rep)),  # NaN: none called
        )  # fmt: skip
        return _interleaved(p[0], inner, p[11], between, first=before + "[" + between[1:], last=end + after)

    def _call_texts(self, *, before: str, after: str) -> list[str]:
        """Each row's forecast category as JSON, ``before`` and ``after`` it."""
        categories = sorted({c for c in self._called if c is not None})
        if not categories:
            return [before + "null" + after] * len(self)
        codes = {c: i for i, c in enumerate(categories)}
        called = np.array([len(categories) if c is None else codes[c] for c in self._called], dtype=np.int64)
        return _choice_texts([*categories, None], called[self._order], before=before, after=after)

    def _build(self, chosen: Ints) -> list[DealForecast]:
        h, deals = self._history, self._deals[chosen].tolist()
        stages = np.array(h.stages, dtype=object)[self._stages[chosen]].tolist()
        owners = np.array(h.owners, dtype=object)[self._owners[chosen]].tolist()
        known = h.has_amount[self._deals[chosen]].tolist()
        rep = self._rep[chosen]
        columns = zip(
            [h.deal_ids[d] for d in deals],
            [h.titles[d] for d in deals],
            stages,
            owners,
            rounded(self._age[chosen] / DAY, 2),
            [a if k else None for a, k in zip(self._amounts[chosen].tolist(), known, strict=True)],
            rounded(self._probability[chosen], 4),
            rounded(self._expected[chosen], 2),
            rounded(self._naive[chosen], 4),
            [self._called[i] for i in self._order[chosen].tolist()],
            [r if r == r else None for r in rep.tolist()],  # NaN: none called
            strict=True,
        )
        return [
            {
                "deal_id": deal_id,
                "title": title,
                "stage": stage,
                "owner": owner,
                "days_in_stage": days,
                "amount": amount,
                "probability": probability,
                "expected": value,
                "naive_probability": naive,
                "forecast_category": category,
                "rep_probability": rep_value,
            }
            for deal_id, title, stage, owner, days, amount, probability, value, naive, category, rep_value in columns
        ]


def _deal_rows(value: Any) -> DealRows:
    if isinstance(value, DealRows):
        return value
    if isinstance(value, list):
        return DealRows.of(value)
    raise ValueError("expected the rows of a forecast's deals")


DealRowsField = Annotated[
    DealRows,
    PlainValidator(_deal_rows, json_schema_input_type=list[DealForecast]),
    PlainSerializer(lambda rows: rows.rows(), return_type=list[DealForecast]),
]
