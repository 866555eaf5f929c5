"""The process audit as one self-contained HTML page: the transition graph drawn in SVG, the main
variants and the conformance figures as bar charts, the findings, and the tables behind them.

The page needs nothing but itself: styles inline, charts as inline SVG, no script, no font, no
link to any other resource, so it opens offline and can be mailed. Every piece of text that
comes from the workspace (process, stage, owner and filter values) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from dealflow.analytics.audit import START, Audit, Edge, Node, ProcessAudit, Variant

STAGE_W, STAGE_H, GAP = 144, 56, 236
ROW_Y = 190
LEFT = 40
OUTCOME_Y = 450
KIND_COLOURS = {
    "start": "#64748b",
    "forward": "#2563eb",
    "skip": "#9333ea",
    "backward": "#ea580c",
    "outcome": "#94a3b8",
    "other": "#dc2626",
}
NOT_ALLOWED = "#dc2626"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;margin:0;background:#f8fafc}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #cbd5e1}
h3{font-size:15px;margin:20px 0 6px}.muted{color:#64748b}
section.process{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin:20px 0}
.figures{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.figure{border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px;min-width:120px}
.figure b{display:block;font-size:20px}
ol.findings li{margin:6px 0}.findings .kind{font-size:11px;text-transform:uppercase;color:#64748b;margin-right:6px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:3px 10px;text-align:left}
th{border-bottom:1px solid #94a3b8}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#f1f5f9}svg{max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:18px;height:4px;margin-right:4px;vertical-align:middle}
"""


def render(audit: Audit) -> str:
    """The whole audit as an HTML document."""
    period = audit.period.label if audit.period else "all time"
    filters = ", ".join(f"{k}={v}" for k, v in audit.filters.items())
    header = [
        "<h1>Process audit</h1>",
        f'<p class="muted">{escape(period)} · as of {audit.as_of:%Y-%m-%d %H:%M} UTC'
        + (f" · only deals with {escape(filters)}" if filters else "")
        + f"<br>{escape(audit.basis)}</p>",
    ]
    body = "\n".join([*header, *(_process(p) for p in audit.processes)])
    if not audit.processes:
        body += "<p>No process to audit.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Process audit</title><style>{STYLE}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def _process(p: ProcessAudit) -> str:
    parts = [
        '<section class="process">',
        f'<h2>{escape(p.name)} <span class="muted">({escape(p.process)}@{p.process_version})</span></h2>',
    ]
    if not p.deals:
        parts.append("<p>No deal of this process in scope.</p></section>")
        return "\n".join(parts)
    parts += [
        _figures(p),
        "<h3>Findings</h3>",
        _findings(p),
        "<h3>How deals moved</h3>",
        _legend(),
        graph_svg(p),
        "<h3>Main variants</h3>",
        f'<p class="muted">{p.variant_count} distinct paths; the {len(p.variants)} most common:</p>',
        variants_svg(p),
        "<h3>Conformance</h3>",
        conformance_svg(p),
        "<h3>Transitions</h3>",
        _edge_table(p),
        _skip_table(p),
        _rep_table(p),
        "</section>",
    ]
    return "\n".join(parts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} d"


def _figures(p: ProcessAudit) -> str:
    c = p.conformance
    items = [
        ("deals", f"{p.deals:,}"),
        ("kept to the process", _pct(c.conforming_share)),
        ("straight through", _pct(c.straight_share)),
        ("skipped a stage", _pct(c.skipped_share)),
        ("moved backward", _pct(c.backward_share)),
        ("overridden", _pct(c.overridden_share)),
        ("moves not allowed", _pct(c.not_allowed_share)),
    ]
    cells = "".join(f'<div class="figure"><b>{value}</b>{escape(label)}</div>' for label, value in items)
    return f'<div class="figures">{cells}</div>'


def _findings(p: ProcessAudit) -> str:
    if not p.findings:
        return "<p>Nothing to report.</p>"
    items = "".join(
        f'<li><span class="kind">{escape(f.kind.replace("_", " "))}</span>{escape(f.text)}</li>' for f in p.findings
    )
    return f'<ol class="findings">{items}</ol>'


def _legend() -> str:
    names = (("forward", "one stage forward"), ("skip", "skip"), ("backward", "back"), ("outcome", "close"))
    spans = "".join(f'<span><i style="background:{KIND_COLOURS[k]}"></i>{label}</span>' for k, label in names)
    dashed = f"background:{NOT_ALLOWED};height:2px;border-top:2px dashed {NOT_ALLOWED}"
    spans += f'<span><i style="{dashed}"></i>not allowed</span>'
    note = '<span class="muted">width: deals; label: deals · median days in the stage</span>'
    return f'<p class="legend">{spans} {note}</p>'


# ---- the transition graph ---------------------------------------------------------------------


class _Layout:
    """Where each node of the graph sits: stages in process order on one row, the start before
    them, won after them, lost and disqualified below."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        stages = [n for n in nodes if n.kind == "stage"]
        self.centre: dict[str, tuple[float, float]] = {"start": (LEFT + 30, ROW_Y)}
        first = LEFT + 60 + GAP / 2 + 10
        for i, node in enumerate(stages):
            self.centre[node.key] = (first + i * GAP, ROW_Y)
        after = first + len(stages) * GAP
        self.centre["won"] = (after - GAP / 2 + 80, ROW_Y)
        middle = first + (len(stages) - 1) * GAP / 2
        self.centre["lost"] = (middle + GAP / 2, OUTCOME_Y)
        self.centre["disqualified"] = (first + GAP / 2 if len(stages) > 2 else middle - GAP, OUTCOME_Y)
        self.width = after + 50
        self.height = OUTCOME_Y + 60
        self.rank = {node.key: i for i, node in enumerate(stages)}


def graph_svg(p: ProcessAudit) -> str:
    """The transition graph of one process as an SVG picture."""
    layout = _Layout(p.nodes)
    heaviest = max((e.count for e in p.edges), default=1) or 1
    arcs = [
        _arc(e, layout, heaviest, p.process) for e in p.edges if e.source in layout.centre and e.target in layout.centre
    ]
    nodes = [_node(n, layout) for n in p.nodes if n.key in layout.centre]
    markers = "".join(
        f'<marker id="{p.process}-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" '
        f'markerWidth="11" markerHeight="11" orient="auto">'
        f'<path d="M0,0L10,5L0,10z" fill="{c}"/></marker>'
        for k, c in KIND_COLOURS.items()
    )
    return (
        f'<svg class="graph" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        f'width="{layout.width:.0f}" height="{layout.height:.0f}" role="img" '
        f'aria-label="Transition graph of {escape(p.name)}"><defs>{markers}</defs>'
        f'<g fill="none">{"".join(a for a, _ in arcs)}</g>{"".join(nodes)}<g>{"".join(t for _, t in arcs)}</g></svg>'
    )


def _node(node: Node, layout: _Layout) -> str:
    x, y = layout.centre[node.key]
    if node.kind == "start":
        return (
            f'<circle cx="{x:.0f}" cy="{y:.0f}" r="22" fill="#e2e8f0" stroke="#64748b"/>'
            f'<text x="{x:.0f}" y="{y + 4:.0f}" text-anchor="middle" font-size="12">Start</text>'
            f'<text x="{x:.0f}" y="{y + 40:.0f}" text-anchor="middle" font-size="11" fill="#475569">'
            f"{node.entered:,}</text>"
        )
    fill = {"won": "#dcfce7", "lost": "#fee2e2", "disqualified": "#f1f5f9"}.get(node.key, "#eff6ff")
    stroke = "#dc2626" if not node.in_process else "#334155"
    w, h = (STAGE_W, STAGE_H) if node.kind == "stage" else (110, 44)
    sub = f"{node.entered:,} in" + (f" · {node.open_now:,} open" if node.open_now else "")
    if node.kind == "outcome":
        sub = f"{node.entered:,} deals"
    return (
        f'<rect x="{x - w / 2:.0f}" y="{y - h / 2:.0f}" width="{w}" height="{h}" rx="8" '
        f'fill="{fill}" stroke="{stroke}"/>'
        f'<text x="{x:.0f}" y="{y - 3:.0f}" text-anchor="middle" font-size="12.5" font-weight="600">'
        f"{escape(_short(node.name, 21))}</text>"
        f'<text x="{x:.0f}" y="{y + 15:.0f}" text-anchor="middle" font-size="11" fill="#475569">{sub}</text>'
    )


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


@dataclass(frozen=True)
class _Curve:
    """A quadratic curve from (sx, sy) through control (cx, cy) to (ex, ey), and where its label goes."""

    sx: float
    sy: float
    cx: float
    cy: float
    ex: float
    ey: float
    lx: float
    ly: float
    anchor: str = "middle"


def _straight(sx: float, y: float, ex: float) -> _Curve:
    return _Curve(sx, y, (sx + ex) / 2, y, ex, y, (sx + ex) / 2, y - 10)


def _over(sx: float, y: float, ex: float) -> _Curve:
    """An arc above the row (skips, starts in a later stage), higher the further it reaches."""
    cy = y - 50 - 40 * abs(ex - sx) / GAP
    return _Curve(sx, y, (sx + ex) / 2, cy, ex, y, (sx + ex) / 2, (y + cy) / 2 - 4)


def _under(sx: float, y: float, ex: float) -> _Curve:
    """An arc below the row (moves back), deeper the further back it goes."""
    cy = y + 40 + 36 * abs(ex - sx) / GAP
    return _Curve(sx, y, (sx + ex) / 2, cy, ex, y, (sx + ex) / 2, (y + cy) / 2 + 14)


def _down(sx: float, sy: float, ex: float, ey: float, anchor: str) -> _Curve:
    """A curve down from a stage to lost or disqualified; the label sits below the arcs of the moves
    back, those to disqualified lower than those to lost so that neighbours do not overlap."""
    cx, cy, t = sx, (sy + ey) / 2 + 30, 0.4 if anchor == "start" else 0.62
    lx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * cx + t**2 * ex
    ly = (1 - t) ** 2 * sy + 2 * (1 - t) * t * cy + t**2 * ey
    return _Curve(sx, sy, cx, cy, ex, ey, lx + (6 if anchor == "start" else -6), ly, anchor)


def _curve(edge: Edge, layout: _Layout) -> _Curve:
    (x1, y1), (x2, y2) = layout.centre[edge.source], layout.centre[edge.target]
    half_w, half_h = STAGE_W / 2, STAGE_H / 2
    if edge.target in ("lost", "disqualified"):
        right = edge.target == "lost"
        return _down(x1 + (12 if right else -12), y1 + half_h, x2, y2 - 22, "start" if right else "end")
    if x2 < x1:
        return _under(x1 - 14, y1 + half_h, x2 + 14)
    if edge.source == START:
        if layout.rank.get(edge.target) == 0:
            return _straight(x1 + 22, y1, x2 - half_w)
        return _over(x1 + 10, y1 - 20, x2 - 14)
    if edge.kind == "forward" or edge.target == "won":
        return _straight(x1 + half_w, y1, x2 - (half_w if edge.target != "won" else 55))
    return _over(x1 + 14, y1 - half_h, x2 - 14)


def _arc(edge: Edge, layout: _Layout, heaviest: int, prefix: str) -> tuple[str, str]:
    """The path of one edge, and its label: deals and the median stay before the move."""
    c = _curve(edge, layout)
    width = 1.2 + 11 * math.sqrt(edge.count / heaviest)
    colour = NOT_ALLOWED if edge.not_allowed else KIND_COLOURS.get(edge.kind, KIND_COLOURS["other"])
    dash = ' stroke-dasharray="7 5"' if edge.not_allowed else ""
    marker = "other" if edge.not_allowed else edge.kind
    title = f"{edge.source} → {edge.target}: {edge.count:,} ({edge.share:.0%})"
    path = (
        f'<path d="M{c.sx:.1f},{c.sy:.1f} Q{c.cx:.1f},{c.cy:.1f} {c.ex:.1f},{c.ey:.1f}" stroke="{colour}" '
        f'stroke-width="{width:.1f}" stroke-opacity="0.7"{dash} marker-end="url(#{prefix}-{marker})">'
        f"<title>{escape(title)}</title></path>"
    )
    label = f"{edge.count:,}" + (f" · {edge.median_days:.1f} d" if edge.median_days is not None else "")
    text = (
        f'<text x="{c.lx:.1f}" y="{c.ly:.1f}" text-anchor="{c.anchor}" font-size="11" fill="#0f172a" '
        f'stroke="#fff" stroke-width="3" paint-order="stroke">{escape(label)}</text>'
    )
    return path, text


# ---- bar charts -------------------------------------------------------------------------------


def _bars(rows: Iterable[tuple[str, float, str, str]], *, label: str, longest: float = 1.0) -> str:
    """Horizontal bars: a caption above each bar, its length in proportion to ``longest``, a figure after it."""
    items = list(rows)
    width, bar_max, row_h = 1100, 640, 40
    height = row_h * len(items) + 10
    parts = []
    for i, (caption, share, figure, colour) in enumerate(items):
        y = 10 + i * row_h
        length = max(2.0, bar_max * max(0.0, min(1.0, share / longest if longest else 0.0)))
        parts.append(
            f'<text x="0" y="{y + 10}" font-size="12">{escape(caption)}</text>'
            f'<rect x="0" y="{y + 15}" width="{length:.1f}" height="14" rx="2" fill="{colour}"/>'
            f'<text x="{length + 8:.1f}" y="{y + 26}" font-size="12" fill="#334155">{escape(figure)}</text>'
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _variant_caption(p: ProcessAudit, variant: Variant) -> str:
    names = {n.key: n.name for n in p.nodes}
    steps = [names.get(s, s) for s in variant.stages]
    end = {"open": "(open)", "won": "Won", "lost": "Lost", "disqualified": "Disqualified"}.get(variant.outcome)
    return " → ".join(steps) + (f" → {end}" if end != "(open)" else f" {end}")


def variants_svg(p: ProcessAudit) -> str:
    """The most common variants as a bar chart."""
    colours = {"won": "#16a34a", "lost": "#dc2626", "disqualified": "#64748b", "open": "#2563eb"}
    rows = [
        (
            _variant_caption(p, v),
            v.share,
            f"{v.deals:,} deals · {v.share:.1%}"
            + (f" · median cycle {v.median_cycle_days:.0f} d" if v.median_cycle_days is not None else "")
            + ("" if v.conforming == v.deals else " · not allowed"),
            colours.get(v.outcome, "#2563eb"),
        )
        for v in p.variants
    ]
    longest = max((v.share for v in p.variants), default=1.0)
    return _bars(rows, label=f"Main variants of {p.name}", longest=longest)


def conformance_svg(p: ProcessAudit) -> str:
    """The conformance shares as a bar chart."""
    c = p.conformance
    rows = [
        ("Kept to the process (every move allowed)", c.conforming_share, c.conforming, "#16a34a"),
        ("Straight through (one stage at a time, no override)", c.straight_share, c.straight, "#2563eb"),
        ("Skipped a stage", c.skipped_share, c.skipped, KIND_COLOURS["skip"]),
        ("Moved backward", c.backward_share, c.backward, KIND_COLOURS["backward"]),
        ("Pushed past a gate (override)", c.overridden_share, c.overridden, "#ca8a04"),
        ("Made a move the process does not allow", c.not_allowed_share, c.not_allowed, NOT_ALLOWED),
    ]
    bars = [
        (caption, share or 0.0, f"{count:,} deals · {_pct(share)}", colour) for caption, share, count, colour in rows
    ]
    return _bars(bars, label=f"Conformance of {p.name}")


# ---- tables -----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{escape(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _edge_table(p: ProcessAudit) -> str:
    names = {n.key: n.name for n in p.nodes}
    rows = [
        (
            names.get(e.source, e.source),
            names.get(e.target, e.target),
            e.kind,
            f"{e.count:,}",
            _pct(e.share),
            _days(e.median_days),
            f"{e.overridden:,}",
            f"{e.returned:,}",
            f"{e.not_allowed:,}",
        )
        for e in p.edges
    ]
    headers = ("from", "to", "kind", "deals", "share", "median stay", "overridden", "sent back", "not allowed")
    return _table(headers, rows, {3, 4, 5, 6, 7, 8})


def _skip_table(p: ProcessAudit) -> str:
    rows = [
        (
            s.name,
            f"{s.skipped:,}",
            _pct(s.skipped_share),
            _pct(s.skipped_win_rate),
            f"{s.through:,}",
            _pct(s.through_win_rate),
        )
        for s in p.skips
    ]
    if not rows:
        return ""
    headers = ("stage", "skipped it", "share", "win rate when skipped", "went through", "win rate when through")
    return "<h3>Skips by stage</h3>" + _table(headers, rows, {1, 2, 3, 4, 5})


def _rep_table(p: ProcessAudit) -> str:
    rows = [
        (r.owner, f"{r.moves:,}", f"{r.skips:,}", f"{r.backward:,}", f"{r.overridden:,}", _pct(r.off_process_share))
        for r in p.reps[:15]
    ]
    if not rows:
        return ""
    headers = ("owner", "moves", "skips", "backward", "overridden", "skips + overrides")
    return "<h3>Owners (most skips and overrides first)</h3>" + _table(headers, rows, {1, 2, 3, 4, 5})
