"""labkit.metrics' drift test (DESIGN §12): does time trend with the execution order inside one run?
Spearman's ρ with a seeded permutation p-value, the Theil–Sen slope per run, a validity warning with
the figures when p < 0.01, from synthetic run records."""
from __future__ import annotations

import json
import random

import pytest

from labkit import metrics, stats


def runs_at(workers: int, times: list[float], orders: list[int], *, workload: str = "pi") -> list[dict]:
    return [{"run_id": f"{workload}-strong-n{workers}-r{i + 1}", "workload": workload, "mode": "strong",
             "workers": workers, "repetition": i + 1, "warmup": False, "order": order, "work": 1000,
             "t_e2e_s": t, "throttled": False, "valid": True, "results": []}
            for i, (t, order) in enumerate(zip(times, orders))]


def noisy(n: int, seed: int, sigma: float = 0.02, centre: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [centre * (1 + rng.gauss(0, sigma)) for _ in range(n)]


def row(analysis: dict, workers: int) -> dict:
    return next(r for r in analysis["summary"] if r["workers"] == workers)


def test_an_upward_trend_is_flagged_with_its_figures_and_wording() -> None:
    # +1 % per run with 0.3 % noise, 12 runs in execution order
    rng = random.Random(1)
    times = [2.0 * (1 + 0.01 * k + rng.gauss(0, 0.003)) for k in range(12)]
    analysis = metrics.analyse(runs_at(2, times, list(range(1, 13))))
    found = row(analysis, 2)["drift"]
    assert found["flagged"] and found["against"] == "order" and found["runs"] == 12
    assert found["rho"] > 0.9 and found["p"] < 0.001
    assert found["slope_per_run"] == pytest.approx(0.01 / 1.055, rel=0.15)  # relative to the median (~1.055·2 s)
    assert found["change"] == pytest.approx(found["slope_per_run"] * 11)
    warning = next(w for w in analysis["warnings"] if "drifts" in w)
    assert warning.startswith("pi strong N=2: time drifts with run order: +0.9")
    assert " % per run (Spearman ρ = " in warning and "over 12 runs" in warning and "p = 0.0005" in warning
    assert "heat or background load built up during the experiment; let the machine settle or add repetitions" in warning
    json.dumps(analysis, allow_nan=False)


def test_a_downward_trend_is_flagged_as_getting_faster() -> None:
    times = [2.0 * (1 - 0.01 * k) for k in range(10)]
    warning = metrics.drift_warning("x", metrics.point_drift(runs_at(1, times, list(range(10)))))
    assert warning is not None and "−1 % per run" in warning and "got faster as it ran" in warning


def test_shuffled_noise_is_not_flagged() -> None:
    flagged = 0
    for seed in range(40):
        times = noisy(12, seed)
        orders = list(range(12))
        random.Random(1000 + seed).shuffle(orders)
        analysis = metrics.analyse(runs_at(2, times, orders))
        flagged += row(analysis, 2)["drift"]["flagged"]
        assert analysis["drift"] is not None
    assert flagged <= 1  # p < 0.01: about 1 in 100 clean runs


def test_a_tiny_significant_trend_is_not_worth_a_warning() -> None:
    # a perfectly steady +0.01 % per run: significant, but 0.1 % over the run changes no figure
    times = [2.0 * (1 + 0.0001 * k) for k in range(12)]
    found = metrics.point_drift(runs_at(1, times, list(range(12))))
    assert found["p"] < 0.01 and not found["flagged"]


def test_fewer_than_four_runs_give_nothing() -> None:
    analysis = metrics.analyse(runs_at(2, [1.0, 1.1, 1.2], [1, 2, 3]))
    assert row(analysis, 2)["drift"] is None and analysis["drift"] is None
    assert not any("drifts" in w for w in analysis["warnings"])
    assert metrics.drift([1, 2, 3], [1.0, 1.1, 1.2]) is None


def test_four_or_five_runs_can_never_reach_p_001() -> None:
    # a perfect trend over 4 runs: the exact permutation p is 2/24
    found = metrics.drift([1, 2, 3, 4], [1.0, 1.1, 1.2, 1.3])
    assert found["rho"] == pytest.approx(1.0) and found["p"] == pytest.approx(2 / 24) and not found["flagged"]


def test_runs_without_an_order_or_with_one_order_give_nothing() -> None:
    same = runs_at(2, [1.0, 1.1, 1.2, 1.3], [0, 0, 0, 0])
    assert metrics.point_drift(same) is None
    unordered = [dict(r, order=None) for r in same]
    assert metrics.point_drift(unordered) is None


def test_the_pooled_test_sees_a_trend_across_points_each_against_its_own_median() -> None:
    # 3 points, 4 runs each, interleaved in order; each point alone is too short for p < 0.01
    runs, order = [], 0
    for k in range(4):
        for workers, centre in ((1, 4.0), (2, 2.0), (4, 1.0)):
            runs += runs_at(workers, [centre * (1 + 0.01 * order)], [order])
            runs[-1]["run_id"] += f"-{k}"
            order += 1
    analysis = metrics.analyse(runs)
    assert all(not r["drift"]["flagged"] for r in analysis["summary"])
    pooled = analysis["drift"]
    assert pooled["flagged"] and pooled["runs"] == 12 and pooled["p"] < 0.01
    assert any(w.startswith("all points (each run against its point's median): time drifts with run order")
               for w in analysis["warnings"])


def test_the_drift_test_is_reproducible() -> None:
    times = noisy(20, 3)
    orders = list(range(20))
    first = metrics.drift(orders, times)
    assert first == metrics.drift(orders, times)
    assert metrics.analyse(runs_at(2, times, orders)) == metrics.analyse(runs_at(2, times, orders))


def test_the_statistics_against_hand_values() -> None:
    assert stats.ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert stats.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert stats.spearman([1, 2, 3], [5, 5, 5]) is None
    # 1,2,3,4,5 against 2,1,4,3,5: d² = 1+1+1+1+0 = 4, ρ = 1 − 6·4/(5·24) = 0.8
    assert stats.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert stats.theil_sen_slope([0, 1, 2, 3, 4], [0, 1, 2, 3, 40]) == pytest.approx(1.0)  # the stray last value ignored
    assert stats.theil_sen_slope([1, 1], [0, 5]) is None


def test_time_against_the_nodes_temperature_is_tested_when_runs_carry_one() -> None:
    # Thermal creep: +1 % per °C, the temperature rising in a shuffled run order (so order alone shows less).
    rng = random.Random(3)
    temps = [50.0 + 0.8 * k for k in range(12)]
    orders = list(range(1, 13))
    rng.shuffle(orders)
    runs = runs_at(1, [2.0 * (1 + 0.01 * (t - 50) + rng.gauss(0, 0.002)) for t in temps], orders)
    for run, temp in zip(runs, temps):
        run["temp_c"] = temp
    analysis = metrics.analyse(runs)
    found = analysis["drift_temperature"]
    assert found["against"] == "temp_c" and found["flagged"] and found["runs"] == 12
    assert found["slope_per_c"] == pytest.approx(0.01 / 1.044, rel=0.15)
    assert found["change"] == pytest.approx(found["slope_per_c"] * 0.8 * 11)
    warning = next(w for w in analysis["warnings"] if "temperature" in w)
    assert "time drifts with the nodes' temperature: +0.9" in warning and "-e lab_settle=true" in warning
    # No temperature on the runs (no sensor): no test, not a guess.
    for run in runs:
        del run["temp_c"]
    assert metrics.analyse(runs)["drift_temperature"] is None
