"""Robust descriptive statistics for benchmark repetitions (standard library only).

Benchmarks on small machines have skewed, heavy-tailed timings (a background
daemon, a thermal step), so the central value is the median, the spread the
MAD, and outliers are flagged with the modified z-score rather than dropped.
"""
from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Callable, Sequence

# Iglewicz & Hoaglin: 0.6745 is the 0.75 quantile of the standard normal,
# which makes the modified z-score comparable to an ordinary z-score.
MODIFIED_Z_FACTOR = 0.6745
MODIFIED_Z_THRESHOLD = 3.5


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence (mean of the two middle values when even)."""
    if not values:
        raise ValueError("median of an empty sequence")
    return float(statistics.median(values))


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median, RAW and UNSCALED.

    No 1.4826 consistency factor is applied: this is median(|x - median(x)|)
    exactly, in the same unit as the values.
    """
    centre = median(values)
    return median([abs(v - centre) for v in values])


def modified_z_scores(values: Sequence[float]) -> list[float]:
    """0.6745 * (x - median) / MAD for every value; all 0.0 when MAD == 0.

    With MAD == 0 (at least half the values identical) the score is undefined;
    returning zeros means "no outliers", which is the conservative reading.
    """
    centre = median(values)
    spread = mad(values)
    if spread == 0:
        return [0.0 for _ in values]
    return [MODIFIED_Z_FACTOR * (v - centre) / spread for v in values]


def outlier_indices(values: Sequence[float], threshold: float = MODIFIED_Z_THRESHOLD) -> list[int]:
    """Positions of the values whose |modified z-score| exceeds the threshold (3.5)."""
    if len(values) < 3:
        # With one or two values there is no majority to be an outlier against.
        return []
    return [i for i, z in enumerate(modified_z_scores(values)) if abs(z) > threshold]


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Sample standard deviation over mean; None with fewer than 2 values or mean 0."""
    if len(values) < 2:
        return None
    centre = statistics.fmean(values)
    if centre == 0:
        return None
    return statistics.stdev(values) / centre


def bootstrap_ci(
    samples: Sequence[Sequence[float]],
    statistic: Callable[..., float | None],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of statistic(*groups).

    Each group in `samples` is resampled independently with replacement (the
    groups are independent measurements, e.g. reference runs and runs at N).
    A seeded random.Random makes the interval reproducible. Resamples where the
    statistic is None (e.g. a zero denominator) are skipped. None when any group
    has fewer than 2 values or no resample gave a value.
    """
    if not samples or any(len(group) < 2 for group in samples):
        return None
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = random.Random(seed)
    estimates: list[float] = []
    for _ in range(resamples):
        drawn = [[group[rng.randrange(len(group))] for _ in group] for group in samples]
        value = statistic(*drawn)
        if value is not None and math.isfinite(value):
            estimates.append(float(value))
    if not estimates:
        return None
    estimates.sort()
    alpha = (1 - confidence) / 2
    return percentile_sorted(estimates, alpha), percentile_sorted(estimates, 1 - alpha)


def percentile_sorted(sorted_values: Sequence[float], q: float) -> float:
    """q-quantile (0..1) of already sorted values, linear interpolation between ranks."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


def ratio_of_medians(numerator: Sequence[float], denominator: Sequence[float]) -> float | None:
    """median(numerator) / median(denominator); None when the denominator median is 0."""
    bottom = median(denominator)
    if bottom == 0:
        return None
    return median(numerator) / bottom


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of the values, ties sharing their average rank (as Spearman's ρ needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def _centred(values: Sequence[float]) -> tuple[list[float], float]:
    centre = statistics.fmean(values)
    deviations = [v - centre for v in values]
    return deviations, math.sqrt(sum(d * d for d in deviations))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation ρ (Pearson's r of the ranks, ties averaged); None with fewer
    than 3 pairs or when either side is constant."""
    if len(x) != len(y):
        raise ValueError("spearman needs pairs")
    if len(x) < 3:
        return None
    (dx, nx), (dy, ny) = _centred(ranks(x)), _centred(ranks(y))
    if nx == 0 or ny == 0:
        return None
    return sum(a * b for a, b in zip(dx, dy)) / (nx * ny)


def spearman_test(x: Sequence[float], y: Sequence[float], *, permutations: int = 2000,
                  seed: int = 0) -> tuple[float, float] | None:
    """ρ and its two-sided permutation p-value: the share of orderings of y whose |ρ| is at least the
    observed one. Every ordering when n! ≤ permutations (exact), else `permutations` seeded shuffles
    with p = (1 + as extreme) / (1 + permutations). None where spearman() is."""
    rho = spearman(x, y)
    if rho is None:
        return None
    (dx, nx), (dy, ny) = _centred(ranks(x)), _centred(ranks(y))
    bar = abs(rho) * nx * ny - 1e-9 * nx * ny  # |Σ dx·dy| at least this is as extreme (rounding allowed)

    def extreme(shuffled: Sequence[float]) -> bool:
        return abs(sum(a * b for a, b in zip(dx, shuffled))) >= bar

    if math.factorial(len(dy)) <= permutations:
        every = list(itertools.permutations(dy))
        return rho, sum(1 for p in every if extreme(p)) / len(every)
    rng = random.Random(seed)
    shuffled = list(dy)
    hits = 0
    for _ in range(permutations):
        rng.shuffle(shuffled)
        hits += extreme(shuffled)
    return rho, (1 + hits) / (1 + permutations)


def theil_sen_slope(x: Sequence[float], y: Sequence[float]) -> float | None:
    """The median of the slopes between every two points with different x (Theil–Sen: robust to a
    stray value); None when every x is the same."""
    slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)) if x[j] != x[i]]
    return median(slopes) if slopes else None
