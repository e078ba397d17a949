"""The numpy π kernel: one 64-bit draw per sample, a cell of a 2^31 × 2^31 grid, an exact inside test.

The reference counts below come from the geometric rule itself, written independently of the
kernel's algebra: a cell (x, y) of a 2^k × 2^k grid is inside when its centre is in the closed
quarter disc of radius R = 2^k, (x + ½)² + (y + ½)² ≤ R², i.e. (2x + 1)² + (2y + 1)² ≤ 4R², in
Python integers; column x then holds (isqrt(4R² − (2x + 1)²) + 1) // 2 inside cells.
"""
from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

import pi_worker

np = pytest.importorskip("numpy")

BITS = pi_worker.COORD_BITS
R31 = 1 << BITS


def centre_inside(x: int, y: int, bits: int) -> bool:
    """The rule in exact rationals: the cell's centre is in the closed quarter disc."""
    half = Fraction(1, 2)
    return (x + half) ** 2 + (y + half) ** 2 <= (1 << bits) ** 2


def exact_inside_per_column(bits: int) -> np.ndarray:
    """Inside cells of each column of the 2^bits grid: (isqrt(4R² − (2x + 1)²) + 1) // 2, vectorised.

    The square root is taken in float64 and then corrected to the exact integer square root
    (for bits ≤ 24 the radicand is below 2^52, so float64 holds it exactly and is off by at most one).
    """
    assert bits <= 24
    r = 1 << bits
    odd = 2 * np.arange(r, dtype=np.int64) + 1
    radicand = 4 * r * r - odd * odd
    root = np.floor(np.sqrt(radicand.astype(np.float64))).astype(np.int64)
    root -= root * root > radicand
    root += (root + 1) * (root + 1) <= radicand
    assert np.all(root * root <= radicand) and np.all((root + 1) * (root + 1) > radicand)
    return (root + 1) // 2


def cut_cells_per_column(bits: int) -> np.ndarray:
    """Cells of each column whose interior the arc x² + y² = R² crosses: lower-left corner strictly
    inside (y² < R² − x²) and upper-right corner strictly outside ((y + 1)² > R² − (x + 1)²)."""
    r = 1 << bits
    out = []
    for x in range(r):
        highest = math.isqrt(r * r - x * x - 1)  # the largest y with y² < R² − x²
        lowest = math.isqrt(r * r - (x + 1) ** 2)  # the smallest y with (y + 1)² > R² − (x + 1)²
        out.append(max(0, highest - lowest + 1))
    return np.array(out, dtype=np.int64)


def kernel_count(xs, ys, bits: int = BITS) -> int:
    x = np.array(xs, dtype=np.uint64)
    y = np.array(ys, dtype=np.uint64)
    return pi_worker.count_cells_inside(x, y, np.empty_like(x), bits)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_the_inside_test_matches_the_rule_cell_by_cell_on_small_grids(bits: int) -> None:
    r = 1 << bits
    for x in range(r):
        for y in range(r):
            assert kernel_count([x], [y], bits) == int(centre_inside(x, y, bits)), (x, y)


def test_the_column_formula_matches_the_rule_cell_by_cell() -> None:
    for bits in range(1, 7):
        r = 1 << bits
        by_rule = [sum(centre_inside(x, y, bits) for y in range(r)) for x in range(r)]
        assert exact_inside_per_column(bits).tolist() == by_rule


@pytest.mark.parametrize("bits", [5, 8, 10])
def test_the_inside_test_counts_every_cell_of_a_grid_exactly(bits: int) -> None:
    r = 1 << bits
    x, y = np.meshgrid(np.arange(r, dtype=np.uint64), np.arange(r, dtype=np.uint64))
    x, y = x.ravel(), y.ravel()
    assert pi_worker.count_cells_inside(x, y, np.empty_like(x), bits) == int(exact_inside_per_column(bits).sum())


def test_the_inside_test_is_exact_at_full_resolution_on_both_sides_of_the_arc() -> None:
    # For each column, its top inside cell is in and the cell above it is out: a rounding or an
    # overflow anywhere in uint64 would move one of them.
    rnd = random.Random(5)
    columns = [0, 1, 2, 3, R31 // 2, R31 - 2, R31 - 1, math.isqrt(R31 * R31 // 2), math.isqrt(R31 * R31 // 2) + 1]
    columns += [rnd.randrange(R31) for _ in range(200)]
    xs, ys, expected = [], [], []
    for x in columns:
        top = (math.isqrt(4 * R31 * R31 - (2 * x + 1) ** 2) + 1) // 2 - 1
        assert centre_inside(x, top, BITS)
        xs.append(x), ys.append(top), expected.append(1)
        if top + 1 < R31:
            assert not centre_inside(x, top + 1, BITS)
            xs.append(x), ys.append(top + 1), expected.append(0)
    for x, y, want in zip(xs, ys, expected):
        assert kernel_count([x], [y]) == want, (x, y)
    assert kernel_count(xs, ys) == sum(expected)
    # The extreme cells: (0, 0) and the ends of the edges, (0, R − 1) and (R − 1, 0), are in; the far
    # corner, whose x(x + 1) + y(y + 1) = 2R² − 2R is the largest sum, is out.
    assert kernel_count([0, 0, R31 - 1, R31 - 1], [0, R31 - 1, 0, R31 - 1]) == 3
    assert kernel_count([R31 - 1], [R31 - 1]) == 0


def test_draws_are_split_into_the_top_and_bottom_31_bits() -> None:
    top, bottom = (1 << 31) - 1, 0x5A5A5A5A
    raws = [0, (1 << 64) - 1, (top << 33) | bottom, (12345 << 33) | (0b11 << 31) | 678, 1 << 31, 1 << 32]
    raw = np.array(raws, dtype=np.uint64)
    y = np.empty_like(raw)
    pi_worker.split_coordinates(raw, y)
    assert raw.tolist() == [0, top, top, 12345, 0, 0]
    assert y.tolist() == [0, top, bottom, 678, 0, 0]


@pytest.mark.parametrize("bits", [1, 4, 8, 12, 16, 20])
def test_the_grid_count_is_within_the_cut_cells_of_the_area(bits: int) -> None:
    """|count − πR²/4| < cells cut by the arc ≤ 2R − 1, so |count/R² − π/4| < 2/R.

    Only a cell the arc cuts can be counted wrongly (by less than 1: its inside area is strictly
    between 0 and 1); the arc from (0, R) to (R, 0) is monotone, so each new cell it enters is
    behind one of the R − 1 inner vertical or R − 1 inner horizontal grid lines: at most 2R − 1 cells.
    At R = 2^31 that bounds the bias of inside/samples by 2/2^31 = 2^-30 (test below).
    """
    r = 1 << bits
    count = int(exact_inside_per_column(bits).sum())
    area = math.pi * r * r / 4
    if bits <= 16:  # the vectorised isqrt agrees with math.isqrt's
        assert count == sum((math.isqrt(4 * r * r - (2 * x + 1) ** 2) + 1) // 2 for x in range(r))
    if bits <= 12:  # count the cut cells themselves
        cut = int(cut_cells_per_column(bits).sum())
        assert abs(count - area) < cut <= 2 * r - 1
    assert abs(count / (r * r) - math.pi / 4) < 2 / r


def test_the_bias_at_full_resolution_is_far_below_the_noise_of_any_run() -> None:
    bias_bound = 2 / R31  # on inside/samples, from the cut-cell bound above
    assert bias_bound == 2.0**-30
    # On the estimate 4·inside/samples: 4·2^-30 ≈ 3.7e-9, against one standard error of the largest
    # run the planner allows (10^13 samples): 4·√(p(1 − p)/n) ≈ 5.2e-7.
    p = math.pi / 4
    standard_error = 4 * math.sqrt(p * (1 - p) / 10**13)
    assert 4 * bias_bound < 0.01 * standard_error


def test_the_kernel_counts_exactly_what_its_draws_give() -> None:
    """End to end against the rule in Python integers on the same draws."""
    seed, index, n = 9, 3, 5000
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(index + 1)[index])
    raws = [int(v) for v in rng.bit_generator.random_raw(n)]
    expected = sum((2 * (v >> 33) + 1) ** 2 + (2 * (v & (R31 - 1)) + 1) ** 2 <= 4 * R31 * R31 for v in raws)
    assert pi_worker.count_inside_numpy(n, seed, index) == expected


def test_the_count_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 3 * pi_worker.NUMPY_CHUNK + 17
    default = pi_worker.count_inside_numpy(n, 4, 1)
    monkeypatch.setattr(pi_worker, "NUMPY_CHUNK", 1000)
    assert pi_worker.count_inside_numpy(n, 4, 1) == default


def test_the_kernel_is_reproducible_and_each_index_has_its_own_stream() -> None:
    n = 100_000
    assert pi_worker.count_inside_numpy(n, 7, 0) == pi_worker.count_inside_numpy(n, 7, 0)
    counts = {pi_worker.count_inside_numpy(n, 7, index) for index in range(6)}
    assert len(counts) == 6
    assert pi_worker.count_inside_numpy(n, 8, 0) != pi_worker.count_inside_numpy(n, 7, 0)
    # A longer share starts with the shorter one's draws.
    assert pi_worker.count_inside_numpy(n + 1, 7, 0) - pi_worker.count_inside_numpy(n, 7, 0) in (0, 1)


def test_ten_million_samples_estimate_pi_within_five_standard_errors() -> None:
    n = 10_000_000
    inside = pi_worker.count_inside_numpy(n, 2025, 0)
    p = math.pi / 4
    standard_error = 4 * math.sqrt(p * (1 - p) / n)  # ≈ 0.00052
    assert abs(4 * inside / n - math.pi) < 5 * standard_error


@pytest.mark.parametrize("count,total", [(1, 1000), (3, 100_000), (7, 1_000_003)])
def test_the_workers_records_share_the_total_exactly(count: int, total: int) -> None:
    records = [pi_worker.run(i, count, total, 1, "t", "numpy") for i in range(count)]
    assert sum(r["samples"] for r in records) == total
    assert all(0 <= r["inside"] <= r["samples"] and r["kernel"] == "numpy" for r in records)
    assert all("autorange" not in r for r in records)
