"""Chart primitives: ticks, scales, number formatting and well-formed, escaped SVG."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from labkit.report import svg

NS = "{http://www.w3.org/2000/svg}"


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # raises on malformed XML (e.g. duplicate attributes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (1, "1"), (2.5, "2.5"), (0.125, "0.125"), (12_345, "12.3k"), (7_430_000, "7.43M"),
     (2e9, "2G"), (0.00012, "0.00012"), (1.2e-5, "1.2e-05"), (float("nan"), "–"), (-3.0, "-3"),
     (999.7, "1000"), (1234.5, "1234"), (9999.4, "9999"), (999_999, "1M"), (999_499, "999k"), (-45_600, "-45.6k")],
)
def test_fmt_num(value: float, expected: str) -> None:
    assert svg.fmt_num(value) == expected


def test_linear_ticks_are_nice_and_cover_the_range() -> None:
    ticks = svg.linear_ticks(0, 9.3)
    assert ticks[0] <= 0 and ticks[-1] >= 8
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)
    assert 4 <= len(ticks) <= 8


def test_nice_domain_includes_zero_and_widens_to_steps() -> None:
    lo, hi = svg.nice_domain(3.2, 9.1, include_zero=True)
    assert lo == 0 and hi >= 9.1
    lo, hi = svg.nice_domain(5, 5)
    assert lo < 5 < hi


def test_log_ticks_decades_and_multiples() -> None:
    assert svg.log_ticks(0.5, 2000) == [1, 10, 100, 1000]
    assert svg.log_ticks(1, 50) == [1, 2, 5, 10, 20, 50]
    narrow = svg.log_ticks(2.2, 9.5)
    assert narrow[0] >= 2.2 and narrow[-1] <= 9.5 and len(narrow) >= 3
    with pytest.raises(ValueError, match="positive"):
        svg.log_ticks(0, 10)


def test_scale_linear_and_log() -> None:
    lin = svg.Scale(0, 10, 100, 200)
    assert lin(0) == 100 and lin(10) == 200 and lin(5) == 150
    log = svg.Scale(1, 100, 0, 200, log=True)
    assert log(10) == pytest.approx(100)
    flipped = svg.Scale(0, 1, 300, 0)  # y axes grow upwards
    assert flipped(1) == 0


def _chart(**kwargs) -> str:
    series = [
        svg.Series("measured", [(1, 8.0), (2, 4.2), (4, 2.3)], errors=[(7.9, 8.1), (4.0, 4.4), (2.2, 2.5)],
                   point_labels=[None, None, "oversubscribed"], hollow=[False, False, True]),
        svg.Series("ideal", [(1, 8.0), (4, 2.0)], markers=False, dash="6 4"),
    ]
    return svg.xy_chart(svg.XYChart("Time <vs> \"N\"", "workers N", "time, s", series, **kwargs))


def test_xy_chart_is_well_formed_with_lines_points_error_bars_legend() -> None:
    root = parse(_chart(x_log=True, y_log=True, x_ticks=[1, 2, 4]))
    assert root.tag == NS + "svg" and root.get("viewBox")
    assert len(root.findall(f".//{NS}polyline")) == 2
    circles = root.findall(f".//{NS}circle")
    # three data points plus a legend marker for the series with markers
    assert len(circles) == 4
    assert sum(1 for c in circles if c.get("fill") == "#fff") == 1  # the hollow point
    texts = [t.text for t in root.iter(NS + "text")]
    assert "Time <vs> \"N\"" in texts  # escaped in the source, intact once parsed
    assert {"1", "2", "4"} <= set(texts)
    assert "measured" in texts and "ideal" in texts and "oversubscribed" in texts
    error_paths = [p for p in root.iter(NS + "path") if p.get("d", "").startswith("M")]
    assert len(error_paths) == 3


def test_xy_chart_escapes_text() -> None:
    raw = _chart()
    assert "<vs>" not in raw and "&lt;vs&gt;" in raw


def test_xy_chart_without_data_says_so() -> None:
    root = parse(svg.xy_chart(svg.XYChart("empty", "x", "y", [svg.Series("s", [(1, float("nan"))])])))
    assert "no data to plot" in [t.text for t in root.iter(NS + "text")]


def test_log_axis_drops_non_positive_points_instead_of_crashing() -> None:
    chart = svg.XYChart("t", "x", "y", [svg.Series("s", [(1, 0.0), (2, 1.0), (4, 0.5)])], x_log=True, y_log=True)
    root = parse(svg.xy_chart(chart))
    assert len([c for c in root.iter(NS + "circle")]) == 3  # 2 points + legend


def test_lanes_and_stacked_bars() -> None:
    bars = [svg.Bar("#0 <pi-a>", 0.0, 2.0, label="2 s"), svg.Bar("#1 pi-b", 0.5, 1.5)]
    root = parse(svg.lanes_chart("timeline", bars, "s", [("pi-a", svg.PALETTE[0])]))
    rects = [r for r in root.iter(NS + "rect") if r.get("rx") == "2"]
    assert len(rects) == 2
    assert float(rects[0].get("width")) == pytest.approx(2 * float(rects[1].get("width")), rel=0.01)
    assert "#0 <pi-a>" in [t.text for t in root.iter(NS + "text")]
    stacked = parse(svg.stacked_lanes("phases", [("pod-1", [("scheduling", 1.0), ("compute", 3.0)])], "s"))
    widths = [float(r.get("width")) for r in stacked.iter(NS + "rect") if r.get("rx") == "2"]
    assert len(widths) == 2 and widths[1] == pytest.approx(3 * widths[0], rel=0.01)


def test_log_ticks_on_a_narrow_range_are_evenly_spaced_inside_it() -> None:
    ticks = svg.log_ticks(2.5, 2.9)
    assert len(ticks) >= 3 and all(2.5 <= t <= 2.9 for t in ticks)
