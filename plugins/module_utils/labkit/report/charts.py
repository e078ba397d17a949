"""The report's specific charts, built from summary rows and runs with the svg primitives.

Each function returns an SVG string, or None when the chart makes no sense
for the data (e.g. no speed-up without a T(1)).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import compare, metrics, telemetry
from . import model
from .svg import (PALETTE, Bar, Estimate, Series, Track, TrackLane, XYChart, fmt_num, interval_chart, lanes_chart,
                  stacked_lanes, track_lanes, xy_chart)

Row = Mapping[str, Any]


def _num(value: Any) -> float | None:
    return model._num(value)


def _point_flags(rows: Sequence[Row]) -> tuple[list[bool], list[str | None]]:
    hollow, labels = [], []
    for r in rows:
        bad = not r.get("valid", True)
        over = bool(r.get("oversubscribed"))
        hollow.append(bad or over)
        tags = [t for t, on in (("invalid", bad), ("oversubscribed", over)) if on]
        labels.append(", ".join(tags) or None)
    return hollow, labels


def has_intervals(rows: Sequence[Row]) -> bool:
    """Does any point carry a bootstrap interval of its speed-up (2 runs there and at T(1))?"""
    return any(_num(r.get("speedup_ci_low")) is not None and _num(r.get("speedup_ci_high")) is not None for r in rows)


def has_spread(rows: Sequence[Row]) -> bool:
    """Does any point have more than one run, so that a min–max bar shows something?"""
    return any(int(r.get("runs") or 0) > 1 for r in rows)


def _worker_ticks(rows: Sequence[Row]) -> list[float]:
    return sorted({float(r["workers"]) for r in rows if _num(r.get("workers"))})


def time_chart(mode: str, summary: Sequence[Row], amdahl: Mapping[str, Any] | None) -> str | None:
    """T(N) on log-log axes with min–max bars, the ideal line and (strong) the Amdahl fit."""
    rows = [r for r in model.rows_for(summary, mode) if _num(r.get("t_median_s")) and _num(r.get("workers"))]
    if not rows:
        return None
    ns = [float(r["workers"]) for r in rows]
    hollow, labels = _point_flags(rows)
    series = [
        Series(
            f"median T(N), {mode}" + (" (bars: min–max)" if has_spread(rows) else ", one run per point"),
            [(float(r["workers"]), float(r["t_median_s"])) for r in rows],
            PALETTE[0],
            errors=[(_num(r.get("t_min_s")), _num(r.get("t_max_s"))) for r in rows],
            point_labels=labels,
            hollow=hollow,
        )
    ]
    ref = model.reference_row(summary, mode)
    t1 = _num(ref.get("t_median_s")) if ref else None
    span = [min(1.0, min(ns)), max(ns)]
    dense = _dense(span[0], span[1])
    if t1 is not None:
        if mode == "weak":
            series.append(Series("ideal: T(1), constant", [(n, t1) for n in span], "#777", markers=False, dash="6 4"))
        else:
            series.append(Series("ideal: T(1)/N", [(n, t1 / n) for n in dense], "#777", markers=False, dash="6 4"))
    if mode == "baseline" or ref is not None and ref.get("mode") == "baseline":
        series.append(Series("baseline (one plain process)", [(1.0, t1)] if t1 else [], PALETTE[3], line=False))
    if mode == "strong" and model.amdahl_meaningful(amdahl):
        assert amdahl is not None
        a, b = float(amdahl["a"]), float(amdahl["b"])
        f = _num(amdahl.get("serial_fraction"))
        label = "Amdahl fit a + b/N" + (f" (serial fraction {f:.1%})" if f is not None else "")
        fit_points = [(n, a + b / n) for n in dense if a + b / n > 0]
        series.append(Series(label, fit_points, PALETTE[1], markers=False, dash="2 3"))
    note = None if len(rows) > 1 else "Only one worker count was run: no scaling curve."
    weak = mode == "weak"  # ideal is flat: a linear time axis from 0 shows how flat
    return xy_chart(
        XYChart(
            f"Time vs workers ({mode} scaling{'' if weak else ', log-log'})",
            "workers N",
            "time to finish, s",
            series,
            x_log=True,
            y_log=not weak,
            x_ticks=sorted(set(_worker_ticks(rows) + ([1.0] if t1 else []))),
            note=note,
        )
    )


def _dense(lo: float, hi: float, steps: int = 48) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo * (hi / lo) ** (i / steps) for i in range(steps + 1)]


def speedup_chart(mode: str, summary: Sequence[Row]) -> str | None:
    """S(N) with its bootstrap interval against the ideal y = N."""
    rows = [r for r in model.rows_for(summary, mode) if _num(r.get("speedup")) is not None]
    if not rows:
        return None
    hollow, labels = _point_flags(rows)
    name = "scaled speed-up S_s = N·E_w" if mode == "weak" else "speed-up S = T(1)/T(N)"
    top = max(float(r["workers"]) for r in rows)
    series = [
        Series("ideal: S = N", [(1.0, 1.0), (top, top)], "#777", markers=False, dash="6 4"),
        Series(
            f"{name}" + (" (bars: 95% bootstrap CI)" if has_intervals(rows) else ""),
            [(float(r["workers"]), float(r["speedup"])) for r in rows],
            PALETTE[0],
            errors=[(_num(r.get("speedup_ci_low")), _num(r.get("speedup_ci_high"))) for r in rows],
            point_labels=labels,
            hollow=hollow,
        ),
    ]
    return xy_chart(
        XYChart(
            f"{'Scaled speed-up' if mode == 'weak' else 'Speed-up'} vs workers ({mode})",
            "workers N",
            "scaled speed-up" if mode == "weak" else "speed-up ×",
            series,
            x_ticks=sorted(set(_worker_ticks(rows) + [1.0])),
            note=None if has_intervals(rows) else "No interval: a bootstrap needs at least 2 runs at N and at T(1).",
        )
    )


def efficiency_chart(mode: str, summary: Sequence[Row]) -> str | None:
    """E(N) (weak: E_w) against the ideal 1."""
    rows = [r for r in model.rows_for(summary, mode) if _num(r.get("efficiency")) is not None]
    if not rows:
        return None
    hollow, labels = _point_flags(rows)
    ticks = sorted(set(_worker_ticks(rows) + [1.0]))
    series = [
        Series("ideal: 100 %", [(min(ticks), 1.0), (max(ticks), 1.0)], "#777", markers=False, dash="6 4"),
        Series(
            "weak efficiency E_w = T(1)/T(N)" if mode == "weak" else "efficiency E = S/N",
            [(float(r["workers"]), float(r["efficiency"])) for r in rows],
            PALETTE[2],
            point_labels=labels,
            hollow=hollow,
        ),
    ]
    return xy_chart(XYChart(f"Efficiency vs workers ({mode})", "workers N", "efficiency (1 = ideal)", series, x_ticks=ticks))


def timeline_lanes(results: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The results grouped by worker slot (metrics.slot_of), each lane's items in start order:
    a transcode slot runs several segments one after another; a π worker runs one item."""
    lanes: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for result in sorted(results, key=lambda r: (int(r["t_start_ns"]), _index(r))):
        lanes.setdefault(metrics.slot_of(result), []).append(result)
    ordered = sorted(lanes.items(), key=lambda kv: (kv[0][0], _slot_number(kv[1][0])))
    return [(f"worker {_slot_number(items[0])} · {node}", items) for (node, _slot), items in ordered]


def _slot_number(result: Mapping[str, Any]) -> int:
    slot = result.get("slot")
    try:
        return int(slot if slot is not None else result.get("index"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def timeline_chart(run: Mapping[str, Any], title: str | None = None) -> str | None:
    """One lane per worker slot with a bar per item it ran (t_start_ns to t_end_ns), relative
    to the run's earliest start; colours by node. A transcode segment's bar carries its index."""
    results = [r for r in run.get("results") or [] if _num(r.get("t_start_ns")) and _num(r.get("t_end_ns"))]
    if not results:
        return None
    origin = min(int(r["t_start_ns"]) for r in results)
    lanes = timeline_lanes(results)
    nodes = list(dict.fromkeys(str(items[0].get("node")) for _lane, items in lanes))
    colors = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(nodes)}
    several = any(len(items) > 1 for _lane, items in lanes)
    bars = []
    for lane, items in lanes:
        for r in items:
            node = str(r.get("node"))
            start = (int(r["t_start_ns"]) - origin) / 1e9
            end = (int(r["t_end_ns"]) - origin) / 1e9
            item = str(r.get("segment") or f"item {r.get('index')}")
            label = _item_label(r, item) if several or r.get("segment") is not None else fmt_num(end - start) + " s"
            bars.append(Bar(lane, start, end, colors[node], label,
                            f"{lane}: {item}, {fmt_num(start)}–{fmt_num(end)} s ({fmt_num(end - start)} s)"))
    span = max(b.end for b in bars)
    busy = sorted(metrics.worker_busy_times(run))
    note = f"T_span {fmt_num(span)} s, T_e2e {fmt_num(_num(run.get('t_e2e_s')) or math.nan)} s (controller clock)"
    if several:
        note += f"; busy per worker {fmt_num(busy[0])}–{fmt_num(busy[-1])} s (sum of its segments)"
    return lanes_chart(
        title or f"Worker timeline: median run at N={run.get('workers')} ({run.get('run_id')})",
        bars,
        "seconds since the first worker started (worker wall clocks)",
        [(n, colors[n]) for n in nodes] if len(nodes) > 1 else (),
        note=note,
    )


def segments_chart(run: Mapping[str, Any]) -> str | None:
    """Which node encoded which segment: the timeline of the segments this run encoded, one lane
    per node and slot. A resumed segment is left out: an earlier run made it, at another time."""
    return timeline_chart(model.without_resumed(run),
                          f"Which node encoded which segment (N={run.get('workers')}, {run.get('run_id')})")


def _item_label(result: Mapping[str, Any], name: str) -> str:
    """The item's number, short enough to sit inside its bar: its index, else from its name."""
    index = result.get("index")
    return str(index) if isinstance(index, int) and not isinstance(index, bool) else _short_item(name)


def _short_item(name: str) -> str:
    """seg_0003.mp4 -> 3: the segment's number, short enough to sit inside its bar."""
    digits = "".join(ch for ch in name.split(".")[0] if ch.isdigit())
    return str(int(digits)) if digits else name


def _index(result: Mapping[str, Any]) -> int:
    try:
        return int(result.get("index"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def k3s_phase_chart(run: Mapping[str, Any]) -> str | None:
    """Per-pod stacked phases (scheduling, start, runtime start, compute, exit) when results carry them."""
    results = run.get("results") or []
    phase_keys = [k for k, _ in model.K3S_PHASES if k != "compute_s"]
    if not any(any(_num(r.get(k)) is not None for k in phase_keys) for r in results):
        return None
    rows = []
    for r in sorted(results, key=_index):
        lane = f"#{r.get('index')} {r.get('pod') or r.get('node')}"
        rows.append((lane, [(label, _num(r.get(key)) or 0.0) for key, label in model.K3S_PHASES]))
    return stacked_lanes(
        f"Pod phases: run {run.get('run_id')} (N={run.get('workers')})",
        rows,
        "seconds",
        note="Kubernetes timestamps have one-second resolution; sub-second parts come from the workers.",
    )


def transcode_phase_chart(phases: Mapping[str, Any]) -> str | None:
    """The transcode pipeline's wall time per phase as one stacked bar."""
    segments = [(label, _num(phases.get(key))) for key, label in model.TRANSCODE_PHASES]
    present = [(label, v) for label, v in segments if v is not None and v > 0]
    if not present:
        return None
    return stacked_lanes(
        "Transcode pipeline: time per phase",
        [("pipeline", present)],
        "seconds",
        note="Audio is encoded while the video segments run, so the bar can exceed the wall time.",
    )


def legacy_chart(runs: Sequence[Mapping[str, Any]]) -> str | None:
    """Legacy log import: each pod's reported time (no timestamps to place them in time)."""
    rows = []
    for run in runs:
        for r in run.get("results") or []:
            t = _num(r.get("compute_s"))
            if t is not None:
                rows.append((f"{r.get('pod') or r.get('node')}", [("reported time", t)]))
    if not rows:
        return None
    return stacked_lanes("Imported log: time each pod reported", rows, "seconds")


def comparison_chart(block: Mapping[str, Any]) -> str | None:
    """B / A per point (labkit.compare): the ratio as a dot, its bootstrap interval as a bar, around
    the line at 1 (faster to the left, slower to the right); hollow without an interval."""
    points = [p for p in block.get("points") or [] if _num(p.get("ratio")) is not None]
    if not points:
        return None
    colors = {compare.SLOWER: PALETTE[1], compare.FASTER: PALETTE[2], compare.SAME: "#777", compare.TOO_FEW: "#777"}
    rows = [Estimate(str(p["point"]), float(p["ratio"]), _num(p.get("ci_low")), _num(p.get("ci_high")),
                     colors.get(p.get("verdict"), "#777"),
                     compare.TOO_FEW if p.get("verdict") == compare.TOO_FEW else str(p.get("text")),
                     hollow=p.get("verdict") == compare.TOO_FEW) for p in points]
    confidence = _num((block.get("method") or {}).get("confidence")) or compare.CONFIDENCE
    return interval_chart(
        f"This run against {(block.get('a') or {}).get('name')}: time ratio per point",
        rows, "B / A: median time of this run over the other's (log scale)", below="faster", above="slower",
        note=f"Bars: {confidence:.0%} bootstrap intervals; grey: the interval holds 1 (no significant "
             "difference); hollow: too few runs for an interval.")


# At most this many points per quality line: a long video is drawn by the lowest value of each
# run of frames, so that a dip is never averaged away.
MAX_QUALITY_POINTS = 1500


def _lowest_per_bucket(values: Sequence[float]) -> list[tuple[float, float]]:
    step = max(1, math.ceil(len(values) / MAX_QUALITY_POINTS))
    points = []
    for start in range(0, len(values), step):
        chunk = values[start:start + step]
        lowest = min(range(len(chunk)), key=chunk.__getitem__)
        points.append((float(start + lowest), chunk[lowest]))
    return points


def seams_chart(block: Mapping[str, Any], metric: str) -> str | None:
    """Per-frame PSNR ("psnr_db") or SSIM ("ssim") of the output against the source, each seam's
    first frame marked: a dip that lines up with the marks is chunking's doing."""
    values = [float(v) for v in block.get(metric) or []]
    if not values:
        return None
    starts = [int(b) for b in block.get("boundaries") or [] if 0 <= int(b) < len(values)]
    name, unit = ("PSNR", "dB") if metric == "psnr_db" else ("SSIM", "")
    series = [Series(f"{name} per frame" + (" (lowest of each run of frames)" if len(values) > MAX_QUALITY_POINTS
                                             else ""), _lowest_per_bucket(values), PALETTE[0], markers=False)]
    if starts:
        series.append(Series("first frame after a seam", [(float(b), values[b]) for b in starts], PALETTE[3],
                             line=False))
    return xy_chart(XYChart(f"{name} of every output frame against the source", "output frame",
                            f"{name}, {unit}" if unit else name, series, y_zero=False, width=900, height=320))


# The readings a node lane draws, in this order: (sample key, label, unit, colour).
TELEMETRY_TRACKS = (("temp_c", "temperature", "°C", PALETTE[1]), ("arm_mhz", "ARM clock", "MHz", PALETTE[0]),
                    ("load", "CPUs busy", "cores", PALETTE[2]), ("power_w", "power", "W", PALETTE[3]))


def telemetry_chart(samples_by_node: Mapping[str, Sequence[Mapping[str, Any]]], sampling: Mapping[str, Any] | None,
                    runs: Sequence[Mapping[str, Any]]) -> str | None:
    """One lane per sampled node on one time axis: what it could read (temperature, clock, CPUs busy,
    power), its workers' time shaded (a colour per run), throttle onsets as red ticks."""
    if not sampling or not samples_by_node:
        return None
    origin = sampling.get("origin_ns") or 0
    run_colors = {run.get("run_id"): PALETTE[i % len(PALETTE)] for i, run in enumerate(runs)}
    spans_by_node: dict[str, list[Bar]] = {}
    for span in telemetry.spans(runs):
        spans_by_node.setdefault(span.node, []).append(Bar(
            span.node, (span.start_ns - origin) / 1e9, (span.end_ns - origin) / 1e9, run_colors.get(span.run_id, PALETTE[0]),
            tooltip=f"{span.label}: {span.seconds:.2f} s on {span.node}"))
    errors = {n.get("node"): n.get("error") for n in sampling.get("nodes") or []}
    lanes = []
    for node, samples in samples_by_node.items():
        trace = telemetry.NodeTrace(node=node, samples=list(samples))
        tracks = [Track(label, unit, [((s["t_ns"] - origin) / 1e9, s.get(key)) for s in samples], color)
                  for key, label, unit, color in TELEMETRY_TRACKS if any(s.get(key) is not None for s in samples)]
        markers = [((t_ns - origin) / 1e9, f"{node} throttled at t = {(t_ns - origin) / 1e9:.0f} s ({telemetry.throttle_words(bits)})")
                   for t_ns, bits in telemetry.throttle_events(trace)]
        lanes.append(TrackLane(node, spans_by_node.get(node, []), tracks, markers,
                               note=errors.get(node) or "no readings"))
    interval = sampling.get("interval_s")
    note = ("Shaded: each worker's time on the node, one colour per run. Red: the node reported throttling "
            "(vcgencmd get_throttled). Each reading is scaled to its own range (lowest and highest on the right).")
    if interval:
        note += f" One sample every {interval:g} s."
    return track_lanes("What each node did during the experiment", lanes, "seconds since the first sample", note=note)
