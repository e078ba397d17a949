"""What the report shows, derived from runs and analyse()'s output (no HTML here).

Presentation only: every metric comes from labkit.metrics (one place per
formula); this module picks rows (the headline point, the median run),
phrases warnings so a person can act on them, and names units.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple

from .. import metrics
from ..text import plural
from .svg import fmt_num

Run = Mapping[str, Any]
Row = Mapping[str, Any]

WORKLOADS: dict[str, dict[str, str]] = {
    "pi": {
        "title": "Monte Carlo π scaling experiment",
        "description": "Estimates π from random points in the unit square, split over N workers; "
        "measures how the time to a fixed number of samples falls as workers are added.",
        "work_unit": "samples",
        "throughput_unit": "samples/s",
    },
    "transcode": {
        "title": "Distributed video transcode",
        "description": "Splits a video at keyframes, transcodes the segments on N workers, joins them "
        "and verifies the result against the source.",
        "work_unit": "s of video",
        "throughput_unit": "s of video per s",
    },
}
SCALED_MODES = ("strong", "weak")
K3S_PHASES = [
    ("scheduling_s", "scheduling"),
    ("start_s", "container start"),
    ("runtime_start_s", "runtime start"),
    ("compute_s", "compute"),
    ("exit_s", "exit"),
]
TRANSCODE_PHASES = [
    ("probe_split_s", "probe + split"),
    ("audio_s", "audio"),
    ("segments_s", "video segments"),
    ("join_mux_s", "join + mux"),
    ("verify_s", "verify"),
]


# The legacy block's figures as both the page and summary.md show them:
# (key in results.json's legacy block, label, digits, unit, what it is). The last is the honest one.
LEGACY_FIGURES = (
    ("nodes", "pods N", None, "", "imported from the log; each pod did the full work"),
    ("mean_time_s", "mean reported time Tₚ", 4, " s", "mean of the pods' times"),
    ("slowest_time_s", "slowest pod", 4, " s", "when the cluster had finished"),
    ("reference_s", "reference time Tₛ", 4, " s", "one machine, one pod's work (pi_reference_seconds)"),
    ("seed_speedup", "speed-up Tₛ/Tₚ", 4, "", "seed 001's arithmetic"),
    ("seed_efficiency", "parallel efficiency (Tₛ/Tₚ)/N", 4, "", "seed 001's arithmetic"),
    ("seed_linear_ratio", "“linear speed-up” N·Tₚ/Tₛ", 4, "×", "seed 001's arithmetic (upside down)"),
    ("throughput_vs_reference", "throughput vs reference", 3, "×", "the honest figure: N·Tₛ / T, T = the slowest pod"),
)


class Page(NamedTuple):
    """What every rendered file of a report is made from."""

    workload: str
    runs: Sequence[Run]
    analysis: Mapping[str, Any]
    context: Mapping[str, Any]
    extra: Mapping[str, Any]
    head: Mapping[str, Any]
    notes: Sequence[str]
    generated: str


def text_of(value: Any, *, none: str, yes: str, no: str, number: Callable[[float], str]) -> str:
    """The text of a cell in any of the report's files: None, booleans and floats as each
    format wants them, containers as sorted JSON, anything else as str()."""
    if value is None:
        return none
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def workload_info(workload: str) -> dict[str, str]:
    return WORKLOADS.get(
        workload,
        {
            "title": f"{workload} experiment",
            "description": f"{workload} work split over N workers.",
            "work_unit": "work units",
            "throughput_unit": "work units/s",
        },
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def measured_runs(runs: Sequence[Run]) -> list[Run]:
    """Runs that count, as metrics counts them: not the warm-up, with a recorded time, not resumed."""
    return metrics.timed_runs(runs)


def rows_for(summary: Sequence[Row], mode: str) -> list[Row]:
    return sorted((r for r in summary if r.get("mode") == mode), key=lambda r: int(r.get("workers") or 0))


def scaled_modes(summary: Sequence[Row]) -> list[str]:
    """The modes present that scale with N (strong first), in display order."""
    present = {r.get("mode") for r in summary}
    return [m for m in SCALED_MODES if m in present]


def reference_row(summary: Sequence[Row], mode: str) -> Row | None:
    """The summary row whose median time is T(1) for `mode` (as analyse chose it)."""
    rows = rows_for(summary, mode)
    description = next((r.get("speedup_reference") for r in rows if r.get("speedup_reference")), None)
    if mode == "strong" and description and str(description).startswith("baseline"):
        baselines = rows_for(summary, "baseline")
        return baselines[0] if baselines else None
    return next((r for r in rows if int(r.get("workers") or 0) == 1 and r.get("t_median_s") is not None), None)


def best_row(summary: Sequence[Row]) -> Row | None:
    """The headline point: highest speed-up among valid, not oversubscribed scaled points (strong before weak).

    Falls back to oversubscribed, then invalid points, then to the fastest point when nothing has a speed-up.
    """
    for mode in scaled_modes(summary):
        rows = [r for r in rows_for(summary, mode) if _num(r.get("speedup")) is not None]
        scaled = [r for r in rows if int(r.get("workers") or 0) > 1]
        rows = scaled or rows  # N=1 is the reference itself: only the headline when nothing else ran
        valid = [r for r in rows if r.get("valid", True)]
        clean = [r for r in valid if not r.get("oversubscribed")]
        pool = clean or valid or rows
        if pool:
            return max(pool, key=lambda r: (float(r["speedup"]), -int(r.get("workers") or 0)))
    timed = [r for r in summary if _num(r.get("t_median_s")) is not None and r.get("mode") != "legacy"]
    if timed:
        return min(timed, key=lambda r: float(r["t_median_s"]))
    return None


def reference_was_fastest(best: Row | None, summary: Sequence[Row]) -> Row | None:
    """The T(1) row when no strong point with N > 1 beat it (speed-up at most 1), else None:
    then the headline's best point is N=1, not the least slow of the others."""
    if best is None or best.get("mode") != "strong" or int(best.get("workers") or 0) <= 1:
        return None
    speedup = _num(best.get("speedup"))
    if speedup is None or speedup > 1:
        return None
    return reference_row(summary, "strong")


def not_timed(summary: Sequence[Row]) -> list[str]:
    """Scaled points that ran but have no timing (every run resumed earlier work), in words."""
    return [
        f"{r.get('mode')} N={r.get('workers')} not timed: {plural(int(r.get('resumed_runs') or 0), 'run')} "
        "resumed an earlier run's work"
        for r in summary
        if r.get("mode") in SCALED_MODES and int(r.get("resumed_runs") or 0) > 0 and _num(r.get("t_median_s")) is None
    ]


def partial_note(extra: Mapping[str, Any]) -> str | None:
    """The words for a partial report (extra.partial, written when an experiment was interrupted
    and the runs already measured were kept), or None for a complete one."""
    block = extra.get("partial")
    if not isinstance(block, Mapping) or not block.get("interrupted"):
        return None
    kept, planned = _num(block.get("runs_kept")), _num(block.get("runs_planned"))
    if kept is None or planned is None:
        return "Partial: interrupted before every planned run had run; the figures cover only the runs kept"
    return (f"Partial: interrupted after {int(kept)} of {plural(int(planned), 'planned run')}; "
            "the figures cover only the runs kept")


def _count(value: Any, noun: str) -> str:
    """plural() for a count that may be missing ('? pods')."""
    number = _num(value)
    return plural(int(number), noun) if number is not None and number == int(number) else f"{value} {noun}s"


def _scaled_figures(row: Row) -> dict[str, Any]:
    return {key: row.get(key) for key in ("workers", "speedup", "speedup_ci_low", "speedup_ci_high", "efficiency",
                                          "t_median_s", "valid")}


def headline(
    workload: str, analysis: Mapping[str, Any], extra: Mapping[str, Any], path: str, runs: Sequence[Run] = ()
) -> dict[str, Any]:
    """The numbers at the top of the report, also returned to the playbook."""
    summary = analysis.get("summary") or []
    info = workload_info(workload)
    best = best_row(summary)
    head: dict[str, Any] = {
        "workload": workload,
        "mode": None,
        "best_workers": None,
        "speedup": None,
        "speedup_ci_low": None,
        "speedup_ci_high": None,
        "efficiency": None,
        "t1_s": None,
        "t1_reference": None,
        "t_best_s": None,
        "throughput": None,
        "throughput_unit": info["throughput_unit"],
        "throughput_basis": "work / median time",
        "valid": None,
        "invalid_reasons": [],
        "not_timed": not_timed(summary),
        "partial": partial_note(extra),
        "path": path,
    }
    legacy = extra.get("legacy") if isinstance(extra.get("legacy"), Mapping) else None
    reference = reference_was_fastest(best, summary)
    if best is not None and reference is not None:
        # No N > 1 beat T(1): the best point is N=1; the least slow N > 1 is shown beside it.
        head.update(
            mode="strong",
            best_workers=reference.get("workers"),
            t1_s=reference.get("t_median_s"),
            t1_reference=best.get("speedup_reference"),
            t_best_s=reference.get("t_median_s"),
            throughput=reference.get("throughput"),
            valid=reference.get("valid"),
            invalid_reasons=list(reference.get("invalid_reasons") or []),
            reference_fastest=True,
            best_scaled=_scaled_figures(best),
        )
        if workload == "transcode":
            head["fps"] = frames_per_second(runs, str(reference.get("mode")), int(reference.get("workers") or 0))
    elif best is not None:
        mode = str(best.get("mode"))
        ref = reference_row(summary, mode) if mode in SCALED_MODES else None
        head.update(
            mode=mode,
            best_workers=best.get("workers"),
            speedup=best.get("speedup"),
            speedup_ci_low=best.get("speedup_ci_low"),
            speedup_ci_high=best.get("speedup_ci_high"),
            efficiency=best.get("efficiency"),
            t1_s=ref.get("t_median_s") if ref else None,
            t1_reference=best.get("speedup_reference"),
            t_best_s=best.get("t_median_s"),
            throughput=best.get("throughput"),
            valid=best.get("valid"),
            invalid_reasons=list(best.get("invalid_reasons") or []),
        )
        if workload == "transcode":
            head["fps"] = frames_per_second(runs, mode, int(best.get("workers") or 0))
    verification = extra.get("verification")
    if isinstance(verification, Mapping) and "passed" in verification:
        head["verified"] = verification.get("passed")
    head["summary"] = headline_text(head, legacy)
    head["text"] = f"{head['summary']} — report: {path}"
    return head


def headline_text(head: Mapping[str, Any], legacy: Mapping[str, Any] | None = None) -> str:
    """One line for the playbook's output and the top of summary.md (without the path)."""
    parts = [f"{head['workload']}"]
    if head.get("partial"):
        parts.append(str(head["partial"]))
    if head.get("best_workers") is None:
        if legacy:
            ratio = _num(legacy.get("throughput_vs_reference"))
            parts.append(
                f"legacy log import: {_count(legacy.get('nodes'), 'pod')}, mean {fmt_num(_num(legacy.get('mean_time_s')) or math.nan)} s"
                + (f"; throughput {fmt_num(ratio)}× the reference machine" if ratio is not None else "")
            )
        else:
            parts.append("no measured point")
        parts += list(head.get("not_timed") or [])
        return " — ".join(parts)
    mode, n = head.get("mode"), head.get("best_workers")
    speedup = _num(head.get("speedup"))
    scaled = head.get("best_scaled") if isinstance(head.get("best_scaled"), Mapping) else None
    if head.get("reference_fastest") and scaled is not None:
        text = (f"{mode}: no speed-up, N={n} was fastest (T(1) = {fmt_num(_num(head.get('t1_s')) or math.nan)} s, "
                f"{head.get('t1_reference')}); the best N>1, N={scaled.get('workers')}, took "
                f"{fmt_num(_num(scaled.get('t_median_s')) or math.nan)} s: speed-up "
                f"{fmt_num(_num(scaled.get('speedup')) or math.nan)}×")
        eff = _num(scaled.get("efficiency"))
        if eff is not None:
            text += f", efficiency {eff:.0%}"
        text += " (adding workers did not help)"
    elif speedup is not None:
        label = "scaled speed-up" if mode == "weak" else "speed-up"
        text = f"{mode}: best N={n}, {label} {fmt_num(speedup)}×"
        low, high = _num(head.get("speedup_ci_low")), _num(head.get("speedup_ci_high"))
        if low is not None and high is not None:
            text += f" (95% CI {fmt_num(low)}–{fmt_num(high)})"
        eff = _num(head.get("efficiency"))
        if eff is not None:
            text += f", efficiency {eff:.0%}"
        if speedup < 1 and int(n or 0) > 1:
            text += " (slower than T(1): adding workers did not help)"
        if _num(head.get("t1_s")) is not None:
            text += f"; T(1) = {fmt_num(head['t1_s'])} s ({head.get('t1_reference')})"
    elif head.get("not_timed"):
        text = f"{mode} N={n}: {fmt_num(_num(head.get('t_best_s')) or math.nan)} s; no speed-up"
    else:
        text = f"{mode}: fastest N={n} at {fmt_num(_num(head.get('t_best_s')) or math.nan)} s; no speed-up (no T(1))"
    parts.append(text)
    parts += list(head.get("not_timed") or [])
    tput = _num(head.get("throughput"))
    if tput is not None:
        fps = _num(head.get("fps"))
        parts.append(f"throughput {fmt_num(tput)} {head.get('throughput_unit')}" + (f", {fmt_num(fps)} fps" if fps else "")
                     + f" at N={n} (work / median time)")
    if head.get("valid") is False:
        parts.append("INVALID point (" + ("; ".join(head.get("invalid_reasons") or []) or "see the validity notes") + ")")
    if "verified" in head:
        parts.append("output verified" if head["verified"] else "output FAILED verification")
    return " — ".join(parts)


def amdahl_meaningful(amdahl: Mapping[str, Any] | None) -> bool:
    """A fit worth drawing: both terms present and the parallel part b positive."""
    if not amdahl:
        return False
    a, b = _num(amdahl.get("a")), _num(amdahl.get("b"))
    return a is not None and b is not None and b > 0


def median_run(runs: Sequence[Run], mode: str | None, workers: int | None) -> Run | None:
    """The measured run with the median T_e2e (lower median) at (mode, workers)."""
    pool = [
        r
        for r in measured_runs(runs)
        if (mode is None or r.get("mode") == mode)
        and (workers is None or int(r.get("workers") or 0) == workers)
        and _num(r.get("t_e2e_s")) is not None
    ]
    if not pool:
        return None
    pool.sort(key=lambda r: (float(r["t_e2e_s"]), str(r.get("run_id"))))
    return pool[(len(pool) - 1) // 2]


def timeline_run(runs: Sequence[Run], summary: Sequence[Row]) -> Run | None:
    """The median run of the largest N, in the first scaled mode (or any mode)."""
    modes = scaled_modes(summary) or sorted({str(r.get("mode")) for r in runs})
    for mode in modes:
        candidates = [r for r in measured_runs(runs) if r.get("mode") == mode and _has_timestamps(r)]
        if candidates:
            largest = max(int(r.get("workers") or 0) for r in candidates)
            return median_run(candidates, mode, largest)
    return None


def _has_timestamps(run: Run) -> bool:
    results = run.get("results") or []
    return bool(results) and all(
        _num(r.get("t_start_ns")) is not None and _num(r.get("t_end_ns")) is not None for r in results
    )


def pi_accuracy(runs: Sequence[Run]) -> dict[str, Any] | None:
    """Pooled π accuracy over the measured runs' results (metrics.pi_accuracy), or None."""
    inside = samples = 0
    for run in measured_runs(runs):
        for result in run.get("results") or []:
            i, s = result.get("inside"), result.get("samples")
            if isinstance(i, int) and isinstance(s, int) and not isinstance(i, bool):
                inside += i
                samples += s
    if samples <= 0:
        return None
    accuracy = dict(metrics.pi_accuracy(inside, samples))
    accuracy.update(inside=inside, samples=samples)
    return accuracy


def frames_per_second(runs: Sequence[Run], mode: str, workers: int) -> float | None:
    """Transcode: output frames over the point's median time (metrics.point_throughput, work = frames),
    the same median T(N) the table shows."""
    frames: list[float] = []
    times: list[float] = []
    for run in measured_runs(runs):
        if run.get("mode") != mode or int(run.get("workers") or 0) != workers:
            continue
        t = _num(run.get("t_e2e_s"))
        counts = [_num(r.get("frames_out")) for r in run.get("results") or []]
        if t is None or not counts or any(c is None for c in counts):
            continue
        frames.append(sum(c for c in counts if c is not None))
        times.append(t)
    return metrics.point_throughput(frames, times)


def conditions_text(conditions: Mapping[str, Any]) -> str:
    """The run's conditions in one sentence, as the user gave them; no sensor can tell them."""
    cooling, ambient = conditions.get("cooling"), conditions.get("ambient_c")
    given = ([f"cooling: {cooling}"] if cooling else []) + ([f"ambient {ambient:g} °C"] if ambient is not None else [])
    missing = ([] if cooling else ["-e lab_cooling='heatsink + fan'"]) + (
        [] if ambient is not None else ["-e lab_ambient_c=22"])
    text = ("Conditions, as given: " + ", ".join(given) + "." if given else "Cooling and ambient temperature: not given.")
    return text + (f" Give them with {' '.join(missing)} (they are part of what reproducing a figure needs)."
                   if missing else "")


def node_value(node: Mapping[str, Any], key: str, when: str | None = None) -> Any:
    """A node field, flat (`key`, `key_before`) or nested under `before`/`after`."""
    if when:
        nested = node.get(when)
        if isinstance(nested, Mapping) and key in nested:
            return nested[key]
        return node.get(f"{key}_{when}")
    return node.get(key)


def _throttle_flags(value: Any) -> tuple[bool, bool]:
    """(throttled now, has occurred) from a parsed throttle dict or a raw integer."""
    if isinstance(value, Mapping):
        return bool(value.get("throttled_now")), bool(value.get("occurred_any") or value.get("has_occurred"))
    if isinstance(value, int) and not isinstance(value, bool):
        return bool(value & 0xF), bool(value & 0xF0000)
    return False, False


def validity_notes(
    workload: str,
    runs: Sequence[Run],
    analysis: Mapping[str, Any],
    context: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> list[str]:
    """analyse()'s warnings plus the report's own notes, each saying what to do about it."""
    partial = partial_note(extra)
    notes = ([partial] if partial else []) + [str(w) for w in analysis.get("warnings") or []]
    summary = analysis.get("summary") or []
    by_id = {str(r.get("run_id")): r for r in runs}
    for run_id in analysis.get("outliers") or []:
        run = by_id.get(str(run_id), {})
        notes.append(
            f"Run {run_id} (N={run.get('workers')}, repetition {run.get('repetition')}) is an outlier "
            "(modified z-score above 3.5): kept in the median, not dropped; check what else ran on the nodes then."
        )
    throttled = [r for r in runs if r.get("throttled")]
    if throttled:
        ids = ", ".join(str(r.get("run_id")) for r in throttled[:6]) + (" …" if len(throttled) > 6 else "")
        notes.append(
            f"{plural(len(throttled), 'run')} ran while a node throttled (vcgencmd get_throttled bits 0–3): {ids}. "
            "They are marked invalid; fix the power supply (under-voltage) or cooling and rerun."
        )
    for node in context.get("nodes") or []:
        if not isinstance(node, Mapping):
            continue
        name = node.get("hostname") or node.get("name") or "a node"
        for when in ("before", "after", None):
            now, occurred = _throttle_flags(node_value(node, "throttled", when))
            where = f" {when} the experiment" if when else ""
            if now:
                notes.append(f"Node {name} was throttling{where} (under-voltage, frequency cap or temperature limit): "
                             "check its power supply and cooling.")
            elif occurred:
                notes.append(f"Node {name} has throttled since boot{where} (vcgencmd sticky bits): "
                             "earlier runs on it may have been slowed; check power and cooling.")
    over = sorted({int(r.get("workers") or 0) for r in summary if r.get("oversubscribed")})
    if over:
        cores = [_num(n.get("cores")) for n in context.get("nodes") or [] if isinstance(n, Mapping)]
        # one node (the embedded default): name its cores; on a cluster the planner decides per node
        total = int(cores[0]) if len(cores) == 1 and cores[0] else None
        variable = "pi_workers" if workload == "pi" else "transcode_workers"
        notes.append(
            f"N = {', '.join(map(str, over))} ran more workers than the "
            + (f"{plural(total, 'core')} available" if total else "cores available")
            + ": those points measure contention, not scaling (labelled “oversubscribed” in the charts); "
            f"keep {variable} at or below the cores, or add nodes."
        )
    for mode in scaled_modes(summary):
        rows = [r for r in rows_for(summary, mode) if _num(r.get("t_median_s")) is not None]  # timed points only
        if rows and all(_num(r.get("speedup")) is None for r in rows):
            notes.append(
                f"No {mode} speed-up: the runs have no N=1 reference"
                + (" or baseline" if mode == "strong" else "")
                + ". Times are shown alone; add 1 to the worker counts to get speed-up and efficiency."
            )
    if workload == "pi":
        accuracy = pi_accuracy(runs)
        if accuracy and _num(accuracy.get("z")) is not None and accuracy["z"] > 4:
            notes.append(
                f"The pooled π estimate is {accuracy['z']:.1f} standard errors from π: more than sampling "
                "noise explains; check the worker kernel and the seeds."
            )
    verification = extra.get("verification")
    if isinstance(verification, Mapping) and verification.get("passed") is False:
        notes.append("The transcoded output FAILED verification against the source: do not use it; see Verification.")
    return list(dict.fromkeys(notes))


def throttle_was_read(context: Mapping[str, Any]) -> bool:
    """Did any node give a `vcgencmd get_throttled` reading (before, after or flat)?"""
    for node in context.get("nodes") or []:
        if isinstance(node, Mapping) and any(node_value(node, "throttled", when) is not None
                                             for when in ("before", "after", None)):
            return True
    return False


def checks_without_warning(runs: Sequence[Run], summary: Sequence[Row], context: Mapping[str, Any]) -> list[str]:
    """What the report checked and found clean, each only as far as the data can say it:
    throttling only where vcgencmd gave a reading, outliers only with 3 runs at a point,
    spread only with 2 (a point that ran once has no spread)."""
    checks = []
    if throttle_was_read(context):
        checks.append("no node throttled (vcgencmd get_throttled before and after)")
    else:
        checks.append("throttling not checked: no node gave a vcgencmd get_throttled reading (not a Raspberry Pi?)")
    cores_known = any(isinstance(n, Mapping) and _num(n.get("cores")) for n in context.get("nodes") or [])
    if not cores_known:
        checks.append("oversubscription not checked: no node's cores are known")
    elif not any(r.get("oversubscribed") for r in runs):
        checks.append("no point ran more workers than cores")
    timed = [r for r in summary if int(r.get("runs") or 0) > 0 and r.get("mode") != "legacy"]
    once = [r for r in timed if int(r.get("runs") or 0) < 2]
    if timed and not once:
        checks.append("spread within 10 % at every point (coefficient of variation of the repeated runs)")
    elif once:
        names = ", ".join(f"{r.get('mode')} N={r.get('workers')}" for r in once)
        checks.append(f"spread unknown: {names} ran once, so nothing says how much the time varies; "
                      "run more repetitions to know")
    if timed and all(int(r.get("runs") or 0) >= 3 for r in timed):
        checks.append("no outliers (modified z-score)")
    elif timed:
        checks.append("outliers not checked where a point has fewer than 3 runs")
    return checks


# The segments table of a transcode (which node and pod made each, with the pod's phases on k3s).
SEGMENT_COLUMNS = (("index", "#"), ("segment", "segment"), ("span", "source span, s"), ("host", "node / host"),
                   ("slot", "slot"), ("pod", "pod"), ("attempt", "attempt"), ("frames_out", "frames"),
                   ("compute_s", "compute, s"), ("scheduling_s", "scheduling, s"), ("start_s", "start, s"),
                   ("runtime_start_s", "runtime start, s"), ("exit_s", "exit, s"))
# What a resumed segment still shows: the file it is and where it lies in the source; the
# rest (node, pod, timings) belongs to the earlier run that made it, and its node column says so.
SEGMENT_FACTS = ("index", "segment", "span")
# The leading columns that name things rather than measure them (left-aligned in the page).
SEGMENT_NAMES = ("index", "segment", "span", "host")


def segment_run(runs: Sequence[Run]) -> Run | None:
    """The transcode run whose segments the report lists: the strong run (a transcode records
    one; the baseline is a single plain ffmpeg, not segments)."""
    return next((r for r in runs if r.get("workload") == "transcode" and r.get("mode") == "strong"), None)


def _index_of(result: Mapping[str, Any]) -> int | None:
    index = result.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def video_seconds(context: Mapping[str, Any]) -> float | None:
    """The source video's duration (context.source.video.duration_s), where the last segment ends."""
    source = context.get("source")
    video = source.get("video") if isinstance(source, Mapping) else None
    return _num(video.get("duration_s")) if isinstance(video, Mapping) else None


def source_spans(results: Sequence[Mapping[str, Any]],
                 video_s: float | None) -> dict[int, tuple[float, float | None]]:
    """Where each segment lies in the source, in seconds from the video's first frame.

    The record has no plan, but the segments tile the video in index order, so each starts
    where the ones before it end (the sum of their media_s). The worker reports no media_s
    for the last one (it runs to the end of its chunk): it ends with the video, when the
    source's duration is known, else the end is None. Empty unless the indices are exactly
    0..n-1 and every segment but the last has its media_s: nothing is guessed."""
    ordered = sorted(results, key=lambda r: _index_of(r) if _index_of(r) is not None else -1)
    if not ordered or [_index_of(r) for r in ordered] != list(range(len(ordered))):
        return {}
    spans: dict[int, tuple[float, float | None]] = {}
    start = 0.0
    for position, result in enumerate(ordered):
        length = _num(result.get("media_s"))
        if length is None and position < len(ordered) - 1:
            return {}
        end = start + length if length is not None else video_s
        spans[position] = (start, end)
        start = end if end is not None else start
    return spans


def span_text(span: tuple[float, float | None] | None) -> str | None:
    """A span as the table shows it: 4–6, or 4–end when the end is not known."""
    if span is None:
        return None
    start, end = span
    return f"{fmt_num(start, 4)}–{fmt_num(end, 4) if end is not None else 'end'}"


def segment_rows(runs: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None
                 ) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """The transcode run's segments, by index, and the columns that have a value in some row
    (pods and phases only on k3s); a resumed segment says "resumed" in its node column and
    leaves out what the earlier run that made it did."""
    results = sorted((segment_run(runs) or {}).get("results") or [],
                     key=lambda r: (_index_of(r) is None, _index_of(r) or 0))
    if not results:
        return [], []
    spans = source_spans(results, video_seconds(context or {}))
    facts = [dict(r, span=span_text(spans.get(_index_of(r) or 0) if spans else None)) for r in results]
    always = {"index", "segment", "host"} | ({"span"} if spans else set())
    columns = [(key, label) for key, label in SEGMENT_COLUMNS
               if key in always or any(r.get(key) is not None for r in facts if not r.get("resumed"))]
    rows = [{key: r.get(key) for key, _ in columns} if not r.get("resumed") else
            {key: r.get(key) if key in SEGMENT_FACTS else ("resumed" if key == "host" else None) for key, _ in columns}
            for r in facts]
    for row, result in zip(rows, facts):
        row["resumed"] = bool(result.get("resumed"))  # not a column: how the page greys the row
    return columns, rows


def resumed_indices(run: Run) -> list[int]:
    """The indices of the segments an earlier run made (not encoded, not timed now)."""
    return sorted(i for i in (_index_of(r) for r in run.get("results") or [] if r.get("resumed")) if i is not None)


def without_resumed(run: Run) -> dict[str, Any]:
    """The run with only the segments it encoded itself (what its charts can place in time)."""
    return dict(run, results=[r for r in run.get("results") or [] if not r.get("resumed")])
