"""Uncertainty metrics (mlip_bench.metrics.uncertainty): hand-computed values, scipy and sklearn as
independent references, and properties of calibrated and uninformative uncertainties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlip_bench.metrics import (
    binned_errors,
    gaussian_nll,
    miscalibration_area,
    roc_auc,
    share_above,
    spearman_rho,
    worst_fraction_auc,
)


def test_spearman_hand_values() -> None:
    # one swapped pair among four: 1 - 6·Σd²/(n(n²-1)) = 1 - 6·2/60
    assert spearman_rho([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    # a tie in u: mid-ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4): 4.5 / sqrt(4.5·5)
    assert spearman_rho([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    # the size of the error counts, not its sign
    assert spearman_rho([1, 2, 3], [-1, 2, -3]) == pytest.approx(1.0)
    assert spearman_rho([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)


def test_spearman_drops_nan_pairs_and_needs_three() -> None:
    assert spearman_rho([1, 2, np.nan, 3, 4], [1, 2, 5, 4, np.inf]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 9, 3, 4], [1, 2, np.nan, 4, 3]) == pytest.approx(0.8)
    assert math.isnan(spearman_rho([1, 2, np.nan], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 1, 1, 1], [1, 2, 3, 4]))  # constant: no ranking
    assert math.isnan(spearman_rho([], []))


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    u = rng.integers(0, 8, 60).astype(float)
    err = u + rng.integers(-4, 5, 60)
    expected = stats.spearmanr(u, np.abs(err)).statistic
    assert spearman_rho(u, err) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: spearman_rho([1, 2, 3], [1, 2]),
        lambda: spearman_rho(np.ones((2, 2)), np.ones((2, 2))),
        lambda: roc_auc([1, 2], [1, 2, 3], 1.0),
        lambda: binned_errors([1, 2], [1], 2),
        lambda: miscalibration_area([1, 2], [[1, 2]]),
        lambda: gaussian_nll([1.0], [1.0, 2.0]),
        lambda: share_above(np.ones((2, 2)), 1.0),
    ],
)
def test_mismatched_shapes_raise(call) -> None:
    with pytest.raises(ValueError, match="1-D"):
        call()


def test_share_above_is_strict_and_nan_aware() -> None:
    assert share_above([0.5, 1.001, 1.2, 6.0], 1.001) == pytest.approx(0.5)
    assert share_above([0.5, np.nan, 6.0], 5.0) == pytest.approx(0.5)
    assert math.isnan(share_above([1.0, 2.0], float("nan")))  # no threshold: no share
    assert math.isnan(share_above([np.nan], 1.0))


def test_binned_errors_equal_count_bins() -> None:
    bins = binned_errors([5, 1, 3, 2, 4, 6], [-6, 1, 3, 2, -4, 5], 3)
    np.testing.assert_allclose(bins.u_median, [1.5, 3.5, 5.5])
    np.testing.assert_allclose(bins.u_min, [1, 3, 5])
    np.testing.assert_allclose(bins.u_max, [2, 4, 6])
    np.testing.assert_allclose(bins.error_mean, [1.5, 3.5, 5.5])  # |err|: -6 and -4 count as 6 and 4
    np.testing.assert_allclose(bins.error_median, [1.5, 3.5, 5.5])
    np.testing.assert_array_equal(bins.counts, [2, 2, 2])
    uneven = binned_errors([1, 2, 3, 4, np.nan], [1, 2, 3, 4, 5], 3)  # the NaN pair is dropped
    np.testing.assert_array_equal(uneven.counts, [2, 1, 1])
    assert binned_errors([1, 2], [1, 2], 10).counts.tolist() == [1, 1]  # no more bins than pairs
    assert binned_errors([], [], 4).counts.size == 0
    with pytest.raises(ValueError, match="n_bins"):
        binned_errors([1], [1], 0)


def test_roc_auc_hand_values() -> None:
    # positives (err > 0.5) scored 0.35, 0.8; negatives 0.1, 0.4: 3 of 4 pairs ordered
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.5) == pytest.approx(0.75)
    assert roc_auc([1.0, 1.0], [0.0, 1.0], 0.5) == pytest.approx(0.5)  # a tie counts one half
    assert roc_auc([1, 2, 3, 4], [-9, 0, 0, 0], 5.0) == pytest.approx(0.0)  # |err|: the -9 is large
    assert math.isnan(roc_auc([1, 2], [0, 0], 0.5))  # no positive
    assert math.isnan(roc_auc([1, 2], [1, 1], 0.5))  # no negative


def test_roc_auc_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(11)
    err = rng.normal(0, 1, 300)
    u = np.round(np.abs(err) + rng.normal(0, 0.7, 300), 1)  # rounded: many ties
    expected = metrics.roc_auc_score(np.abs(err) > 1.0, u)
    assert roc_auc(u, err, 1.0) == pytest.approx(expected, abs=1e-12)


def test_auc_perfect_and_random_flags() -> None:
    rng = np.random.default_rng(5)
    err = rng.exponential(1.0, 4000)
    assert roc_auc(err * 2 + 1, err, 1.0) == pytest.approx(1.0)
    assert worst_fraction_auc(err**2, err, 0.1) == pytest.approx(1.0)
    assert worst_fraction_auc(-err, err, 0.1) == pytest.approx(0.0)
    noise = rng.uniform(0, 1, 4000)  # independent of the error
    assert roc_auc(noise, err, 1.0) == pytest.approx(0.5, abs=0.03)
    assert worst_fraction_auc(noise, err, 0.1) == pytest.approx(0.5, abs=0.04)


def test_worst_fraction_counts_ties_and_checks_the_fraction() -> None:
    # worst 25 % of four: the single largest error; u ranks it second of four
    assert worst_fraction_auc([1, 4, 2, 3], [0, 0, 0, 9], 0.25) == pytest.approx(2 / 3)
    # ties with the cut are all positives: 3 positives (err 5), 1 negative
    assert worst_fraction_auc([4, 3, 2, 1], [5, 5, 5, 0], 0.25) == pytest.approx(1.0)
    assert math.isnan(worst_fraction_auc([1, 2], [3, 3], 0.5))  # every structure is among the worst
    with pytest.raises(ValueError, match="fraction"):
        worst_fraction_auc([1], [1], 1.0)


def _toolbox_area(std: np.ndarray, err: np.ndarray) -> float:
    """uncertainty-toolbox's miscalibration_area (interval, 100 bins) written out independently:
    scipy's normal quantile and the quadrilateral of each segment, split where the lines cross."""
    stats = pytest.importorskip("scipy.stats")
    p = np.linspace(0, 1, 100)
    bound = stats.norm.ppf(0.5 + p / 2)
    obs = np.array([np.mean(np.abs(err) / std <= b) for b in bound])
    area = 0.0
    for i in range(99):
        a, b, w = obs[i] - p[i], obs[i + 1] - p[i + 1], p[i + 1] - p[i]
        if a * b < 0:
            x = w * abs(a) / (abs(a) + abs(b))  # where the curve meets the diagonal
            area += 0.5 * abs(a) * x + 0.5 * abs(b) * (w - x)
        else:
            area += 0.5 * w * abs(a + b)
    return area


def test_miscalibration_area_hand_values_and_reference() -> None:
    # zero errors: every interval holds every error, observed 1 for all p: ∫(1 - p) dp = 1/2
    assert miscalibration_area([1.0, 2.0], [0.0, 0.0]) == pytest.approx(0.5)
    # errors far beyond σ: observed 0 until p = 1 (the last segment closes the gap linearly)
    h = 1 / 99
    expected = 0.5 * (98 * h) ** 2 + 0.5 * h * 98 * h
    assert miscalibration_area([1e-9, 1e-9], [1.0, -1.0]) == pytest.approx(expected)
    rng = np.random.default_rng(2)
    std = rng.uniform(0.5, 2.0, 500)
    err = rng.normal(0, 1, 500) * std * rng.uniform(0.3, 1.8, 500)  # crosses the diagonal
    assert miscalibration_area(std, err) == pytest.approx(_toolbox_area(std, err), abs=1e-12)
    assert math.isnan(miscalibration_area([0.0, np.nan], [1.0, 1.0]))  # no σ > 0


def test_calibrated_gaussian_errors_have_small_area() -> None:
    rng = np.random.default_rng(0)
    std = rng.uniform(0.001, 0.05, 20000)  # eV/atom
    err = rng.normal(0, 1, 20000) * std
    assert miscalibration_area(std, err) < 0.01
    assert miscalibration_area(std / 3, err) > 0.25  # overconfident by 3x
    assert miscalibration_area(std * 3, err) > 0.2  # underconfident by 3x


def test_gaussian_nll_hand_values() -> None:
    assert gaussian_nll([1.0], [0.0]) == pytest.approx(0.5 * math.log(2 * math.pi))
    assert gaussian_nll([2.0, 1.0], [2.0, 0.0]) == pytest.approx(
        (0.5 * math.log(8 * math.pi) + 0.5 + 0.5 * math.log(2 * math.pi)) / 2
    )
    assert gaussian_nll([1.0, 0.0, np.nan], [0.0, 1.0, 1.0]) == pytest.approx(0.5 * math.log(2 * math.pi))
    assert math.isnan(gaussian_nll([0.0], [1.0]))


def test_gaussian_nll_is_smallest_at_the_true_sigma() -> None:
    rng = np.random.default_rng(4)
    sigma = 0.02
    err = rng.normal(0, sigma, 20000)
    scales = np.linspace(0.5, 2.0, 31)  # steps of 0.05
    nll = [gaussian_nll(np.full(err.size, sigma * s), err) for s in scales]
    assert scales[int(np.argmin(nll))] == pytest.approx(1.0, abs=0.05)
