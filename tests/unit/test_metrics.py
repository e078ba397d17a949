"""labkit.metrics: the §4 formulas and analyse() against hand-computed values."""
from __future__ import annotations

import json
import math

import pytest

from labkit import metrics


# --- formulas ----------------------------------------------------------------


def test_speedup_efficiency():
    # S = 10 / 2.5 = 4 ; E = 4 / 5 = 0.8
    assert metrics.speedup(10.0, 2.5) == 4.0
    assert metrics.efficiency(4.0, 5) == 0.8
    assert metrics.speedup(None, 2.5) is None
    assert metrics.speedup(10.0, 0.0) is None


def test_karp_flatt_hand_value():
    # S = 3 at N = 4: (1/3 - 1/4) / (1 - 1/4) = (1/12) / (3/4) = 1/9
    assert metrics.karp_flatt(3.0, 4) == pytest.approx(1 / 9)
    # perfectly linear: (1/2 - 1/2) / ... = 0
    assert metrics.karp_flatt(2.0, 2) == pytest.approx(0.0)
    assert metrics.karp_flatt(1.0, 1) is None  # undefined at N = 1


def test_amdahl_fit_exact_recovers_serial_fraction():
    # T(N) = 2 + 8/N: T(1)=10, T(2)=6, T(4)=4, T(8)=3 -> f = 2/(2+8) = 0.2, S_max = 5
    fit = metrics.amdahl_fit([1, 2, 4, 8], [10.0, 6.0, 4.0, 3.0])
    assert fit is not None
    assert fit["a"] == pytest.approx(2.0)
    assert fit["b"] == pytest.approx(8.0)
    assert fit["serial_fraction"] == pytest.approx(0.2)
    assert fit["s_max"] == pytest.approx(5.0)
    assert fit["r_squared"] == pytest.approx(1.0)


def test_amdahl_fit_with_noise():
    # the same model with +-0.05 s noise: 10.05, 5.95, 4.02, 2.98
    # x = 1/N = 1, .5, .25, .125 ; mean x = 0.46875 ; mean T = 23/4 = 5.75
    # Sxx = .28223+.00098+.04785+.11816 = .449219 ; Sxy = 2.284375+.00625+.378438+.952188 = 3.62125
    # b = 3.62125/.449219 = 8.06122 ; a = 5.75 - 8.06122*.46875 = 1.97130 ; f = 1.97130/10.03252 = 0.19649
    fit = metrics.amdahl_fit([1, 2, 4, 8], [10.05, 5.95, 4.02, 2.98])
    assert fit is not None
    assert fit["b"] == pytest.approx(8.06122, abs=1e-4)
    assert fit["a"] == pytest.approx(1.97130, abs=1e-4)
    assert fit["serial_fraction"] == pytest.approx(0.19649, abs=1e-4)
    assert abs(fit["serial_fraction"] - 0.2) < 0.01


def test_amdahl_fit_needs_two_distinct_n():
    assert metrics.amdahl_fit([2, 2, 2], [5.0, 5.1, 4.9]) is None


def test_weak_scaling_figures():
    # T(1,W1) = 4, T(4,4W1) = 5 -> E_w = 0.8, S_s = 4 * 0.8 = 3.2
    e_w = metrics.weak_efficiency(4.0, 5.0)
    assert e_w == pytest.approx(0.8)
    assert metrics.scaled_speedup(4, e_w) == pytest.approx(3.2)


def test_load_balance_and_overhead_share():
    # mean(2,3,4) = 3, max 4 -> 0.75 ; (5 - 4)/5 = 0.2
    assert metrics.load_balance([2.0, 3.0, 4.0]) == pytest.approx(0.75)
    assert metrics.overhead_share(5.0, [2.0, 3.0, 4.0]) == pytest.approx(0.2)
    assert metrics.load_balance([]) is None


def test_throughput_is_total_over_total():
    # 2 runs: 100 units in 1 s and 100 units in 3 s -> 200/4 = 50, not mean(100, 33.3) = 66.7
    assert metrics.throughput(200, 4.0) == 50.0
    assert metrics.throughput(None, 4.0) is None


def test_pi_accuracy():
    # 785398 of 1e6 inside -> 4*0.785398 = 3.141592 ; |3.141592 - pi| = 6.5359e-7
    # p = pi/4 = 0.7853982 ; p(1-p) = 0.1685479 ; sqrt(/1e6) = 4.105458e-4 ; *4 = 1.642183e-3
    acc = metrics.pi_accuracy(785398, 1_000_000)
    assert acc["estimate"] == pytest.approx(3.141592)
    assert acc["abs_error"] == pytest.approx(6.5359e-7, rel=1e-4)
    assert acc["standard_error"] == pytest.approx(1.642183e-3, rel=1e-5)
    assert acc["z"] == pytest.approx(6.5359e-7 / 1.642183e-3, rel=1e-4)


def test_throughput_vs_reference_seed_001():
    # 3 Pis, each the reference's full work, slowest 5.7 s, reference 1.52 s: 3*1.52/5.7 = 0.8
    assert metrics.throughput_vs_reference(3, 1.52, 5.7) == pytest.approx(0.8)


# --- analyse -------------------------------------------------------------------


def run(workload, mode, workers, rep, t, *, warmup=False, work=None, results=None, **extra):
    return {
        "run_id": f"{workload}-{mode}-n{workers}-r{rep}",
        "workload": workload,
        "mode": mode,
        "workers": workers,
        "repetition": rep,
        "warmup": warmup,
        "order": 0,
        "work": work,
        "t_e2e_s": t,
        "oversubscribed": extra.get("oversubscribed", False),
        "throttled": extra.get("throttled", False),
        "valid": extra.get("valid", True),
        "results": results or [],
    }


def series(workload, mode, workers, times, warmup_time=None, **kw):
    runs = [run(workload, mode, workers, 0, warmup_time, warmup=True, **kw)] if warmup_time else []
    runs += [run(workload, mode, workers, i + 1, t, **kw) for i, t in enumerate(times)]
    return runs


def row_of(analysis, mode, workers, workload=None):
    rows = [r for r in analysis["summary"] if r["mode"] == mode and r["workers"] == workers]
    if workload:
        rows = [r for r in rows if r["workload"] == workload]
    assert len(rows) == 1
    return rows[0]


STABLE_FIELDS = [
    "workload", "mode", "workers", "runs", "t_median_s", "t_mad_s", "t_min_s", "t_max_s",
    "speedup", "speedup_ci_low", "speedup_ci_high", "efficiency", "karp_flatt",
    "load_balance", "throughput", "valid",
]
EXTRA_FIELDS = ["t_span_median_s", "overhead_share", "cv", "outliers", "oversubscribed", "speedup_reference",
                "invalid_reasons", "resumed_runs", "drift"]


def strong_pi_runs():
    return (
        series("pi", "strong", 1, [10.0, 10.2, 9.8], warmup_time=20.0, work=1000)
        + series("pi", "strong", 2, [5.0, 5.1, 4.9], warmup_time=30.0, work=1000)
        + series("pi", "strong", 4, [2.6, 2.5, 2.7], work=1000)
    )


def test_analyse_strong_excludes_warmup():
    analysis = metrics.analyse(strong_pi_runs())
    one = row_of(analysis, "strong", 1)
    # warm-up (20 s) excluded: median(10, 10.2, 9.8) = 10; with it, it would be 10.1
    assert one["runs"] == 3
    assert one["t_median_s"] == pytest.approx(10.0)
    assert one["t_min_s"] == 9.8 and one["t_max_s"] == 10.2
    assert one["t_mad_s"] == pytest.approx(0.2)  # |dev| 0, .2, .2
    four = row_of(analysis, "strong", 4)
    # S(4) = 10 / 2.6 = 3.84615 ; E = 0.96154 ; KF = (0.26 - 0.25)/0.75 = 0.013333
    assert four["speedup"] == pytest.approx(10 / 2.6)
    assert four["efficiency"] == pytest.approx(10 / 2.6 / 4)
    assert four["karp_flatt"] == pytest.approx(0.01 / 0.75)
    assert four["speedup_reference"] == "strong N=1, median of 3 runs"
    assert four["speedup_ci_low"] <= four["speedup"] <= four["speedup_ci_high"]
    two = row_of(analysis, "strong", 2)
    assert two["speedup"] == pytest.approx(2.0)
    # throughput: 3 runs x 1000 samples over 5.0+5.1+4.9 = 15 s -> 200/s
    assert two["throughput"] == pytest.approx(200.0)
    assert one["karp_flatt"] is None
    # Amdahl over the medians 10, 5, 2.6 at N = 1, 2, 4
    amdahl = analysis["amdahl"]
    assert amdahl is not None and amdahl["workload"] == "pi"
    assert amdahl["points"] == [[1, 10.0], [2, 5.0], [4, 2.6]]
    assert analysis["outliers"] == []


def test_analyse_rows_have_exact_fields_and_are_json():
    analysis = metrics.analyse(strong_pi_runs())
    for row in analysis["summary"]:
        assert list(row) == STABLE_FIELDS + EXTRA_FIELDS
    assert list(metrics.SUMMARY_FIELDS) == STABLE_FIELDS + EXTRA_FIELDS
    text = json.dumps(analysis, allow_nan=False)
    assert json.loads(text)["summary"][0]["workers"] == 1


def test_analyse_baseline_is_preferred_reference():
    runs = (
        series("transcode", "baseline", 1, [12.0, 12.5, 11.5], work=60.0)
        + series("transcode", "strong", 1, [13.0, 13.0, 13.0], work=60.0)
        + series("transcode", "strong", 2, [6.0, 6.2, 5.8], work=60.0)
    )
    analysis = metrics.analyse(runs)
    # rows sorted baseline before strong
    assert [(r["mode"], r["workers"]) for r in analysis["summary"]] == [
        ("baseline", 1), ("strong", 1), ("strong", 2)]
    base = row_of(analysis, "baseline", 1)
    assert base["speedup"] is None and base["efficiency"] is None
    two = row_of(analysis, "strong", 2)
    # baseline median 12 / 6 = 2.0 (strong N=1 would give 13/6 = 2.1667)
    assert two["speedup"] == pytest.approx(2.0)
    assert two["speedup_reference"] == "baseline (one plain ffmpeg process), median of 3 runs"
    assert row_of(analysis, "strong", 1)["speedup"] == pytest.approx(12 / 13)
    # 3 x 60 s of video in 18 s -> 10 s of video per second
    assert two["throughput"] == pytest.approx(10.0)


def test_analyse_without_reference_warns():
    runs = series("pi", "strong", 2, [5.0, 5.0]) + series("pi", "strong", 4, [3.0, 3.0])
    analysis = metrics.analyse(runs)
    for row in analysis["summary"]:
        assert row["speedup"] is None and row["efficiency"] is None and row["speedup_ci_low"] is None
    assert any("no reference" in w and "include 1 in pi_workers" in w for w in analysis["warnings"])
    transcode = metrics.analyse(series("transcode", "strong", 2, [5.0, 5.0]))
    assert any("transcode_baseline=true" in w for w in transcode["warnings"])
    # the fit still works with two distinct N: 5 = a + b/2, 3 = a + b/4 -> b = 8, a = 1
    assert analysis["amdahl"]["a"] == pytest.approx(1.0)
    assert analysis["amdahl"]["b"] == pytest.approx(8.0)


def test_analyse_weak_scaling():
    runs = (
        series("pi", "weak", 1, [4.0, 4.0, 4.0], work=1_000_000)
        + series("pi", "weak", 2, [4.4, 4.4, 4.4], work=2_000_000)
        + series("pi", "weak", 4, [5.0, 5.0, 5.0], work=4_000_000)
    )
    analysis = metrics.analyse(runs)
    four = row_of(analysis, "weak", 4)
    # E_w = 4/5 = 0.8 ; S_s = 4 * 0.8 = 3.2 ; constant times -> interval collapses to 3.2
    assert four["efficiency"] == pytest.approx(0.8)
    assert four["speedup"] == pytest.approx(3.2)
    assert four["speedup_ci_low"] == pytest.approx(3.2) and four["speedup_ci_high"] == pytest.approx(3.2)
    assert four["karp_flatt"] is None
    assert four["speedup_reference"].startswith("weak N=1")
    # 3 x 4e6 samples over 15 s = 8e5 samples/s
    assert four["throughput"] == pytest.approx(8e5)
    two = row_of(analysis, "weak", 2)
    # E_w = 4/4.4 = 0.90909 ; S_s = 1.81818
    assert two["speedup"] == pytest.approx(2 * 4 / 4.4)
    assert analysis["amdahl"] is None  # no strong points


def test_analyse_flags_outlier_and_high_cv_without_dropping():
    runs = series("pi", "strong", 1, [10.0, 10.0, 10.0]) + series("pi", "strong", 2, [5.0, 5.1, 4.9, 5.0, 9.0])
    analysis = metrics.analyse(runs)
    two = row_of(analysis, "strong", 2)
    # median 5.0 ; |dev| 0, .1, .1, 0, 4 -> MAD 0.1 ; z(9) = 0.6745*4/0.1 = 26.98 > 3.5
    assert two["outliers"] == 1
    assert analysis["outliers"] == ["pi-strong-n2-r5"]
    assert two["runs"] == 5 and two["t_max_s"] == 9.0  # kept
    # mean 5.8 ; stdev = sqrt((.64+.49+.81+.64+10.24)/4) = sqrt(3.205) = 1.79025 ; CV = 0.30866
    assert two["cv"] == pytest.approx(0.30866, abs=1e-5)
    assert any("pi strong N=2" in w and "repetitions" in w for w in analysis["warnings"])
    assert row_of(analysis, "strong", 1)["cv"] == 0.0


def test_analyse_load_balance_overhead_and_span_from_results():
    def res(i, start_s, compute):
        return {"index": i, "compute_s": compute, "t_start_ns": int(start_s * 1e9),
                "t_end_ns": int((start_s + compute) * 1e9)}

    runs = [
        # compute 2,3,4 in 5 s e2e: LB 3/4 = 0.75, overhead (5-4)/5 = 0.2, span (100.5+4) - 100 = 4.5
        run("pi", "strong", 3, 1, 5.0, results=[res(0, 100.0, 2.0), res(1, 100.2, 3.0), res(2, 100.5, 4.0)]),
        # compute 4,4,4 in 4.4 s: LB 1.0, overhead 0.4/4.4 = 0.090909, span 4.0
        run("pi", "strong", 3, 2, 4.4, results=[res(0, 200.0, 4.0), res(1, 200.0, 4.0), res(2, 200.0, 4.0)]),
    ]
    row = row_of(metrics.analyse(runs), "strong", 3)
    # medians of two values are their means
    assert row["load_balance"] == pytest.approx((0.75 + 1.0) / 2)
    assert row["overhead_share"] == pytest.approx((0.2 + 0.4 / 4.4) / 2)
    assert row["t_span_median_s"] == pytest.approx((4.5 + 4.0) / 2)


def test_analyse_validity_and_oversubscription():
    runs = series("pi", "strong", 1, [10.0, 10.0]) + [
        run("pi", "strong", 8, 1, 3.0, oversubscribed=True),
        run("pi", "strong", 8, 2, 3.0, oversubscribed=True, throttled=True),
    ]
    analysis = metrics.analyse(runs)
    eight = row_of(analysis, "strong", 8)
    assert eight["valid"] is False
    assert eight["oversubscribed"] is True
    assert row_of(analysis, "strong", 1)["valid"] is True
    assert any("N=8" in w and "throttled" in w for w in analysis["warnings"])


def test_analyse_only_valid_shows_figures_without_throttled_runs():
    runs = series("pi", "strong", 1, [10.0, 10.0]) + [
        run("pi", "strong", 2, 1, 5.0),
        run("pi", "strong", 2, 2, 5.2),
        run("pi", "strong", 2, 3, 9.0, throttled=True),
    ]
    all_runs = row_of(metrics.analyse(runs), "strong", 2)
    # median(5.0, 5.2, 9.0) = 5.2 -> S = 10/5.2 ; the row is marked invalid
    assert all_runs["runs"] == 3 and all_runs["t_median_s"] == 5.2 and all_runs["valid"] is False
    valid_only = row_of(metrics.analyse(runs, only_valid=True), "strong", 2)
    # median(5.0, 5.2) = 5.1 -> S = 10/5.1
    assert valid_only["runs"] == 2 and valid_only["valid"] is True
    assert valid_only["speedup"] == pytest.approx(10 / 5.1)


def test_analyse_untimed_run_left_out_and_point_invalid():
    runs = series("pi", "strong", 1, [10.0, 10.0]) + series("pi", "strong", 2, [5.0, 5.4])
    runs.append(run("pi", "strong", 2, 3, None, valid=False))
    analysis = metrics.analyse(runs)
    two = row_of(analysis, "strong", 2)
    # median(5.0, 5.4) = 5.2 from the two timed runs
    assert two["runs"] == 2 and two["t_median_s"] == pytest.approx(5.2) and two["valid"] is False
    assert any("1 run recorded no time" in w for w in analysis["warnings"])


def test_analyse_ci_needs_two_runs_each_side():
    runs = series("pi", "strong", 1, [10.0]) + series("pi", "strong", 2, [5.0, 5.2])
    two = row_of(metrics.analyse(runs), "strong", 2)
    assert two["speedup"] == pytest.approx(10 / 5.1)
    assert two["speedup_ci_low"] is None and two["speedup_ci_high"] is None


def test_analyse_bootstrap_interval_reproducible_and_contains_ratio():
    runs = series("pi", "strong", 1, [8.0, 8.1, 7.9, 8.05, 7.95]) + series("pi", "strong", 4, [2.0, 2.05, 1.95, 2.02, 1.98])
    first = row_of(metrics.analyse(runs), "strong", 4)
    second = row_of(metrics.analyse(runs), "strong", 4)
    assert (first["speedup_ci_low"], first["speedup_ci_high"]) == (second["speedup_ci_low"], second["speedup_ci_high"])
    # true ratio 8/2 = 4 lies inside; bounds within 7.9/2.05 .. 8.1/1.95
    assert 7.9 / 2.05 <= first["speedup_ci_low"] < 4.0 < first["speedup_ci_high"] <= 8.1 / 1.95


def test_analyse_negative_amdahl_intercept_clamped_with_warning():
    # T = -0.2 + 10/N: 9.8, 4.8, 2.3 -> a = -0.2 reported, f shown as 0, no S_max
    runs = series("pi", "strong", 1, [9.8]) + series("pi", "strong", 2, [4.8]) + series("pi", "strong", 4, [2.3])
    analysis = metrics.analyse(runs)
    amdahl = analysis["amdahl"]
    assert amdahl["a"] == pytest.approx(-0.2)
    assert amdahl["serial_fraction"] == 0.0
    assert amdahl["s_max"] is None
    assert any("negative serial time" in w for w in analysis["warnings"])


def test_amdahl_fit_leaves_out_oversubscribed_points():
    # exact T = 2 + 8/N at N = 1, 2, 4 ; N = 8 oversubscribed at 6 s (the fit would be 3 s)
    runs = (
        series("pi", "strong", 1, [10.0]) + series("pi", "strong", 2, [6.0]) + series("pi", "strong", 4, [4.0])
        + series("pi", "strong", 8, [6.0], oversubscribed=True)
    )
    analysis = metrics.analyse(runs)
    amdahl = analysis["amdahl"]
    assert amdahl["a"] == pytest.approx(2.0) and amdahl["serial_fraction"] == pytest.approx(0.2)
    assert amdahl["points"] == [[1, 10.0], [2, 6.0], [4, 4.0]]
    assert amdahl["excluded_oversubscribed"] == [8]
    assert any("oversubscribed N = 8 left out" in w for w in analysis["warnings"])
    # the row itself is still there, with its speed-up 10/6
    assert row_of(analysis, "strong", 8)["speedup"] == pytest.approx(10 / 6)


def test_analyse_only_warmup_point():
    runs = series("pi", "strong", 1, [10.0, 10.0]) + [run("pi", "strong", 2, 0, 5.0, warmup=True)]
    analysis = metrics.analyse(runs)
    two = row_of(analysis, "strong", 2)
    assert two["runs"] == 0 and two["t_median_s"] is None and two["speedup"] is None
    assert any("only warm-up" in w for w in analysis["warnings"])
    assert analysis["amdahl"] is None  # one usable N


def test_analyse_sort_order():
    runs = (
        series("pi", "weak", 2, [1.0]) + series("pi", "legacy", 3, [5.7]) + series("pi", "strong", 2, [1.0])
        + series("pi", "baseline", 1, [2.0]) + series("pi", "strong", 1, [2.0])
    )
    order = [(r["mode"], r["workers"]) for r in metrics.analyse(runs)["summary"]]
    assert order == [("baseline", 1), ("strong", 1), ("strong", 2), ("weak", 2), ("legacy", 3)]
    assert not any(math.isnan(r["t_median_s"]) for r in metrics.analyse(runs)["summary"])


# --- issue 8, items 7-9 -------------------------------------------------------


def segment(index, slot, compute, start_s, run_id="tc", node="vm", **extra):
    return {"index": index, "slot": slot, "node": node, "compute_s": compute, "run_id": run_id,
            "t_start_ns": int(start_s * 1e9), "t_end_ns": int((start_s + compute) * 1e9), **extra}


# The real transcode of a 40 s clip on 2 slots: 4 segments, slot 0 ran 4.56 + 3.49, slot 1 4.41 + 3.53.
TRANSCODE_SEGMENTS = [segment(0, 0, 4.56, 0.0), segment(1, 1, 4.41, 0.01), segment(2, 1, 3.53, 4.47),
                      segment(3, 0, 3.49, 4.6)]


def test_a_transcode_worker_is_a_slot_its_busy_time_the_sum_of_its_segments():
    record = run("transcode", "strong", 2, 1, 10.0, results=TRANSCODE_SEGMENTS)
    assert sorted(metrics.worker_busy_times(record)) == pytest.approx([7.94, 8.05])
    analysis = metrics.analyse([record])
    two = row_of(analysis, "strong", 2)
    # per slot: (10 - 8.05) / 10 = 19.5 %, not (10 - 4.56) / 10 = 54 % per segment
    assert two["overhead_share"] == pytest.approx(0.195)
    assert two["load_balance"] == pytest.approx((7.94 + 8.05) / 2 / 8.05)


def test_pi_results_without_a_slot_are_one_worker_each():
    results = [{"index": i, "node": "n", "compute_s": c} for i, c in enumerate((2.0, 3.0, 4.0))]
    assert sorted(metrics.worker_busy_times({"results": results})) == [2.0, 3.0, 4.0]
    # the same slot number on two hosts is two workers
    two_hosts = [segment(0, 0, 1.0, 0, node="a"), segment(1, 0, 2.0, 0, node="b")]
    assert sorted(metrics.worker_busy_times({"results": two_hosts})) == [1.0, 2.0]


def test_a_resumed_run_is_not_a_timing():
    resumed = [dict(s, resumed=True) for s in TRANSCODE_SEGMENTS]
    runs = (series("transcode", "baseline", 1, [8.2], work=40.0)
            + [run("transcode", "strong", 2, 1, 1.85, results=resumed, valid=False)])
    runs[-1]["problems"] = ["4 of 4 segments resumed from an earlier run"]
    analysis = metrics.analyse(runs)
    two = row_of(analysis, "strong", 2)
    # 8.2 / 1.85 would be "speed-up 4.4x, efficiency 220 %"
    assert two["runs"] == 0 and two["t_median_s"] is None and two["speedup"] is None
    assert two["resumed_runs"] == 1 and two["valid"] is True  # nothing shown that could be wrong
    assert analysis["amdahl"] is None
    (warning,) = [w for w in analysis["warnings"] if "resumed" in w]
    assert "4 of 4 segments resumed from an earlier run" in warning and "not a timing" in warning
    assert "throttl" not in " ".join(analysis["warnings"])


def test_invalid_points_say_why_in_their_own_words():
    runs = series("pi", "strong", 1, [10.0, 10.1]) + series("pi", "strong", 2, [5.0, 5.1])
    runs[2]["valid"] = False
    runs[2]["problems"] = ["1 results for 2 workers"]
    runs[3]["throttled"] = True
    analysis = metrics.analyse(runs)
    two = row_of(analysis, "strong", 2)
    assert two["valid"] is False
    assert two["invalid_reasons"] == ["1 results for 2 workers", "a node throttled during the run (vcgencmd get_throttled)"]
    text = " ".join(analysis["warnings"])
    assert "1 results for 2 workers" in text and text.count("node throttled") == 1
    assert "r1 is invalid: 1 results for 2 workers;" in text  # not called throttling
    assert row_of(analysis, "strong", 1)["invalid_reasons"] == []


def test_throughput_is_the_work_over_the_median_time_the_table_shows():
    # times 4, 5, 9: median 5 -> 1000 / 5 = 200/s; the mean time (6 s) would give 166.7/s
    analysis = metrics.analyse(series("pi", "strong", 2, [4.0, 5.0, 9.0], work=1000))
    assert row_of(analysis, "strong", 2)["throughput"] == pytest.approx(200.0)
    assert metrics.point_throughput([1000, 1000, 1000], [4.0, 5.0, 9.0]) == pytest.approx(200.0)


def test_amdahl_through_two_points_has_no_fit_quality():
    fit = metrics.amdahl_fit([1, 2], [10.0, 6.0])
    assert fit is not None and fit["a"] == pytest.approx(2.0) and fit["r_squared"] is None
    assert metrics.amdahl_fit([1, 2, 4], [10.0, 6.0, 4.5])["r_squared"] is not None
