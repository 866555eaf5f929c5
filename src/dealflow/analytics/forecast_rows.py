"""A forecast's row per open deal: plain data, held as columns and built only when read.

A forecast covers every open deal, 100,000 of them on a large pipeline, while the text report
shows fifteen and the dashboards none; the rows are therefore kept as the arrays the forecast
computed and turned into plain dicts (rounded exactly as ``round`` rounds) when they are read,
all of them when the report is serialised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, overload

import numpy as np
from pydantic import PlainSerializer, PlainValidator
from typing_extensions import TypedDict

from dealflow.analytics.forecast import Floats, History, Ints

DAY = 86_400.0


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


def rounded(values: Floats, digits: int) -> list[float]:
    """``round(v, digits)`` of each value, exactly as Python rounds, at the speed of numpy.

    ``rint(v * 10**digits) / 10**digits`` gives Python's result (the double nearest the correctly
    rounded decimal) except where the scaled value lies within a few ulps of a half, where the
    rounding of the product may have crossed it, or is too large to hold a fraction: those few
    are rounded by Python."""
    scale = 10.0**digits
    scaled = values * scale
    found: list[float] = (np.rint(scaled) / scale).tolist()
    with np.errstate(invalid="ignore"):
        unsure = ~(np.abs(scaled) < 2.0**52) | (
            np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) <= 4 * np.spacing(np.abs(scaled))
        )
    for i in np.flatnonzero(unsure).tolist():
        found[i] = round(float(values[i]), digits)
    return found


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
