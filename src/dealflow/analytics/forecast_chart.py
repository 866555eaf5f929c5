"""Charts of a forecast as self-contained SVG: the histogram of the simulated totals with P10, P50
and P90 marked, and the back-test's fan of P10-P90 ranges beside what each period won."""

from __future__ import annotations

from html import escape

import numpy as np

from dealflow.analytics.forecast import Floats
from dealflow.analytics.forecast_backtest import Backtest

WIDTH, HEIGHT = 760, 380
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 56
BINS = 40
COLOURS = {"history": "#2563eb", "naive": "#9ca3af", "actual": "#dc2626"}
FONT = 'font-family="system-ui, sans-serif"'


def money(value: float) -> str:
    """An amount in a few characters: 950, 12.5k, 1.25M."""
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:.2f}B"
    if size >= 1e6:
        return f"{value / 1e6:.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.0f}"


def _svg(title: str, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
    )
    heading = f'<text x="{LEFT}" y="26" {FONT} font-size="15" font-weight="600">{escape(title)}</text>'
    frame = f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
    return "\n".join([head, frame, heading, *body, "</svg>"]) + "\n"


def _axis(low: float, high: float) -> tuple[list[str], float, float]:
    """X axis ticks for [low, high]; returns the SVG lines and the scale (x = a + b * value)."""
    span = high - low or max(abs(high), 1.0)
    low, high = low - 0.02 * span, high + 0.02 * span
    scale = (WIDTH - LEFT - RIGHT) / (high - low)
    base = HEIGHT - BOTTOM
    lines = [f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#374151"/>']
    for value in np.linspace(low, high, 6):
        x = LEFT + (value - low) * scale
        lines.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 5}" stroke="#374151"/>')
        lines.append(
            f'<text x="{x:.1f}" y="{base + 20}" {FONT} font-size="11" text-anchor="middle">{money(value)}</text>'
        )
    return lines, LEFT - low * scale, scale


def histogram(totals: Floats, *, title: str, percentiles: tuple[float, float, float]) -> str:
    """SVG histogram of the simulated totals, with P10, P50 and P90 drawn as vertical lines."""
    low, high = float(totals.min()), float(totals.max())
    counts, edges = np.histogram(totals, bins=BINS, range=(low, high) if high > low else (low - 0.5, high + 0.5))
    lines, offset, scale = _axis(float(edges[0]), float(edges[-1]))
    tallest = counts.max() or 1
    room = HEIGHT - TOP - BOTTOM - 24
    base = HEIGHT - BOTTOM
    body = list(lines)
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        height = room * count / tallest
        x, w = offset + left * scale, max((right - left) * scale - 1, 1)
        body.append(
            f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{w:.1f}" height="{height:.1f}" '
            f'fill="{COLOURS["history"]}" fill-opacity="0.35"><title>{money(left)} to {money(right)}: '
            f"{count / totals.size:.1%} of trials</title></rect>"
        )
    # P50 is labelled above its line; P10 to the left of its own and P90 to the right, lower down.
    for name, value, anchor, dy, dx in zip(
        ("P10", "P50", "P90"), percentiles, ("end", "middle", "start"), (16, 2, 16), (-4, 0, 4), strict=True
    ):
        x = offset + value * scale
        dash = "" if name == "P50" else ' stroke-dasharray="5 4"'
        body.append(f'<line x1="{x:.1f}" y1="{TOP + 6}" x2="{x:.1f}" y2="{base}" stroke="#111827"{dash}/>')
        body.append(
            f'<text x="{x + dx:.1f}" y="{TOP + dy}" {FONT} font-size="12" text-anchor="{anchor}">'
            f"{name} {money(value)}</text>"
        )
    body.append(
        f'<text x="{LEFT}" y="{HEIGHT - 12}" {FONT} font-size="11" fill="#4b5563">'
        f"Won amount in the period across {totals.size:,} simulated trials</text>"
    )
    return _svg(title, body)


def fan(backtest: Backtest) -> str:
    """SVG of the back-test: per period, each method's P10-P90 range and P50, and what was won."""
    periods = list(dict.fromkeys(r.period for r in backtest.rows))
    values = [v for r in backtest.rows for v in (r.p10, r.p90, r.actual)]
    low, high = min(values), max(values)
    span = high - low or max(abs(high), 1.0)
    low, high = max(low - 0.05 * span, 0.0 if low >= 0 else low - 0.05 * span), high + 0.05 * span
    base = HEIGHT - BOTTOM
    scale = (base - TOP - 16) / (high - low)

    def y(value: float) -> float:
        return base - (value - low) * scale

    step = (WIDTH - LEFT - RIGHT) / len(periods)
    body = [f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#374151"/>']
    for value in np.linspace(low, high, 5):
        body.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" {FONT} font-size="11" text-anchor="end">{money(value)}</text>'
        )
    for i, label in enumerate(periods):
        middle = LEFT + step * (i + 0.5)
        body.append(
            f'<text x="{middle:.1f}" y="{base + 20}" {FONT} font-size="11" text-anchor="middle">{escape(label)}</text>'
        )
        for j, row in enumerate(r for r in backtest.rows if r.period == label):
            x = middle + (j - 0.5) * 18
            colour = COLOURS.get(row.method, "#6b7280")
            body.append(
                f'<rect x="{x - 6:.1f}" y="{y(row.p90):.1f}" width="12" height="{max(y(row.p10) - y(row.p90), 1):.1f}" '
                f'fill="{colour}" fill-opacity="0.45"><title>{row.method}: P10 {money(row.p10)}, '
                f"P50 {money(row.p50)}, P90 {money(row.p90)}</title></rect>"
            )
            body.append(
                f'<line x1="{x - 8:.1f}" y1="{y(row.p50):.1f}" x2="{x + 8:.1f}" y2="{y(row.p50):.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        actual = next(r.actual for r in backtest.rows if r.period == label)
        body.append(
            f'<circle cx="{middle:.1f}" cy="{y(actual):.1f}" r="4" fill="{COLOURS["actual"]}">'
            f"<title>won {money(actual)}</title></circle>"
        )
    legend = [("history", "history method P10-P90"), ("naive", "naive stage rates P10-P90"), ("actual", "actual")]
    for k, (key, text) in enumerate(legend):
        x = LEFT + k * 210
        body.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="10" height="10" fill="{COLOURS[key]}"/>')
        body.append(f'<text x="{x + 16}" y="{HEIGHT - 13}" {FONT} font-size="11">{text}</text>')
    return _svg(f"Back-test before {backtest.period}: forecast as of each period's start", body)
