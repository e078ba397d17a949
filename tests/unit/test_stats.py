"""labkit.stats against hand-computed values."""
from __future__ import annotations

import pytest

from labkit import stats


def test_median_odd_and_even():
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    # even count: mean of the two middle values (2 + 3) / 2
    assert stats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        stats.median([])


def test_mad_is_raw_unscaled():
    # median 3; |deviations| = 2,1,0,1,6 -> sorted 0,1,1,2,6 -> median 1
    # (scaled by 1.4826 it would be 1.4826, which we must not return)
    assert stats.mad([1.0, 2.0, 3.0, 4.0, 9.0]) == 1.0


def test_modified_z_flags_planted_outlier():
    values = [10.0, 10.2, 9.8, 10.1, 9.9, 15.0]
    # median = (10.0 + 10.1)/2 = 10.05
    # |dev| = 0.05, 0.15, 0.25, 0.05, 0.15, 4.95 -> sorted 0.05,0.05,0.15,0.15,0.25,4.95
    # MAD = (0.15 + 0.15)/2 = 0.15
    # z(15.0) = 0.6745 * 4.95 / 0.15 = 22.2585 ; z(9.8) = 0.6745 * -0.25/0.15 = -1.1242
    z = stats.modified_z_scores(values)
    assert z[5] == pytest.approx(22.2585)
    assert z[2] == pytest.approx(-1.124166, rel=1e-5)
    assert stats.outlier_indices(values) == [5]


def test_modified_z_mad_zero_means_no_outliers():
    # more than half identical -> MAD 0 -> score undefined -> nothing flagged
    assert stats.modified_z_scores([1.0, 1.0, 1.0, 50.0]) == [0.0, 0.0, 0.0, 0.0]
    assert stats.outlier_indices([1.0, 1.0, 1.0, 50.0]) == []


def test_modified_z_threshold_is_strict_3_5():
    # median 0, MAD: |dev| 0,1,1,x -> choose values so z is just below/above 3.5
    # values [-1, 0, 1, v]: median = (0+1)/2 = 0.5 ; |dev| = 1.5, 0.5, 0.5, v-0.5
    # sorted (v large): 0.5, 0.5, 1.5, v-0.5 -> MAD = (0.5+1.5)/2 = 1.0
    # z(v) = 0.6745 * (v - 0.5); z = 3.5 at v = 0.5 + 3.5/0.6745 = 5.68903...
    assert stats.outlier_indices([-1.0, 0.0, 1.0, 5.68]) == []
    assert stats.outlier_indices([-1.0, 0.0, 1.0, 5.70]) == [3]


def test_coefficient_of_variation():
    # mean 2, sample stdev sqrt(((1)^2 + 0 + (1)^2)/2) = 1 -> CV 0.5
    assert stats.coefficient_of_variation([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert stats.coefficient_of_variation([5.0]) is None


def test_percentile_sorted_interpolates():
    # position 0.25 * 4 = 1.0 -> values[1]; 0.1 * 4 = 0.4 -> 10 + 0.4*(20-10) = 14
    assert stats.percentile_sorted([10.0, 20.0, 30.0, 40.0, 50.0], 0.25) == 20.0
    assert stats.percentile_sorted([10.0, 20.0, 30.0, 40.0, 50.0], 0.1) == pytest.approx(14.0)


def test_bootstrap_ratio_contains_truth_and_is_reproducible():
    # reference around 8 s, point around 2 s: the true ratio of medians is 4
    reference = [7.9, 8.0, 8.1, 8.05, 7.95, 8.2, 7.8]
    point = [1.98, 2.0, 2.02, 2.01, 1.99, 2.05, 1.95]
    ci = stats.bootstrap_ci([reference, point], stats.ratio_of_medians, seed=42)
    assert ci is not None
    low, high = ci
    assert low < 4.0 < high
    # the interval can only come from resampled medians: 7.8/2.05 .. 8.2/1.95
    assert 7.8 / 2.05 <= low and high <= 8.2 / 1.95
    assert stats.bootstrap_ci([reference, point], stats.ratio_of_medians, seed=42) == ci
    other = stats.bootstrap_ci([reference, point], stats.ratio_of_medians, seed=7)
    assert other != ci


def test_bootstrap_needs_two_values_per_group():
    assert stats.bootstrap_ci([[1.0], [1.0, 2.0]], stats.ratio_of_medians) is None


def test_bootstrap_of_constant_data_is_a_point():
    # every resample is identical: interval collapses to 6/3 = 2
    assert stats.bootstrap_ci([[6.0, 6.0], [3.0, 3.0]], stats.ratio_of_medians, resamples=50) == (2.0, 2.0)
