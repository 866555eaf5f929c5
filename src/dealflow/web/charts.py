"""Charts as data for inline SVG: a template draws them, so labels are escaped like any other text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ROW, LABEL_WIDTH, BAR_WIDTH = 28, 160, 300


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label, value, shown value and geometry in the SVG."""

    label: str
    value: float
    shown: str
    y: int
    width: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars sharing one scale."""

    bars: tuple[Bar, ...]
    unit: str
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH

    @property
    def width(self) -> int:
        """The SVG's width: labels, bars and room for the values."""
        return self.label_width + self.bar_width + 90


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if value.is_integer() or value >= 10:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}"


def bars(values: Sequence[tuple[str, float | None]], *, unit: str, maximum: float | None = None) -> BarChart:
    """A bar chart of ``values``, scaled to ``maximum`` (the largest value by default); None is no data."""
    top = maximum if maximum is not None else max((v for _, v in values if v is not None), default=0.0)
    scale = BAR_WIDTH / top if top > 0 else 0.0
    found = tuple(
        Bar(label=label[:40], value=value or 0.0, shown=_shown(value, unit),
            y=i * ROW, width=round(max(value or 0.0, 0.0) * scale, 1))
        for i, (label, value) in enumerate(values)
    )  # fmt: skip
    return BarChart(bars=found, unit=unit, height=max(len(found), 1) * ROW)


@dataclass(frozen=True)
class Span:
    """One forecast range: low to high with the middle marked, in SVG coordinates."""

    label: str
    low: float
    middle: float
    high: float
    y: int
    x_low: float
    x_middle: float
    x_high: float


@dataclass(frozen=True)
class RangeChart:
    """Ranges (p10 to p90, p50 marked) on one scale starting at zero."""

    spans: tuple[Span, ...]
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH

    @property
    def width(self) -> int:
        """The SVG's width: labels, ranges and room for the high value."""
        return self.label_width + self.bar_width + 90


def ranges(values: Sequence[tuple[str, float, float, float]]) -> RangeChart:
    """A range chart of ``(label, low, middle, high)`` rows."""
    top = max((high for *_, high in values), default=0.0)
    scale = BAR_WIDTH / top if top > 0 else 0.0
    spans = tuple(
        Span(label=label[:40], low=low, middle=middle, high=high, y=i * ROW, x_low=round(low * scale, 1),
             x_middle=round(middle * scale, 1), x_high=round(high * scale, 1))
        for i, (label, low, middle, high) in enumerate(values)
    )  # fmt: skip
    return RangeChart(spans=spans, height=max(len(spans), 1) * ROW)
