"""The metrics of DESIGN §4, each defined once, and analyse() over run records.

Every formula is a small pure function; analyse() only groups runs, picks the
reference and calls them. Results are plain floats/ints/None/bool so that they
serialise to JSON and CSV unchanged.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import stats

MODE_ORDER = {"baseline": 0, "strong": 1, "weak": 2, "legacy": 3}
CV_WARNING_THRESHOLD = 0.10
# Drift (DESIGN §12): time against the execution order, from this many measured runs, flagged when
# Spearman's permutation p is below DRIFT_P and the fitted change over the run is at least DRIFT_MIN_CHANGE.
DRIFT_MIN_RUNS = 4
DRIFT_P = 0.01
DRIFT_MIN_CHANGE = 0.01
DRIFT_PERMUTATIONS = 2000
# DESIGN §5: the summary fields other tools read, then the extra ones, in row order.
STABLE_SUMMARY_FIELDS = (
    "workload", "mode", "workers", "runs", "t_median_s", "t_mad_s", "t_min_s", "t_max_s",
    "speedup", "speedup_ci_low", "speedup_ci_high", "efficiency", "karp_flatt",
    "load_balance", "throughput", "valid",
)
SUMMARY_FIELDS = STABLE_SUMMARY_FIELDS + (
    "t_span_median_s", "overhead_share", "cv", "outliers", "oversubscribed", "speedup_reference",
    "invalid_reasons", "resumed_runs", "drift",
)
BOOTSTRAP_SEED = 0
AMDAHL_PARAMETERS = 2  # a and b: a fit through this many points is exact
BASELINE_DESCRIPTION = {
    "transcode": "one plain ffmpeg process",
    "pi": "one plain single-process run",
}

Run = Mapping[str, Any]
Row = dict[str, Any]


# --- §4 formulas -----------------------------------------------------------


def speedup(t_reference: float | None, t_n: float | None) -> float | None:
    """Strong-scaling speed-up S(N) = T(1) / T(N); None when either time is missing or T(N) <= 0."""
    if t_reference is None or t_n is None or t_n <= 0:
        return None
    return t_reference / t_n


def efficiency(speedup_value: float | None, workers: int) -> float | None:
    """Parallel efficiency E = S / N."""
    if speedup_value is None or workers <= 0:
        return None
    return speedup_value / workers


def karp_flatt(speedup_value: float | None, workers: int) -> float | None:
    """Karp–Flatt experimentally determined serial fraction e = (1/S − 1/N) / (1 − 1/N), N > 1 only."""
    if speedup_value is None or speedup_value <= 0 or workers <= 1:
        return None
    return (1 / speedup_value - 1 / workers) / (1 - 1 / workers)


def amdahl_fit(ns: Sequence[int], times: Sequence[float]) -> dict[str, Any] | None:
    """Least-squares fit of T(N) = a + b/N.

    Linear regression of T on x = 1/N. a is the time no number of workers
    removes, b the perfectly divisible part, so f = a/(a+b) is the serial
    fraction and S_max = 1/f the speed-up limit. f and S_max are returned raw
    (f may be negative when noise makes a < 0; S_max is then None); callers
    decide how to present that. None with fewer than 2 distinct N. r_squared is
    None unless there are more points than the model's two parameters: through
    two points the line is exact, and R² = 1 says nothing about the model.
    """
    if len(ns) != len(times):
        raise ValueError("amdahl_fit needs one time per N")
    if len(set(ns)) < 2:
        return None
    xs = [1 / n for n in ns]
    x_mean = statistics.fmean(xs)
    y_mean = statistics.fmean(times)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    sxy = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, times))
    b = sxy / sxx
    a = y_mean - b * x_mean
    total = a + b  # the fitted T(1)
    serial_fraction = a / total if total > 0 else None
    s_max = 1 / serial_fraction if serial_fraction is not None and serial_fraction > 0 else None
    ss_tot = sum((y - y_mean) ** 2 for y in times)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, times))
    r_squared = 1 - ss_res / ss_tot if ss_tot > 0 and len(ns) > AMDAHL_PARAMETERS else None
    return {
        "a": a,
        "b": b,
        "serial_fraction": serial_fraction,
        "s_max": s_max,
        "r_squared": r_squared,
    }


def amdahl_time(a: float, b: float, workers: float) -> float:
    """The fitted model's time at N workers: a + b/N (for drawing the fit line)."""
    return a + b / workers


def weak_efficiency(t_1: float | None, t_n: float | None) -> float | None:
    """Weak-scaling efficiency E_w = T(1, W1) / T(N, N·W1)."""
    return speedup(t_1, t_n)  # the same ratio of times; the work differs by design


def scaled_speedup(workers: int, weak_efficiency_value: float | None) -> float | None:
    """Gustafson scaled speed-up S_s = N · E_w."""
    if weak_efficiency_value is None:
        return None
    return workers * weak_efficiency_value


def load_balance(compute_times: Sequence[float]) -> float | None:
    """LB = mean(t_i) / max(t_i): 1.0 when every worker computed equally long."""
    if not compute_times:
        return None
    longest = max(compute_times)
    if longest <= 0:
        return None
    return statistics.fmean(compute_times) / longest


def overhead_share(t_e2e: float | None, compute_times: Sequence[float]) -> float | None:
    """(T_e2e − max t_i) / T_e2e: the part of the makespan not spent computing."""
    if t_e2e is None or t_e2e <= 0 or not compute_times:
        return None
    return (t_e2e - max(compute_times)) / t_e2e


def throughput(total_work: float | None, total_time: float | None) -> float | None:
    """Work over time. For a point: W / T(N), T(N) the median time the table shows beside it
    (point_throughput); never a mean of per-run rates."""
    if total_work is None or total_time is None or total_time <= 0:
        return None
    return total_work / total_time


def pi_accuracy(inside: int, samples: int) -> dict[str, float | None]:
    """π̂ = 4·inside/samples against the Monte Carlo standard error 4·√(p(1−p)/n), p = π/4.

    z = |π̂ − π| / standard error: |z| around 1 is what sampling noise gives,
    |z| > 3 points at a broken generator or kernel.
    """
    if samples <= 0:
        raise ValueError(f"samples must be positive, got {samples}")
    estimate = 4 * inside / samples
    p = math.pi / 4
    standard_error = 4 * math.sqrt(p * (1 - p) / samples)
    abs_error = abs(estimate - math.pi)
    return {
        "estimate": estimate,
        "abs_error": abs_error,
        "standard_error": standard_error,
        "z": abs_error / standard_error,
    }


def throughput_vs_reference(workers: int, t_reference: float | None, t_n: float | None) -> float | None:
    """N·T_ref / T(N): throughput of N workers that each did the reference's full work.

    The cluster finished N× the reference's work in T(N); the reference would
    need N·T_ref for it. This is the figure seed 001 reads backwards.
    """
    if t_reference is None or t_n is None or t_n <= 0:
        return None
    return workers * t_reference / t_n


def point_throughput(works: Sequence[float], times: Sequence[float]) -> float | None:
    """A point's throughput: median work over median time, i.e. W / T(N) with the same median
    T(N) the report shows (the work of a point's runs is the same; the median guards a stray one)."""
    if not works or not times:
        return None
    return throughput(stats.median(works), stats.median(times))


# --- per-run figures ---------------------------------------------------------


def run_compute_times(run: Run) -> list[float]:
    """compute_s of every worker result of a run that has one (one per work item)."""
    return [float(r["compute_s"]) for r in run.get("results") or [] if r.get("compute_s") is not None]


def slot_of(result: Mapping[str, Any]) -> tuple[str, str]:
    """The worker slot a result ran in: (node, slot) when the backend recorded one (a transcode
    slot runs several segments one after another), else its worker index (one result per worker)."""
    if result.get("slot") is not None:
        return str(result.get("node")), f"slot {result['slot']}"
    return str(result.get("node")), f"index {result.get('index')}"


def slot_busy_times(run: Run) -> dict[tuple[str, str], float]:
    """Each worker slot's busy time: the sum of compute_s of the items it ran, by slot_of()."""
    busy: dict[tuple[str, str], float] = {}
    for result in run.get("results") or []:
        if result.get("compute_s") is not None:
            key = slot_of(result)
            busy[key] = busy.get(key, 0.0) + float(result["compute_s"])
    return busy


def worker_busy_times(run: Run) -> list[float]:
    """t_i of DESIGN §4 (a worker is a slot): the busy time of every slot of the run."""
    return list(slot_busy_times(run).values())


def resumed_results(run: Run) -> int:
    """How many of a run's results were made by an earlier run (a resumed transcode segment)."""
    return sum(1 for r in run.get("results") or [] if r.get("resumed"))


def is_timing(run: Run) -> bool:
    """Does the run's time measure its work? Not the warm-up, not a run that recorded no time,
    and not a run that resumed items an earlier run made (its time covers only what was left)."""
    return not run.get("warmup", False) and run.get("t_e2e_s") is not None and resumed_results(run) == 0


def timed_runs(runs: Iterable[Run]) -> list[Run]:
    """The runs every figure is computed from (is_timing)."""
    return [r for r in runs if is_timing(r)]


def invalid_reasons(run: Run) -> list[str]:
    """Why a run is invalid, in its own words: its recorded problems, and throttling only when
    vcgencmd said so (the record's `throttled` flag)."""
    reasons = []
    if run.get("throttled"):
        reasons.append("a node throttled during the run (vcgencmd get_throttled)")
    reasons += [str(p) for p in run.get("problems") or []]
    if not reasons and run.get("valid") is False:
        reasons.append("marked invalid by its backend (no reason recorded)")
    return reasons


def run_span_s(run: Run) -> float | None:
    """T_span = max(t_end_ns) − min(t_start_ns) over the run's results, in seconds."""
    results = [r for r in run.get("results") or [] if r.get("t_start_ns") is not None and r.get("t_end_ns") is not None]
    if not results:
        return None
    return (max(int(r["t_end_ns"]) for r in results) - min(int(r["t_start_ns"]) for r in results)) / 1e9


def drift(orders: Sequence[float], times: Sequence[float], *, seed: int = BOOTSTRAP_SEED,
          permutations: int = DRIFT_PERMUTATIONS, against: str = "order") -> dict[str, Any] | None:
    """Does time trend with the execution order? (DESIGN §12; the one definition.)

    The times are taken relative to their median (so that runs of several points can be pooled, each
    divided by its own point's median first). rho and p: Spearman's rank correlation of time with the
    order and its two-sided permutation p-value (stats.spearman_test, seeded: the same runs give the
    same p). slope_per_run: the Theil–Sen slope of the relative time per position in the execution
    order (0.008 = +0.8 % per run); change: that slope over the orders the runs span. Flagged when
    p < DRIFT_P (0.01) and |change| ≥ DRIFT_MIN_CHANGE (1 %: less changes no figure the report shows).
    None with fewer than DRIFT_MIN_RUNS runs or when the orders or times do not vary.

    against="temp_c": the same test with each run's mean node temperature (from the sampled
    timeline, labkit.telemetry) in place of the order: `slope_per_c` is the relative time per °C
    and `change` that over the temperatures the runs span (thermal creep)."""
    if len(orders) != len(times):
        raise ValueError("drift needs one order per time")
    if len(times) < DRIFT_MIN_RUNS:
        return None
    centre = stats.median(times)
    if centre <= 0:
        return None
    relative = [t / centre for t in times]
    tested = stats.spearman_test(orders, relative, permutations=permutations, seed=seed)
    slope = stats.theil_sen_slope(orders, relative)
    if tested is None or slope is None:
        return None
    rho, p = tested
    change = slope * (max(orders) - min(orders))
    return {"against": against, "runs": len(times), "rho": rho, "p": p,
            ("slope_per_run" if against == "order" else f"slope_per_{against.rsplit('_', 1)[-1]}"): slope,
            "change": change, "flagged": p < DRIFT_P and abs(change) >= DRIFT_MIN_CHANGE}


def _ordered(runs: Sequence[Run]) -> list[Run]:
    """The runs that know their place in the execution order."""
    return [r for r in runs if isinstance(r.get("order"), (int, float)) and not isinstance(r.get("order"), bool)]


def point_drift(runs: Sequence[Run], *, seed: int = BOOTSTRAP_SEED) -> dict[str, Any] | None:
    """drift() of one point's runs (already the measured ones)."""
    ordered = _ordered(runs)
    return drift([float(r["order"]) for r in ordered], _times(ordered), seed=seed)


def pooled_drift(groups: Sequence[Sequence[Run]], *, seed: int = BOOTSTRAP_SEED,
                 against: str = "order") -> dict[str, Any] | None:
    """drift() over every point's runs at once, each time divided by its own point's median first
    (points with a single run say nothing about a trend and are left out); against "order", or
    "temp_c" (the runs whose temperature is known)."""
    orders: list[float] = []
    relative: list[float] = []
    for runs in groups:
        ordered = _ordered(runs) if against == "order" else [
            r for r in runs if isinstance(r.get(against), (int, float)) and not isinstance(r.get(against), bool)]
        if len(ordered) < 2:
            continue
        centre = stats.median(_times(ordered))
        if centre <= 0:
            continue
        orders += [float(r[against]) for r in ordered]
        relative += [t / centre for t in _times(ordered)]
    return drift(orders, relative, seed=seed, against=against)


def drift_warning(label: str, found: Mapping[str, Any] | None) -> str | None:
    """A flagged drift in words, with its figures and what to do; None when not flagged."""
    if not found or not found.get("flagged"):
        return None
    if found.get("against") == "temp_c":
        slope, change = found["slope_per_c"], found["change"]
        rho = f"{found['rho']:.2f}".replace("-", "−")
        cause = ("the nodes slow down as they heat up (thermal creep): let them settle first (-e lab_settle=true) "
                 "or cool them" if slope > 0 else "runs on warmer nodes were faster: a warm-up, or load that ended")
        return (f"{label}: time drifts with the nodes' temperature: {_signed_percent(slope)} per °C (Spearman ρ = "
                f"{rho}, p = {found['p']:.2g} over {found['runs']} runs; {_signed_percent(change)} over the "
                f"temperatures they span, fitted): {cause}")
    slope, change = found["slope_per_run"], found["change"]
    cause = ("heat or background load built up during the experiment" if slope > 0 else
             "the machine got faster as it ran (a warm-up longer than one run, or load that ended)")
    rho = f"{found['rho']:.2f}".replace("-", "−")
    return (f"{label}: time drifts with run order: {_signed_percent(slope)} per run (Spearman ρ = {rho}, "
            f"p = {found['p']:.2g} over {found['runs']} runs; {_signed_percent(change)} over the run, fitted): "
            f"{cause}; let the machine settle or add repetitions")


def _signed_percent(fraction: float) -> str:
    """+0.8 %, −0.35 %, +12 %."""
    value = fraction * 100
    shown = f"{value:+.0f}" if abs(value) >= 10 else f"{value:+.2g}"
    return shown.replace("-", "−") + " %"


def _median_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return stats.median(present) if present else None


# --- analyse ---------------------------------------------------------------


def _measured(runs: Iterable[Run]) -> list[Run]:
    """Runs that count: the warm-up is kept in the data but excluded from every statistic,
    and so is a run that recorded no time (it failed before its last result) or resumed
    an earlier run's work (timed_runs)."""
    return timed_runs(runs)


def run_valid(run: Run) -> bool:
    return not run.get("throttled", False) and bool(run.get("valid", True))


def _times(runs: Sequence[Run]) -> list[float]:
    return [float(r["t_e2e_s"]) for r in runs]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _reference_advice(workload: str, mode: str) -> str:
    """What to run so that the missing T(1) exists (the user-facing variables of DESIGN §5)."""
    if workload == "transcode":
        return "run again with transcode_baseline=true, or include 1 in transcode_workers"
    if workload == "pi":
        scaling = "strong" if mode == "strong" else "weak"
        return f"include 1 in pi_workers (with pi_scaling={scaling} or both) and run again"
    return "include 1 in the worker counts and run again"


def _strong_reference(workload: str, groups: Mapping[tuple[str, str, int], list[Run]]) -> tuple[list[float], str] | None:
    """Times and description of T(1) for strong scaling: the baseline if any, else strong N=1."""
    baseline_keys = sorted(k for k in groups if k[0] == workload and k[1] == "baseline")
    for key in baseline_keys:  # smallest N first; a baseline is one process
        measured = _measured(groups[key])
        if measured:
            what = BASELINE_DESCRIPTION.get(workload, "one plain process")
            return _times(measured), f"baseline ({what}), median of {_plural(len(measured), 'run')}"
    measured = _measured(groups.get((workload, "strong", 1), []))
    if measured:
        return _times(measured), f"strong N=1, median of {_plural(len(measured), 'run')}"
    return None


def _weak_reference(workload: str, groups: Mapping[tuple[str, str, int], list[Run]]) -> tuple[list[float], str] | None:
    measured = _measured(groups.get((workload, "weak", 1), []))
    if measured:
        return _times(measured), f"weak N=1 (same work per worker), median of {_plural(len(measured), 'run')}"
    return None


def _ratio_ci(
    reference_times: Sequence[float], point_times: Sequence[float], factor: float, resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """Bootstrap interval of factor · median(reference) / median(point), both sides resampled."""

    def scaled_ratio(reference: Sequence[float], point: Sequence[float]) -> float | None:
        ratio = stats.ratio_of_medians(reference, point)
        return None if ratio is None else factor * ratio

    interval = stats.bootstrap_ci([reference_times, point_times], scaled_ratio, resamples=resamples, seed=seed)
    return (None, None) if interval is None else interval


def _resumed_warning(label: str, workload: str, resumed: Sequence[Run]) -> str:
    what = "; ".join(dict.fromkeys(p for r in resumed for p in invalid_reasons(r))) or "resumed from an earlier run"
    again = ("remove its work folder (under transcode_work_dir) and run again" if workload == "transcode"
             else "run it again from the start")
    return (f"{label}: {_plural(len(resumed), 'run')} resumed work an earlier run had done ({what}); its time "
            f"covers only what was left, so it is not a timing and is left out of every figure; to time it, {again}")


def _point_row(key: tuple[str, str, int], runs: Sequence[Run]) -> tuple[Row, list[str], list[str]]:
    """The mode-independent part of a summary row, its outlier run_ids and warnings."""
    workload, mode, workers = key
    measured = _measured(runs)
    warnings: list[str] = []
    label = f"{workload} {mode} N={workers}"
    untimed = [r for r in runs if not r.get("warmup", False) and r.get("t_e2e_s") is None]
    resumed = [r for r in runs if not r.get("warmup", False) and r.get("t_e2e_s") is not None
               and resumed_results(r)]
    if untimed:
        warnings.append(
            f"{label}: {_plural(len(untimed), 'run')} recorded no time (failed?) and "
            f"{'is' if len(untimed) == 1 else 'are'} left out of the figures"
        )
    if resumed:
        warnings.append(_resumed_warning(label, workload, resumed))
    # A point is valid when every run it shows is; each invalid run says why in its own words.
    invalid = [r for r in measured if not run_valid(r)]
    reasons = list(dict.fromkeys(reason for r in invalid for reason in invalid_reasons(r)))
    if untimed:
        reasons.append(f"{_plural(len(untimed), 'run')} recorded no time")
    row: Row = {
        "workload": workload,
        "mode": mode,
        "workers": workers,
        "runs": len(measured),
        "t_median_s": None,
        "t_mad_s": None,
        "t_min_s": None,
        "t_max_s": None,
        "speedup": None,
        "speedup_ci_low": None,
        "speedup_ci_high": None,
        "efficiency": None,
        "karp_flatt": None,
        "load_balance": None,
        "throughput": None,
        "valid": not reasons,
        "t_span_median_s": None,
        "overhead_share": None,
        "cv": None,
        "outliers": 0,
        "oversubscribed": any(bool(r.get("oversubscribed", False)) for r in runs),
        "speedup_reference": None,
        "invalid_reasons": reasons,
        "resumed_runs": len(resumed),
        "drift": None,
    }
    if not measured:
        if not resumed:
            warnings.append(f"{label}: only warm-up runs, no measured repetition; run more repetitions")
        return row, [], warnings

    times = _times(measured)
    row.update(
        t_median_s=stats.median(times),
        t_mad_s=stats.mad(times),
        t_min_s=min(times),
        t_max_s=max(times),
        cv=stats.coefficient_of_variation(times),
        t_span_median_s=_median_or_none(run_span_s(r) for r in measured),
        # DESIGN §4: a worker is a slot; its t_i is the sum of the items it ran
        load_balance=_median_or_none(load_balance(worker_busy_times(r)) for r in measured),
        overhead_share=_median_or_none(
            overhead_share(float(r["t_e2e_s"]), worker_busy_times(r)) for r in measured
        ),
    )
    works = [r.get("work") for r in measured]
    if all(w is not None for w in works):
        row["throughput"] = point_throughput([float(w) for w in works], times)

    row["drift"] = point_drift(measured)
    drifting = drift_warning(label, row["drift"])
    if drifting:
        warnings.append(drifting)
    outlier_ids = [str(measured[i].get("run_id")) for i in stats.outlier_indices(times)]
    row["outliers"] = len(outlier_ids)
    if row["cv"] is not None and row["cv"] > CV_WARNING_THRESHOLD:
        how = "raise pi_repetitions" if workload == "pi" else "run more repetitions"
        warnings.append(
            f"{label}: times vary by {row['cv']:.0%} (coefficient of variation above "
            f"{CV_WARNING_THRESHOLD:.0%}); {how} or use a quieter machine"
        )
    for run in invalid:
        warnings.append(f"{label}: run {run.get('run_id')} is invalid: {'; '.join(invalid_reasons(run))}; "
                        "its figures are shown both ways")
    if row["oversubscribed"]:
        warnings.append(f"{label}: more workers than cores available (oversubscribed)")
    return row, outlier_ids, warnings


def _fit_amdahl(workload: str, strong_rows: Sequence[Row]) -> tuple[dict[str, Any] | None, list[str]]:
    timed = [r for r in strong_rows if r["t_median_s"] is not None]
    # Amdahl's model assumes N real processors: an oversubscribed N measures the
    # scheduler and would inflate a, so it is left out while 2 distinct N remain.
    fitted = [r for r in timed if not r["oversubscribed"]]
    if len({r["workers"] for r in fitted}) < 2:
        fitted = timed
    excluded = [r["workers"] for r in timed if r not in fitted]
    fit = amdahl_fit([r["workers"] for r in fitted], [r["t_median_s"] for r in fitted])
    if fit is None:
        return None, []
    warnings: list[str] = []
    result = {
        "workload": workload,
        **fit,
        "points": [[r["workers"], r["t_median_s"]] for r in fitted],
        "excluded_oversubscribed": excluded,
    }
    if excluded:
        warnings.append(
            f"{workload} Amdahl fit: oversubscribed N = {', '.join(map(str, excluded))} left out of the fit "
            "(more workers than cores)"
        )
    if fit["a"] < 0:
        # Noise (or superlinear cache effects) can push the intercept below 0;
        # a negative serial fraction means nothing, so f is shown as 0, no limit.
        result["serial_fraction"] = 0.0
        result["s_max"] = None
        warnings.append(
            f"{workload} Amdahl fit: negative serial time a = {fit['a']:.4g} s (noise or superlinear "
            "effects); serial fraction shown as 0 and no speed-up limit"
        )
    elif fit["b"] <= 0:
        warnings.append(
            f"{workload} Amdahl fit: time does not fall with N (b = {fit['b']:.4g} s); "
            "adding workers did not help"
        )
    return result, warnings


def analyse(
    runs: Sequence[Run],
    *,
    bootstrap_resamples: int = 2000,
    seed: int = BOOTSTRAP_SEED,
    only_valid: bool = False,
) -> dict[str, Any]:
    """Summarise run records (docs/ARCHITECTURE.md) into rows, an Amdahl fit and warnings.

    Returns {"summary": [row...], "amdahl": {...} | None, "amdahl_by_workload":
    {workload: fit}, "warnings": [str...], "outliers": [run_id...], "drift": {...} | None}.
    "amdahl" is the fit of the first workload (a report covers one workload); "drift" is
    pooled_drift() over every point (each row has its own point's drift()).

    Throttled or invalid runs count by default (their rows say valid=False);
    only_valid=True leaves them out, so a report can show the figures both ways.
    """
    groups: dict[tuple[str, str, int], list[Run]] = {}
    for run in runs:
        if only_valid and not run_valid(run):
            continue
        key = (str(run["workload"]), str(run["mode"]), int(run["workers"]))
        groups.setdefault(key, []).append(run)

    summary: list[Row] = []
    warnings: list[str] = []
    outliers: list[str] = []
    ordered = sorted(groups, key=lambda k: (k[0], MODE_ORDER.get(k[1], len(MODE_ORDER)), k[1], k[2]))
    workloads = sorted({k[0] for k in groups})
    strong_ref = {w: _strong_reference(w, groups) for w in workloads}
    weak_ref = {w: _weak_reference(w, groups) for w in workloads}
    missing_reference_warned: set[tuple[str, str]] = set()

    for key in ordered:
        workload, mode, workers = key
        row, point_outliers, point_warnings = _point_row(key, groups[key])
        warnings.extend(point_warnings)
        outliers.extend(point_outliers)
        summary.append(row)
        if row["t_median_s"] is None or mode not in ("strong", "weak"):
            # Baselines are the reference, not a scaled point; legacy pods each
            # did the full work (see the legacy block), so no S(N) either.
            continue
        reference = strong_ref[workload] if mode == "strong" else weak_ref[workload]
        if reference is None:
            if (workload, mode) not in missing_reference_warned:
                missing_reference_warned.add((workload, mode))
                what = "baseline runs or strong runs at N=1" if mode == "strong" else "weak runs at N=1"
                warnings.append(
                    f"{workload} {mode}: no reference time T(1) ({what} missing), so speed-up, efficiency "
                    f"and their interval are empty; {_reference_advice(workload, mode)}"
                )
            continue
        reference_times, description = reference
        ratio = speedup(stats.median(reference_times), row["t_median_s"])
        factor = float(workers) if mode == "weak" else 1.0
        point_times = _times(_measured(groups[key]))
        low, high = _ratio_ci(reference_times, point_times, factor, bootstrap_resamples, seed)
        if mode == "strong":
            row["speedup"] = ratio
            row["efficiency"] = efficiency(ratio, workers)
            row["karp_flatt"] = karp_flatt(ratio, workers)
        else:
            row["efficiency"] = weak_efficiency(stats.median(reference_times), row["t_median_s"])
            row["speedup"] = scaled_speedup(workers, row["efficiency"])
        row["speedup_ci_low"], row["speedup_ci_high"] = low, high
        row["speedup_reference"] = description

    overall = pooled_drift([_measured(groups[key]) for key in ordered], seed=seed)
    overall_warning = drift_warning("all points (each run against its point's median)", overall)
    if overall_warning:
        warnings.append(overall_warning)
    # Against the nodes' temperature, where the timeline gave each run one (labkit.telemetry).
    thermal = pooled_drift([_measured(groups[key]) for key in ordered], seed=seed, against="temp_c")
    thermal_warning = drift_warning("all points (each run against its point's median)", thermal)
    if thermal_warning:
        warnings.append(thermal_warning)

    amdahl_by_workload: dict[str, Any] = {}
    for workload in workloads:
        strong_rows = [r for r in summary if r["workload"] == workload and r["mode"] == "strong"]
        fit, fit_warnings = _fit_amdahl(workload, strong_rows)
        warnings.extend(fit_warnings)
        if fit is not None:
            amdahl_by_workload[workload] = fit

    return {
        "summary": summary,
        "amdahl": next(iter(amdahl_by_workload.values()), None),
        "amdahl_by_workload": amdahl_by_workload,
        "warnings": warnings,
        "outliers": outliers,
        "drift": overall,
        "drift_temperature": thermal,
    }
