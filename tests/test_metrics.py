"""Pure metric functions: hand-built cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlip_bench.metrics import ErrorStats, error_stats, fit_elemental_offsets, mae, max_abs, rmse


@pytest.mark.parametrize(
    ("errors", "expected_mae", "expected_rmse", "expected_max"),
    [
        ([1.0, -2.0, 3.0], 2.0, math.sqrt(14 / 3), 3.0),
        ([-4.0], 4.0, 4.0, 4.0),
        ([0.0, 0.0], 0.0, 0.0, 0.0),
        ([[3.0, -4.0], [0.0, 1.0]], 2.0, math.sqrt(26 / 4), 4.0),  # any shape, flattened
    ],
)
def test_hand_built_values(errors, expected_mae, expected_rmse, expected_max):
    assert mae(errors) == pytest.approx(expected_mae, rel=1e-14, abs=1e-15)
    assert rmse(errors) == pytest.approx(expected_rmse, rel=1e-14, abs=1e-15)
    assert max_abs(errors) == pytest.approx(expected_max, rel=1e-14, abs=1e-15)


def test_results_are_python_floats():
    for func in (mae, rmse, max_abs):
        assert type(func(np.array([1.0, 2.0]))) is float


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries_are_ignored(bad):
    errors = [1.0, bad, -3.0]
    assert mae(errors) == pytest.approx(2.0)
    assert rmse(errors) == pytest.approx(math.sqrt(5.0))
    assert max_abs(errors) == pytest.approx(3.0)


@pytest.mark.parametrize("empty", [[], np.array([]), [np.nan, np.nan], np.full((2, 3), np.nan)])
def test_empty_or_all_nan_gives_nan(empty):
    assert math.isnan(mae(empty))
    assert math.isnan(rmse(empty))
    assert math.isnan(max_abs(empty))


def test_error_stats_scales_and_counts_finite_entries():
    stats = error_stats([0.001, -0.002, np.nan, 0.003], scale=1000.0)
    assert isinstance(stats, ErrorStats)
    assert stats.n == 3
    assert stats.mae == pytest.approx(2.0)
    assert stats.rmse == pytest.approx(math.sqrt(14 / 3))
    assert stats.max == pytest.approx(3.0)


def test_error_stats_default_scale_is_one():
    stats = error_stats([2.0, -2.0])
    assert (stats.mae, stats.rmse, stats.max, stats.n) == (2.0, 2.0, 2.0, 2)


def test_error_stats_empty():
    stats = error_stats([], scale=1000.0)
    assert stats.n == 0
    assert math.isnan(stats.mae) and math.isnan(stats.rmse) and math.isnan(stats.max)


# --- per-element offsets --------------------------------------------------------------------

#: atom counts of a two-element alloy (columns: Li, Al) and the offsets to recover (eV/atom)
COUNTS = np.array([[4, 0], [0, 4], [2, 2], [3, 1], [1, 7], [16, 16]], dtype=float)
MU = np.array([-0.5, 0.25])


def test_offsets_recovered_exactly_from_exact_data():
    mu, residuals = fit_elemental_offsets(COUNTS, COUNTS @ MU)
    np.testing.assert_allclose(mu, MU, rtol=0, atol=1e-12)
    assert residuals.shape == (len(COUNTS),)
    np.testing.assert_allclose(residuals, 0.0, atol=1e-12)


def test_offsets_accept_integer_lists():
    counts = [[1, 0], [0, 1], [1, 1]]
    mu, residuals = fit_elemental_offsets(counts, [2, -3, -1])
    np.testing.assert_allclose(mu, [2.0, -3.0], atol=1e-12)
    np.testing.assert_allclose(residuals, 0.0, atol=1e-12)


def test_offsets_residuals_are_per_atom_and_weighted_per_structure():
    # pure-element structures pin mu; the 1:1 structure carries an excess of +0.1 eV/atom.
    # Minimising 2x^2 + 2y^2 + (0.1 - (x + y)/2)^2 over mu = MU + (x, y) gives x = y = 0.02.
    counts = np.array([[2, 0], [0, 2], [2, 0], [0, 2], [1, 1]], dtype=float)
    excess = np.array([0.0, 0.0, 0.0, 0.0, 0.1])
    delta = counts @ MU + excess * counts.sum(axis=1)
    mu, residuals = fit_elemental_offsets(counts, delta)
    np.testing.assert_allclose(mu, MU + 0.02, atol=1e-12)
    np.testing.assert_allclose(residuals, [-0.02, -0.02, -0.02, -0.02, 0.08], atol=1e-12)


def test_offsets_ignore_nan_rows_and_keep_them_nan():
    delta = COUNTS @ MU
    delta[2] = np.nan
    mu, residuals = fit_elemental_offsets(COUNTS, delta)
    np.testing.assert_allclose(mu, MU, atol=1e-12)
    assert math.isnan(residuals[2])
    np.testing.assert_allclose(np.delete(residuals, 2), 0.0, atol=1e-12)


def test_offsets_all_nan_gives_zero_mu():
    mu, residuals = fit_elemental_offsets(COUNTS[:2], [np.nan, np.nan])
    np.testing.assert_array_equal(mu, [0.0, 0.0])
    assert np.isnan(residuals).all()


@pytest.mark.parametrize(
    ("counts", "delta"),
    [
        (np.ones((3, 2)), np.ones(4)),  # row count differs
        (np.ones(3), np.ones(3)),  # counts not 2-D
    ],
)
def test_offsets_shape_mismatch_raises(counts, delta):
    with pytest.raises(ValueError, match="do not match"):
        fit_elemental_offsets(counts, delta)
