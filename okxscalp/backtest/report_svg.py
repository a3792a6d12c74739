"""The report's pictures as inline SVG (no script, no external file): an equity curve, and a
price chart per symbol with entries and exits marked. Pure: data in, SVG text out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from okxscalp.backtest.report import EquityPoint, Mark

WIDTH, HEIGHT = 900, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 20, 28, 30
MAX_POINTS = 2000  # a longer series is reduced to each bucket's low and high (its shape is kept)
EXIT_COLOURS = {"tp": "#1a7f37", "sl": "#cf222e", "liquidation": "#8250df"}


class _Frame:
    """Maps data (time s, value) to the plot area."""

    def __init__(self, t0: float, t1: float, lo: float, hi: float) -> None:
        if t1 <= t0:
            t1 = t0 + 1.0
        if hi <= lo:
            pad = abs(hi) * 0.01 or 1.0
            lo, hi = lo - pad, hi + pad
        self.t0, self.t1, self.lo, self.hi = t0, t1, lo, hi

    def x(self, t: float) -> float:
        return PAD_LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - PAD_LEFT - PAD_RIGHT)

    def y(self, v: float) -> float:
        return PAD_TOP + (self.hi - v) / (self.hi - self.lo) * (HEIGHT - PAD_TOP - PAD_BOTTOM)


def reduce_series(points: Sequence[tuple[float, float]], max_points: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most about `max_points` points: each bucket's lowest and highest, in time order."""
    if len(points) <= max_points:
        return list(points)
    size = -(-len(points) // (max_points // 2))
    out: list[tuple[float, float]] = []
    for i in range(0, len(points), size):
        bucket = points[i:i + size]
        low, high = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out


def equity_svg(points: Sequence[EquityPoint], title: str = "Realised equity (USDT)") -> str:
    """A step line of realised equity over time, with the zero line."""
    if len(points) < 2:
        return _empty(title, "no closed trade")
    values = [p.equity for p in points]
    frame = _Frame(points[0].time, points[-1].time, min(0.0, *values), max(0.0, *values))
    path = [f"M{frame.x(points[0].time):.1f},{frame.y(points[0].equity):.1f}"]
    for p in points[1:]:
        path.append(f"H{frame.x(p.time):.1f}V{frame.y(p.equity):.1f}")
    body = [
        f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{frame.y(0):.1f}" y2="{frame.y(0):.1f}" '
        'stroke="#8c959f" stroke-dasharray="4 3"/>',
        f'<path d="{"".join(path)}" fill="none" stroke="#0969da" stroke-width="1.6"/>',
    ]
    return _svg(title, frame, body, "equity")


def price_svg(inst_id: str, series: Sequence[tuple[float, float]], marks: Sequence[Mark]) -> str:
    """`series` (a price file's, drawn underneath) and the prices the journal traded at (entry and
    exit fills, joined in time order), with entries (triangles: up long, down short) and exits
    (circles coloured by cause)."""
    title = f"{inst_id} price, entries and exits"
    drawn = reduce_series(series)
    traded = [(m.time, m.px) for m in sorted(marks, key=lambda m: m.time)]
    values = [px for _, px in drawn] + [px for _, px in traded]
    times = [t for t, _ in drawn] + [t for t, _ in traded]
    if not values:
        return _empty(title, "no price recorded")
    lo, hi = min(values), max(values)
    margin = (hi - lo) * 0.06  # the marks stay inside the plot
    frame = _Frame(min(times), max(times), lo - margin, hi + margin)
    body = _legend()
    if len(drawn) > 1:
        body.append(_polyline(frame, drawn, "#afb8c1", 1.0, "series"))
    if len(traded) > 1:
        body.append(_polyline(frame, traded, "#57606a", 1.2, "traded"))
    for m in marks:
        x, y = frame.x(m.time), frame.y(m.px)
        tip = escape(f"{m.kind} {m.side} {m.label} @ {m.px:g} {_clock(m.time)}")
        if m.kind == "entry":
            dy = 7 if m.side == "long" else -7
            shape = f'<polygon points="{x:.1f},{y - dy:.1f} {x - 5:.1f},{y + dy:.1f} {x + 5:.1f},{y + dy:.1f}"'
            colour = "#0969da" if m.side == "long" else "#bc4c00"
            body.append(f'{shape} class="entry" fill="{colour}"><title>{tip}</title></polygon>')
        else:
            colour = EXIT_COLOURS.get(m.label, "#6e7781")
            body.append(f'<circle class="exit" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="none" stroke="{colour}" '
                        f'stroke-width="2"><title>{tip}</title></circle>')
    return _svg(title, frame, body, "price")


_LEGEND = (("▲ long entry", "#0969da"), ("▼ short entry", "#bc4c00"), ("○ TP", EXIT_COLOURS["tp"]),
           ("○ SL", EXIT_COLOURS["sl"]), ("○ liquidation", EXIT_COLOURS["liquidation"]),
           ("○ operator / other", "#6e7781"))


def _legend() -> list[str]:
    """One text per entry (a renderer need not lay out tspans in an end-anchored line)."""
    out, x = [], 420
    for text, colour in _LEGEND:
        out.append(f'<text x="{x}" y="18" font-size="11" fill="{colour}">{escape(text)}</text>')
        x += 12 + 6 * len(text)
    return out


def _polyline(frame: _Frame, points: Sequence[tuple[float, float]], colour: str, width: float, cls: str) -> str:
    coords = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in points)
    return f'<polyline class="{cls}" points="{coords}" fill="none" stroke="{colour}" stroke-width="{width}"/>'


def _svg(title: str, frame: _Frame, body: list[str], cls: str) -> str:
    axis = [
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{WIDTH - PAD_LEFT - PAD_RIGHT}" '
        f'height="{HEIGHT - PAD_TOP - PAD_BOTTOM}" fill="#ffffff" stroke="#d0d7de"/>',
        f'<text x="{PAD_LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" font-size="11" text-anchor="end">{frame.hi:.6g}</text>',
        f'<text x="{PAD_LEFT - 6}" y="{HEIGHT - PAD_BOTTOM}" font-size="11" text-anchor="end">{frame.lo:.6g}</text>',
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 10}" font-size="11">{_clock(frame.t0)}</text>',
        f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 10}" font-size="11" text-anchor="end">{_clock(frame.t1)}</text>',
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" role="img" aria-label={quoteattr(title)}>'
        + "".join(axis + body) + "</svg>"
    )


def _empty(title: str, why: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60" viewBox="0 0 {WIDTH} 60" '
        f'font-family="sans-serif" role="img" aria-label={quoteattr(title)}>'
        f'<text x="{PAD_LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>'
        f'<text x="{PAD_LEFT}" y="42" font-size="12">{escape(why)}</text></svg>'
    )


def _clock(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
