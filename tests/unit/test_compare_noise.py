"""labkit.compare's noise floor (DESIGN §12): per point the smallest difference the verdict can tell
from the runs' noise (the bootstrap interval's half-width on a log scale), the runs a side that halve
it, and the block's summary, from synthetic runs of a known spread."""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import pytest

from labkit import compare
from test_compare import A_TIMES, report, results

KEY = ("pi", "strong", 2)


def spread(n: int, sigma: float, centre: float = 2.0) -> list[float]:
    """n times whose relative spread is exactly sigma: the normal distribution's n quantiles."""
    normal = NormalDist()
    return [centre * (1 + sigma * normal.inv_cdf((i + 0.5) / n)) for i in range(n)]


def point(times_a: list[float], times_b: list[float]) -> dict[str, Any]:
    return compare.compare_point(KEY, [{"t_e2e_s": t} for t in times_a], [{"t_e2e_s": t} for t in times_b])


def expected(sigma: float, n_a: int, n_b: int) -> float:
    """Normal theory: the median's standard error is √(π/2)·σ/√n, so the 95 % half-width of
    ln(B / A) is 1.96·√(π/2)·σ·√(1/n_A + 1/n_B)."""
    return 1.96 * math.sqrt(math.pi / 2) * sigma * math.sqrt(1 / n_a + 1 / n_b)


@pytest.mark.parametrize("n", [10, 20, 40])
def test_a_known_spread_gives_the_expected_detectable_difference(n: int) -> None:
    times = spread(n, 0.02)
    measured = point(times, times)
    assert measured["detectable"] == pytest.approx(expected(0.02, n, n), rel=0.15)
    # the same as the interval the verdict uses: its half-width on a log scale
    assert measured["detectable"] == pytest.approx(math.sqrt(measured["ci_high"] / measured["ci_low"]) - 1)


def test_more_runs_give_a_smaller_noise_floor_and_four_times_the_runs_halve_it() -> None:
    floors = {n: point(spread(n, 0.03), spread(n, 0.03))["detectable"] for n in (5, 10, 20, 40)}
    assert floors[5] > floors[10] > floors[20] > floors[40]
    assert floors[40] / floors[10] == pytest.approx(0.5, abs=0.08)
    assert point(spread(10, 0.03), spread(10, 0.03))["runs_to_halve"] == 40


def test_runs_to_halve_is_four_times_the_runs_and_pools_unequal_sides() -> None:
    assert compare.runs_to_halve(3, 3) == 12
    assert compare.runs_to_halve(5, 5) == 20
    # √(2/m) = ½·√(1/4 + 1/12) → m = 8 / (1/4 + 1/12) = 24
    assert compare.runs_to_halve(4, 12) == 24
    assert compare.runs_to_halve(1, 5) is None


def test_a_noisier_side_raises_the_noise_floor() -> None:
    quiet = point(spread(10, 0.01), spread(10, 0.01))["detectable"]
    mixed = point(spread(10, 0.01), spread(10, 0.05))["detectable"]
    assert mixed > 2 * quiet
    assert mixed == pytest.approx(1.96 * math.sqrt(math.pi / 2) * math.sqrt((0.01**2 + 0.05**2) / 10), rel=0.2)


def test_a_run_compared_with_itself_still_says_no_significant_difference_and_gives_its_noise_floor() -> None:
    data = results(A_TIMES)
    block = compare.compare(report(data), report(data))
    assert {p["verdict"] for p in block["points"]} == {compare.SAME}
    assert all(p["detectable"] > 0 and p["runs_to_halve"] == 16 for p in block["points"])
    floor = block["noise_floor"]
    assert floor["points"] == 2 and floor["runs_to_halve"] == 16
    assert floor["detectable_max"] == max(p["detectable"] for p in block["points"])
    assert floor["point"] == max(block["points"], key=lambda p: p["detectable"])["point"]
    shown = compare.percent(floor["detectable_max"])
    assert floor["text"].startswith(f"Noise floor: this setup detects differences of about {shown} at ")
    assert "with 4 runs a side" in floor["text"] and "(-e pi_repetitions=16)" in floor["text"]
    assert f"would detect about {compare.percent(compare.halved(floor['detectable_max']))}" in floor["text"]
    printed = compare.text(block)
    assert floor["text"] in printed and "no significant difference" in printed
    assert block["summary"].startswith("Against x: 2 points (2 no significant difference)")


def test_the_table_has_a_detectable_column() -> None:
    data = results(A_TIMES)
    block = compare.compare(report(data), report(data))
    column = compare.HEADERS.index("detectable")
    assert [row[column] for row in compare.rows(block)] == [compare.percent(p["detectable"]) for p in block["points"]]
    assert compare.VERDICT_COLUMN == len(compare.HEADERS) - 1


def test_one_run_on_a_side_has_no_noise_floor() -> None:
    lone = point([2.0], spread(5, 0.02))
    assert lone["verdict"] == compare.TOO_FEW and lone["detectable"] is None and lone["runs_to_halve"] is None
    assert compare.noise_floor([lone]) is None


def test_the_noise_floor_is_reproducible_and_worded_in_percent() -> None:
    first, again = point(spread(7, 0.02), spread(7, 0.02)), point(spread(7, 0.02), spread(7, 0.02))
    assert first["detectable"] == again["detectable"]
    assert compare.percent(0.041) == "±4.1 %"
    assert compare.percent(0.0035) == "±0.35 %"
    assert compare.percent(0.123) == "±12 %"
    assert compare.percent(None) == "–"
    assert compare.percent(1.22) == "2.22× either way"  # not "±122 %": a time cannot fall by more than 100 %
    assert compare.halved(0.04) == pytest.approx(0.02, rel=0.02)
    assert compare.halved(1.25) == pytest.approx(0.5)  # 2.25× either way halves to 1.5× on the log scale


def test_runs_beyond_what_pi_repetitions_allows_are_not_suggested() -> None:
    times = spread(60, 0.02)
    floor = compare.noise_floor([point(times, times)])
    assert floor is not None and floor["runs_to_halve"] == 240
    assert "more than pi_repetitions allows" in floor["text"] and "-e pi_repetitions=" not in floor["text"]
