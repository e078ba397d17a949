"""Chart primitives as pure functions returning inline SVG strings.

No plotting library: scales (linear and log), readable ticks, lines, points,
error bars, a legend, horizontal lanes (timelines) and stacked bars. Every
text that reaches the SVG goes through html.escape. The SVGs carry a viewBox
and scale to the width of their container, so they read on a phone too.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"]
GRID = "#e3e3e3"
AXIS = "#444"
FONT = "font-family=\"system-ui,-apple-system,Segoe UI,Roboto,sans-serif\""


def fmt_num(value: float, digits: int = 3) -> str:
    """Compact human number: `digits` significant digits, k/M/G/T from 10 000 on, never 1e+03."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e4:
        for divisor, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")):
            text = f"{value / divisor:.{digits}g}"
            if "e" not in text and abs(float(text)) < 1000:
                return _trim(text) + suffix
        return f"{value:.{digits}g}"
    text = f"{value:.{digits}g}"
    if magnitude >= 10**digits or ("e" in text and magnitude >= 1):
        return f"{value:.0f}"  # 1000..9999 (or 999.7) in full rather than 1.23e+03
    return _trim(text)


def _trim(text: str) -> str:
    if "e" in text:
        return text
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def nice_step(span: float, target: int = 5) -> float:
    """A 1/2/5×10^k step giving about `target` intervals over span."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


def linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Ticks at a nice step covering [lo, hi] (the domain is widened to them by nice_domain)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-6:
        ticks.append(round(value, 12))
        value += step
    return ticks


def nice_domain(lo: float, hi: float, target: int = 5, include_zero: bool = False) -> tuple[float, float]:
    """Widen [lo, hi] to whole tick steps (and to 0 when asked)."""
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
        if include_zero and lo < 0 <= min(lo + pad, hi):
            lo = 0.0
    step = nice_step(hi - lo, target)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi]; with 1, 2 and 5 multiples when the range spans few decades."""
    if lo <= 0 or hi <= 0:
        raise ValueError(f"log scale needs positive bounds, got {lo}..{hi}")
    if hi < lo:
        lo, hi = hi, lo
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = max(math.log10(hi) - math.log10(lo), 1e-9)
    if decades <= 0.7:
        multiples = (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
    elif decades <= 2.2:
        multiples = (1, 2, 5)
    else:
        multiples = (1,)
    ticks = []
    for exponent in range(first, last + 1):
        for m in multiples:
            value = m * 10.0**exponent
            if lo * (1 - 1e-9) <= value <= hi * (1 + 1e-9):
                ticks.append(float(f"{value:.6g}"))
    if len(ticks) < 3:
        # a narrow range (less than a factor of ~2): evenly spaced nice values read better
        ticks = [t for t in linear_ticks(lo, hi, 4) if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9) and t > 0]
    return ticks


def log_domain(lo: float, hi: float) -> tuple[float, float]:
    """A little padding around positive [lo, hi] on a log axis."""
    if lo <= 0 or hi <= 0:
        raise ValueError(f"log scale needs positive bounds, got {lo}..{hi}")
    if hi == lo:
        return lo / 1.5, hi * 1.5
    factor = (hi / lo) ** 0.06
    return lo / factor, hi * factor


@dataclass(frozen=True)
class Scale:
    """Maps a data interval [lo, hi] to pixels [p0, p1], linearly or in log10."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            lo, hi, v = math.log10(self.lo), math.log10(self.hi), math.log10(max(value, 1e-300))
        else:
            lo, hi, v = self.lo, self.hi, value
        if hi == lo:
            return (self.p0 + self.p1) / 2
        return self.p0 + (v - lo) / (hi - lo) * (self.p1 - self.p0)


@dataclass
class Series:
    """One plotted series: a line and/or markers, optional error bars and point labels."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str = PALETTE[0]
    line: bool = True
    markers: bool = True
    dash: str | None = None
    errors: Sequence[tuple[float | None, float | None] | None] | None = None
    point_labels: Sequence[str | None] | None = None
    hollow: Sequence[bool] | None = None  # per point: drawn hollow (e.g. invalid/oversubscribed)


@dataclass
class XYChart:
    """A chart specification; render with xy_chart()."""

    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    x_log: bool = False
    y_log: bool = False
    x_ticks: Sequence[float] | None = None  # explicit ticks, e.g. the worker counts
    y_zero: bool = True  # linear y axis includes 0
    width: int = 600
    height: int = 400
    note: str | None = None


def _text(
    x: float, y: float, content: str, size: int = 12, anchor: str = "middle", extra: str = "", color: str = AXIS
) -> str:
    attrs = f" {extra}" if extra else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}"{attrs}>'
        f"{escape(content)}</text>"
    )


def wrap(text: str, max_chars: int) -> list[str]:
    """Greedy word wrap into lines of at most max_chars (a longer word stands alone)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > max_chars:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _note_svg(note: str, x: float, y_last: float, width: float) -> str:
    """Italic note lines ending at y_last (a note is wrapped to the chart's width)."""
    lines = wrap(note, max(int(width / 6.2), 20))
    first = y_last - 14 * (len(lines) - 1)
    return "".join(_text(x, first + 14 * i, line, 11, "start", 'font-style="italic"') for i, line in enumerate(lines))


def _note_height(note: str | None, width: float) -> int:
    return 14 * len(wrap(note, max(int(width / 6.2), 20))) + 4 if note else 0


def _title(title: str, width: float) -> str:
    """The chart title, centred; its size shrinks (down to 10) so that a long title fits the width."""
    size = max(10, min(15, int((width - 16) / (0.62 * max(len(title), 1)))))
    return _text(width / 2, 20, title, size, extra='font-weight="600"')


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _series_extent(series: Sequence[Series], axis: int, log: bool) -> list[float]:
    values = []
    for s in series:
        for point in s.points:
            if _finite(point[axis]) and (not log or point[axis] > 0):
                values.append(float(point[axis]))
        if axis == 1 and s.errors:
            for err in s.errors:
                for v in err or ():
                    if _finite(v) and (not log or v > 0):
                        values.append(float(v))
    return values


def legend(items: Sequence[tuple[str, str, str | None, bool]], x: float, y: float, width: float) -> tuple[str, float]:
    """Legend entries (label, colour, dash, has_marker) laid out in rows within width.

    Returns the SVG and the height it took.
    """
    parts = []
    cx, cy = x, y
    row_height = 18
    for label, color, dash, marker in items:
        item_width = 34 + 7.0 * len(label)
        if cx > x and cx + item_width > x + width:
            cx, cy = x, cy + row_height
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{cx + 22:.1f}" y2="{cy:.1f}" stroke="{color}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        if marker:
            parts.append(f'<circle cx="{cx + 11:.1f}" cy="{cy:.1f}" r="3.5" fill="{color}"/>')
        parts.append(_text(cx + 28, cy + 4, label, 12, "start"))
        cx += item_width + 10
    return "".join(parts), (cy - y) + row_height


def _svg_open(width: float, height: float, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title>"
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#fff"/>'
    )


def xy_chart(chart: XYChart) -> str:
    """Render an XYChart: grid, axes with ticks, series lines/markers/error bars, legend."""
    series = [s for s in chart.series if any(_finite(p[0]) and _finite(p[1]) for p in s.points)]
    width, height = chart.width, chart.height
    items = [(s.label, s.color, s.dash, s.markers) for s in series]
    legend_svg, legend_height = legend(items, 64, 0, width - 80)  # measured first, placed below
    left, right, top = 64, 16, 34
    bottom = 48 + legend_height + _note_height(chart.note, width - left - 8)
    plot_w, plot_h = width - left - right, height - top - bottom

    xs = _series_extent(series, 0, chart.x_log) + [t for t in (chart.x_ticks or []) if not chart.x_log or t > 0]
    ys = _series_extent(series, 1, chart.y_log)
    out = [_svg_open(width, height, chart.title), _title(chart.title, width)]
    if not xs or not ys:
        out.append(_text(width / 2, height / 2, "no data to plot", 13))
        out.append("</svg>")
        return "".join(out)

    if chart.x_log:
        x_lo, x_hi = log_domain(min(xs), max(xs))
        x_ticks = list(chart.x_ticks) if chart.x_ticks else log_ticks(x_lo, x_hi)
    else:
        x_lo, x_hi = nice_domain(min(xs), max(xs), 6)
        if chart.x_ticks:
            x_ticks = list(chart.x_ticks)
            pad = (max(xs) - min(xs)) * 0.05 or 0.5
            x_lo, x_hi = min(xs) - pad, max(xs) + pad
        else:
            x_ticks = linear_ticks(x_lo, x_hi, 6)
    if chart.y_log:
        y_lo, y_hi = log_domain(min(ys), max(ys))
        y_ticks = log_ticks(y_lo, y_hi)
    else:
        headroom = (max(ys) - min(min(ys), 0.0 if chart.y_zero else min(ys))) * 0.04
        y_lo, y_hi = nice_domain(min(ys), max(ys) + headroom, 5, include_zero=chart.y_zero)
        y_ticks = linear_ticks(y_lo, y_hi, 5)
    sx = Scale(x_lo, x_hi, left, left + plot_w, chart.x_log)
    sy = Scale(y_lo, y_hi, top + plot_h, top, chart.y_log)

    # grid and ticks
    out.append('<g class="grid">')
    for t in y_ticks:
        y = sy(t)
        if top - 0.5 <= y <= top + plot_h + 0.5:
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
            out.append(_text(left - 6, y + 4, fmt_num(t), 12, "end"))
    last_label_x = -1e9
    for t in x_ticks:
        x = sx(t)
        if left - 0.5 <= x <= left + plot_w + 0.5:
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
            label = fmt_num(t)
            if x - last_label_x >= 8 * len(label) + 6:  # skip labels that would overlap
                out.append(_text(x, top + plot_h + 17, label, 12))
                last_label_x = x
    out.append("</g>")
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{AXIS}" stroke-width="1"/>'
    )
    out.append(_text(left + plot_w / 2, top + plot_h + 36, chart.x_label, 13))
    out.append(
        _text(16, top + plot_h / 2, chart.y_label, 13, extra=f'transform="rotate(-90 16 {top + plot_h / 2:.1f})"')
    )
    # clip so that model lines outside the domain do not spill out
    clip_id = "clip" + format(zlib.crc32("|".join([chart.title, chart.x_label, chart.y_label]).encode()), "x")
    out.append(
        f'<clipPath id="{clip_id}"><rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/></clipPath>'
    )
    out.append(f'<g clip-path="url(#{clip_id})">')
    for s in series:
        out.append(_series_svg(s, sx, sy))
    out.append("</g>")
    for s in series:
        out.append(_point_labels_svg(s, sx, sy, left, left + plot_w, top))
    legend_y = top + plot_h + 56
    out.append(f'<g transform="translate(0 {legend_y:.1f})">{legend_svg}</g>')
    if chart.note:
        out.append(_note_svg(chart.note, left, height - 8, width - left - 8))
    out.append("</svg>")
    return "".join(out)


def _series_svg(s: Series, sx: Scale, sy: Scale) -> str:
    parts = []
    pts = [(i, p) for i, p in enumerate(s.points) if _finite(p[0]) and _finite(p[1])]
    if sx.log:
        pts = [(i, p) for i, p in pts if p[0] > 0]
    if sy.log:
        pts = [(i, p) for i, p in pts if p[1] > 0]
    if s.errors:
        for i, (x, _y) in pts:
            err = s.errors[i] if i < len(s.errors) else None
            if not err or not _finite(err[0]) or not _finite(err[1]):
                continue
            lo, hi = err
            if sy.log and (lo <= 0 or hi <= 0):
                continue
            px, y0, y1 = sx(x), sy(lo), sy(hi)
            parts.append(
                f'<path d="M{px:.1f},{y0:.1f}V{y1:.1f}M{px - 5:.1f},{y0:.1f}h10M{px - 5:.1f},{y1:.1f}h10" '
                f'stroke="{s.color}" stroke-width="1.4" fill="none"/>'
            )
    if s.line and len(pts) > 1:
        d = " ".join(f"{sx(p[0]):.1f},{sy(p[1]):.1f}" for _i, p in pts)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(f'<polyline points="{d}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
    if s.markers:
        for i, p in pts:
            hollow = bool(s.hollow and i < len(s.hollow) and s.hollow[i])
            fill = "#fff" if hollow else s.color
            parts.append(
                f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[1]):.1f}" r="4" fill="{fill}" stroke="{s.color}" '
                f'stroke-width="1.6"><title>{escape(s.label)}: {fmt_num(p[0])}, {fmt_num(p[1])}</title></circle>'
            )
    return "".join(parts)


def _point_labels_svg(s: Series, sx: Scale, sy: Scale, x_min: float, x_max: float, y_min: float) -> str:
    if not s.point_labels:
        return ""
    parts = []
    placed: list[tuple[float, float, float]] = []  # (left, right, baseline) of the labels drawn
    previous = None
    for i, p in enumerate(s.points):
        label = s.point_labels[i] if i < len(s.point_labels) else None
        label, previous = (None if label == previous else label), label
        if not label or not (_finite(p[0]) and _finite(p[1])):
            continue  # a run of points with the same label is labelled once, at its first point
        if (sx.log and p[0] <= 0) or (sy.log and p[1] <= 0):
            continue
        x, y = sx(p[0]), max(sy(p[1]) - 10, y_min + 12)
        anchor = "end" if x > x_max - 60 else ("start" if x < x_min + 40 else "middle")
        width = 6.2 * len(label)
        left = x - width if anchor == "end" else (x if anchor == "start" else x - width / 2)
        if any(left < r and l < left + width and abs(y - b) < 13 for l, r, b in placed):
            continue  # would overlap a label already drawn; the hollow marker still shows it
        placed.append((left, left + width, y))
        parts.append(_text(x, y, label, 11, anchor, color=s.color))
    return "".join(parts)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, the middle cut out: names of pods and hosts tell each other
    apart at their ends (…-segments-3-x8k2q), and start with what they are."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


@dataclass
class Bar:
    """One horizontal bar in a lane: [start, end] in the x unit, with a colour and a tooltip."""

    lane: str
    start: float
    end: float
    color: str = PALETTE[0]
    label: str | None = None
    tooltip: str | None = None


def _close_plot(out: list[str], left: float, top: float, plot_w: float, plot_h: float, x_label: str,
                legend_svg: str, note: str | None, width: float, height: float) -> str:
    """The end of a lanes chart: the plot's frame, the x label, the legend (when any), the note."""
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{AXIS}"/>')
    out.append(_text(left + plot_w / 2, top + plot_h + 34, x_label, 12))
    if legend_svg:
        out.append(f'<g transform="translate(0 {top + plot_h + 52:.1f})">{legend_svg}</g>')
    if note:
        out.append(_note_svg(note, left, height - 6, width - left - 8))
    out.append("</svg>")
    return "".join(out)


def lanes_chart(
    title: str,
    bars: Sequence[Bar],
    x_label: str,
    legend_items: Sequence[tuple[str, str]] = (),
    width: int = 600,
    note: str | None = None,
) -> str:
    """Horizontal bars in named lanes (a timeline or a stacked per-lane breakdown)."""
    lanes: list[str] = []
    for bar in bars:
        if bar.lane not in lanes:
            lanes.append(bar.lane)
    lane_height = 22 if len(lanes) <= 16 else max(13, 352 // len(lanes))
    label_width = min(200, 16 + 7 * max((len(lane) for lane in lanes), default=4))
    left, right, top = label_width, 20, 34
    legend_svg, legend_height = legend([(label, color, None, False) for label, color in legend_items], left, 0, width - left - right)
    if not legend_items:
        legend_height = 0
    plot_h = lane_height * max(len(lanes), 1)
    height = top + plot_h + 46 + legend_height + _note_height(note, width - left - 8)
    plot_w = width - left - right
    out = [_svg_open(width, height, title), _title(title, width)]
    finite = [b for b in bars if _finite(b.start) and _finite(b.end)]
    if not finite:
        out.append(_text(width / 2, top + 20, "no data to plot", 13))
        out.append("</svg>")
        return "".join(out)
    hi = max(max(b.end for b in finite), max(b.start for b in finite))
    lo = min(0.0, min(b.start for b in finite))
    lo, hi = nice_domain(lo, hi, 6, include_zero=True)
    sx = Scale(lo, hi, left, left + plot_w)
    for t in linear_ticks(lo, hi, 6):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
        out.append(_text(x, top + plot_h + 16, fmt_num(t), 11))
    for i, lane in enumerate(lanes):
        y = top + i * lane_height
        if lane_height >= 12:
            shown = shorten(lane, 28)
            out.append(_text(left - 6, y + lane_height / 2 + 4, shown, 11, "end"))
    for bar in finite:
        i = lanes.index(bar.lane)
        y = top + i * lane_height + 3
        x0, x1 = sx(bar.start), sx(bar.end)
        tip = f"<title>{escape(bar.tooltip)}</title>" if bar.tooltip else ""
        out.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1):.1f}" height="{lane_height - 6:.1f}" '
            f'fill="{bar.color}" rx="2">{tip}</rect>'
        )
        if bar.label and x1 - x0 > 7 * len(bar.label) + 6 and lane_height >= 16:
            out.append(_text((x0 + x1) / 2, y + (lane_height - 6) / 2 + 4, bar.label, 10, color="#fff"))
    return _close_plot(out, left, top, plot_w, plot_h, x_label, legend_svg if legend_items else "", note, width, height)


def stacked_lanes(
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    x_label: str,
    width: int = 600,
    note: str | None = None,
) -> str:
    """One horizontal stacked bar per row: [(segment name, length)], colours by segment name."""
    names: list[str] = []
    for _lane, segments in rows:
        for name, _length in segments:
            if name not in names:
                names.append(name)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    bars = []
    for lane, segments in rows:
        position = 0.0
        for name, length in segments:
            if not _finite(length) or length <= 0:
                continue
            bars.append(
                Bar(lane, position, position + length, colors[name], fmt_num(length), f"{lane} {name}: {fmt_num(length)}")
            )
            position += length
    legend_items = [(n, colors[n]) for n in names] if len(names) > 1 else []
    return lanes_chart(title, bars, x_label, legend_items, width, note)


# --- an interval per row around a reference (a comparison's ratios) ---------------------------

# Factors of the reference a ratio axis marks on each side (÷ on one, × on the other).
RATIO_FACTORS = (1.02, 1.05, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0)


@dataclass
class Estimate:
    """One row of interval_chart: a value (the dot) with its interval (the bar), coloured and labelled."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    color: str = PALETTE[0]
    text: str = ""
    hollow: bool = False


def ratio_ticks(reference: float, factor: float) -> list[float]:
    """Ticks at reference ÷ and × up to three factors within `factor`, each at most the square root
    of the one above it and none too close to the reference, so that their labels keep apart."""
    chosen: list[float] = []
    for f in sorted((f for f in RATIO_FACTORS if factor**0.2 <= f <= factor), reverse=True):
        if not chosen or f <= math.sqrt(chosen[-1]) and len(chosen) < 3:
            chosen.append(f)
    # Below the reference, the quotients rounded to two digits (0.83, not 0.833…): each tick is drawn at its label.
    return sorted([reference] + [reference * f for f in chosen] + [float(f"{reference / f:.2g}") for f in chosen])


def interval_chart(title: str, rows: Sequence[Estimate], x_label: str, *, reference: float = 1.0, below: str = "",
                   above: str = "", width: int = 640, note: str | None = None) -> str:
    """One row per estimate on a log axis centred on `reference` (drawn as a line): the dot is the
    value, the bar its interval, `text` is written right of the plot; `below` and `above` say what
    each side of the reference means."""
    shown = [r for r in rows if _finite(r.value) and r.value > 0]
    label_width = min(180, 16 + 7 * max((len(r.label) for r in rows), default=4))
    text_width = min(220, 12 + 6.6 * max((len(r.text) for r in rows), default=0))
    left, right, top, row_height = label_width, text_width + 8, 58, 28
    plot_w, plot_h = width - left - right, row_height * max(len(rows), 1)
    height = top + plot_h + 44 + _note_height(note, width - 16)
    out = [_svg_open(width, height, title), _title(title, width)]
    if not shown:
        out.append(_text(width / 2, top + 20, "no data to plot", 13))
        out.append("</svg>")
        return "".join(out)
    bounds = [v for r in shown for v in (r.value, r.low, r.high) if _finite(v) and v > 0]  # type: ignore[operator]
    spread = max(max(abs(math.log10(v / reference)) for v in bounds) * 1.12, math.log10(1.25))
    sx = Scale(reference / 10**spread, reference * 10**spread, left, left + plot_w, log=True)
    for t in ratio_ticks(reference, 10**spread):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
        out.append(_text(x, top + plot_h + 16, fmt_num(t), 11))
    centre = sx(reference)
    out.append(f'<line x1="{centre:.1f}" y1="{top - 4}" x2="{centre:.1f}" y2="{top + plot_h}" stroke="{AXIS}" '
               'stroke-width="1.5"/>')
    if below:
        out.append(_text(centre - 8, top - 10, f"← {below}", 12, "end"))
    if above:
        out.append(_text(centre + 8, top - 10, f"{above} →", 12, "start"))
    for i, row in enumerate(rows):
        y = top + i * row_height + row_height / 2
        out.append(_text(left - 8, y + 4, shorten(row.label, 24), 12, "end"))
        if row.text:
            out.append(_text(left + plot_w + 10, y + 4, row.text, 12, "start", color=row.color))
        if row not in shown:
            continue
        if _finite(row.low) and _finite(row.high) and row.low > 0 and row.high > 0:  # type: ignore[operator]
            x0, x1 = sx(row.low), sx(row.high)  # type: ignore[arg-type]
            out.append(f'<path d="M{x0:.1f},{y:.1f}H{x1:.1f}M{x0:.1f},{y - 5:.1f}v10M{x1:.1f},{y - 5:.1f}v10" '
                       f'stroke="{row.color}" stroke-width="1.8" fill="none"/>')
        fill = "#fff" if row.hollow else row.color
        out.append(f'<circle cx="{sx(row.value):.1f}" cy="{y:.1f}" r="5" fill="{fill}" stroke="{row.color}" '
                   f'stroke-width="1.8"><title>{escape(row.label)}: {fmt_num(row.value)}'
                   + (f" ({fmt_num(row.low)}–{fmt_num(row.high)})" if _finite(row.low) and _finite(row.high) else "")
                   + "</title></circle>")
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{AXIS}"/>')
    out.append(_text(left + plot_w / 2, top + plot_h + 34, x_label, 12))
    if note:
        out.append(_note_svg(note, 8, height - 6, width - 16))
    out.append("</svg>")
    return "".join(out)


@dataclass
class Track:
    """One reading drawn as a line in a lane: its points (x, value; a None value breaks the line)."""

    label: str
    unit: str
    points: Sequence[tuple[float, float | None]]
    color: str = PALETTE[0]


@dataclass
class TrackLane:
    """One node's lane: shaded spans (its workers' time), its readings as tracks, and markers."""

    name: str
    spans: Sequence[Bar] = ()
    tracks: Sequence[Track] = ()
    markers: Sequence[tuple[float, str]] = ()   # (x, tooltip): drawn as red ticks across the lane
    note: str = ""                              # said in the lane when it has no tracks


TRACK_HEIGHT = 34


def track_lanes(title: str, lanes: Sequence[TrackLane], x_label: str, width: int = 900,
                legend_items: Sequence[tuple[str, str]] = (), note: str | None = None) -> str:
    """Lanes on one time axis, each with its own small line tracks (every track scaled to its own
    range, labelled with its lowest and highest value) over shaded spans, red ticks for events."""
    left, right, top = 150, 70, 34
    plot_w = width - left - right
    heights = [max(len(lane.tracks), 1) * TRACK_HEIGHT + 10 for lane in lanes]
    legend_svg, legend_height = legend([(label, color, None, False) for label, color in legend_items], left, 0, plot_w)
    if not legend_items:
        legend_height = 0
    plot_h = sum(heights)
    height = top + plot_h + 46 + legend_height + _note_height(note, width - left - 8)
    out = [_svg_open(width, height, title), _title(title, width)]
    xs = [b.start for lane in lanes for b in lane.spans] + [b.end for lane in lanes for b in lane.spans]
    xs += [x for lane in lanes for t in lane.tracks for x, _ in t.points]
    xs = [x for x in xs if _finite(x)]
    if not lanes or not xs:
        out.append(_text(width / 2, top + 20, "no data to plot", 13))
        out.append("</svg>")
        return "".join(out)
    lo, hi = nice_domain(min(0.0, min(xs)), max(xs), 8, include_zero=True)
    sx = Scale(lo, hi, left, left + plot_w)
    for t in linear_ticks(lo, hi, 8):
        out.append(f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
        out.append(_text(sx(t), top + plot_h + 16, fmt_num(t), 11))
    y = float(top)
    for lane, lane_h in zip(lanes, heights):
        out.append(_text(left - 8, y + 16, shorten(lane.name, 20), 12, "end", 'font-weight="600"'))
        for bar in lane.spans:
            if _finite(bar.start) and _finite(bar.end):
                tip = f"<title>{escape(bar.tooltip)}</title>" if bar.tooltip else ""
                out.append(f'<rect x="{sx(bar.start):.1f}" y="{y + 2:.1f}" width="{max(sx(bar.end) - sx(bar.start), 1):.1f}" '
                           f'height="{lane_h - 4:.1f}" fill="{bar.color}" fill-opacity="0.16">{tip}</rect>')
        if not lane.tracks:
            out.append(_text(left + 8, y + lane_h / 2 + 4, lane.note or "no readings", 11, "start", 'font-style="italic"'))
        for i, track in enumerate(lane.tracks):
            ty = y + 5 + i * TRACK_HEIGHT
            values = [v for _, v in track.points if _finite(v)]
            out.append(_text(left - 8, ty + TRACK_HEIGHT / 2 + 8, f"{track.label}, {track.unit}", 10, "end"))
            if not values:
                continue
            vlo, vhi = min(values), max(values)
            if vhi - vlo < 1e-9:
                vlo, vhi = vlo - 1, vhi + 1
            sy = Scale(vlo, vhi, ty + TRACK_HEIGHT - 4, ty + 4)
            path, pen = [], "M"
            for x, v in track.points:
                if not (_finite(x) and _finite(v)):
                    pen = "M"
                    continue
                path.append(f"{pen}{sx(x):.1f},{sy(v):.1f}")
                pen = "L"
            out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{track.color}" stroke-width="1.5"/>')
            if fmt_num(max(values)) == fmt_num(min(values)):  # a flat track: one label, at its line
                out.append(_text(left + plot_w + 4, sy(values[0]) + 4, fmt_num(values[0]), 10, "start", color=track.color))
            else:
                out.append(_text(left + plot_w + 4, ty + 10, fmt_num(max(values)), 10, "start", color=track.color))
                out.append(_text(left + plot_w + 4, ty + TRACK_HEIGHT - 2, fmt_num(min(values)), 10, "start",
                                 color=track.color))
        for x, tip in lane.markers:
            if _finite(x):
                out.append(f'<line x1="{sx(x):.1f}" y1="{y + 1:.1f}" x2="{sx(x):.1f}" y2="{y + lane_h - 1:.1f}" '
                           f'stroke="#C00000" stroke-width="2"><title>{escape(tip)}</title></line>')
        out.append(f'<line x1="{left}" y1="{y + lane_h:.1f}" x2="{left + plot_w}" y2="{y + lane_h:.1f}" stroke="{AXIS}" stroke-opacity="0.4"/>')
        y += lane_h
    return _close_plot(out, left, top, plot_w, plot_h, x_label, legend_svg if legend_items else "", note, width, height)
