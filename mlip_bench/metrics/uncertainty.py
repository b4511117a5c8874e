"""How well a potential's own uncertainty tracks its errors: pure functions from arrays to numbers.

`u` is the uncertainty of each structure (an extrapolation grade γ, or a predicted standard
deviation σ), `err` its error (any unit; absolute values are taken where only the size counts).
Every function takes 1-D arrays of one length (any other shape: ValueError), drops each pair with
a NaN or inf on either side, and returns NaN when too few pairs are left to say anything.

- :func:`spearman_rho`: rank correlation of u and |err| (mid-ranks for ties).
- :func:`share_above`: share of structures with u above a threshold (γ_select, γ_break).
- :func:`binned_errors`: equal-count bins by u, with each bin's error.
- :func:`roc_auc`, :func:`worst_fraction_auc`: u as a score flagging large errors.
- :func:`miscalibration_area`, :func:`gaussian_nll`: σ read as the standard deviation of a Gaussian
  error (Kuleshov et al., ICML 2018; Tran et al., Mach. Learn.: Sci. Technol. 1 (2020) 045018;
  uncertainty-toolbox's ``miscalibration_area`` with ``prop_type="interval"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

#: fewest pairs a rank correlation is computed from
MIN_PAIRS_RANK = 3
#: grid of expected proportions of the miscalibration area (uncertainty-toolbox's default)
CALIBRATION_GRID_POINTS = 100


def _pairs(a: ArrayLike, b: ArrayLike, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The finite pairs of two 1-D arrays of one length; ValueError naming them otherwise."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{names[0]} {x.shape} and {names[1]} {y.shape} must be 1-D arrays of one length")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _finite(a: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(a, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {x.shape}")
    return x[np.isfinite(x)]


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `values` (1-D), ties sharing the mean of their ranks (scipy's "average")."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # start index of each run of equal values, and the mean rank of the run
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def spearman_rho(u: ArrayLike, err: ArrayLike) -> float:
    """Spearman's ρ of `u` and |`err`| (Pearson correlation of their mid-ranks), in [-1, 1].
    NaN with fewer than :data:`MIN_PAIRS_RANK` finite pairs or when either side is constant."""
    x, y = _pairs(u, err, ("u", "err"))
    if x.size < MIN_PAIRS_RANK:
        return float("nan")
    rx, ry = midranks(x), midranks(np.abs(y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / denominator if denominator > 0 else float("nan")


def share_above(u: ArrayLike, threshold: float) -> float:
    """Share (0-1) of the finite values of `u` strictly above `threshold` (γ > γ_select selects a
    structure, paper 002 App. E). NaN for no finite value or a NaN threshold."""
    x = _finite(u, "u")
    if x.size == 0 or math.isnan(threshold):
        return float("nan")
    return float(np.mean(x > threshold))


@dataclass(frozen=True)
class BinnedErrors:
    """Errors in equal-count bins of u (sorted by u; bin sizes differ by at most one).

    Per bin: `u_median` (the bin's centre), `u_min`/`u_max` (its range), `error_mean` and
    `error_median` of |err|, `counts`. Arrays have one entry per bin, in increasing u."""

    u_median: np.ndarray
    u_min: np.ndarray
    u_max: np.ndarray
    error_mean: np.ndarray
    error_median: np.ndarray
    counts: np.ndarray


def binned_errors(u: ArrayLike, err: ArrayLike, n_bins: int) -> BinnedErrors:
    """|`err`| in min(`n_bins`, n) equal-count bins by `u` (finite pairs only; no pair: empty
    arrays). Raises ValueError for `n_bins` < 1 or mismatched shapes."""
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    x, y = _pairs(u, err, ("u", "err"))
    order = np.argsort(x, kind="mergesort")
    bins = [b for b in np.array_split(order, min(int(n_bins), x.size)) if b.size] if x.size else []

    def per_bin(values: np.ndarray, f: object) -> np.ndarray:
        return np.array([f(values[b]) for b in bins], dtype=float)  # type: ignore[operator]

    abs_err = np.abs(y)
    return BinnedErrors(
        u_median=per_bin(x, np.median),
        u_min=per_bin(x, np.min),
        u_max=per_bin(x, np.max),
        error_mean=per_bin(abs_err, np.mean),
        error_median=per_bin(abs_err, np.median),
        counts=np.array([b.size for b in bins], dtype=int),
    )


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `score` for boolean labels `positive` (Mann-Whitney U with
    mid-ranks, so a tie counts one half); NaN when a class is empty."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(midranks(score)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def roc_auc(u: ArrayLike, err: ArrayLike, error_threshold: float) -> float:
    """ROC AUC of `u` as the score flagging structures with |`err`| > `error_threshold` (1: every
    such structure has a larger u than every other; 0.5: u says nothing). NaN when no structure,
    or every structure, is above the threshold."""
    x, y = _pairs(u, err, ("u", "err"))
    return _auc(x, np.abs(y) > error_threshold)


def worst_fraction_auc(u: ArrayLike, err: ArrayLike, fraction: float) -> float:
    """ROC AUC of `u` flagging the worst `fraction` (0-1) of structures by |`err`|: the ⌈fraction·n⌉
    largest errors, with every structure tied with the smallest of them. Raises ValueError for a
    fraction outside (0, 1); NaN when every structure is among the worst."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    x, y = _pairs(u, err, ("u", "err"))
    if x.size == 0:
        return float("nan")
    size = np.abs(y)
    k = math.ceil(fraction * size.size)
    cut = np.sort(size)[size.size - k]
    return _auc(x, size >= cut)


def calibration_curve(std: ArrayLike, err: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(expected, observed) proportions on :data:`CALIBRATION_GRID_POINTS` points of p in [0, 1]:
    observed is the share of |err| within the central Gaussian interval of probability p,
    |err| <= σ·Φ⁻¹(0.5 + p/2). Pairs with σ <= 0 are dropped (no Gaussian); no pair: empty arrays."""
    s, e = _pairs(std, err, ("std", "err"))
    keep = s > 0
    multiples = np.abs(e[keep]) / s[keep]
    expected = np.linspace(0.0, 1.0, CALIBRATION_GRID_POINTS)
    if multiples.size == 0:
        return np.zeros(0), np.zeros(0)
    normal = NormalDist()
    bounds = np.array([normal.inv_cdf(0.5 + p / 2.0) if p < 1.0 else math.inf for p in expected])
    observed = (multiples[:, None] <= bounds[None, :]).mean(axis=0)
    return expected, observed


def miscalibration_area(std: ArrayLike, err: ArrayLike) -> float:
    """Area between the calibration curve (:func:`calibration_curve`) and the diagonal, 0 (calibrated)
    to 0.5; the curve is linear between grid points and a segment that crosses the diagonal counts
    both triangles (uncertainty-toolbox's ``trapezoid_area``). `std` and `err` in one unit. NaN
    without a pair with σ > 0."""
    expected, observed = calibration_curve(std, err)
    if expected.size == 0:
        return float("nan")
    d = observed - expected
    d0, d1, width = d[:-1], d[1:], np.diff(expected)
    crossing = d0 * d1 < 0
    trapezoid = width * np.abs(d0 + d1) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        hourglass = width * (d0**2 + d1**2) / (2.0 * (np.abs(d0) + np.abs(d1)))
    return float(np.where(crossing, hourglass, trapezoid).sum())


def gaussian_nll(std: ArrayLike, err: ArrayLike) -> float:
    """Mean negative log-likelihood of `err` under N(0, σ²): mean of 0.5·log(2πσ²) + err²/(2σ²),
    in nats; `std` and `err` in one unit (the value shifts by log of a unit change). Pairs with
    σ <= 0 are dropped; NaN without a pair."""
    s, e = _pairs(std, err, ("std", "err"))
    keep = s > 0
    s, e = s[keep], e[keep]
    if s.size == 0:
        return float("nan")
    return float(np.mean(0.5 * np.log(2.0 * np.pi * s**2) + e**2 / (2.0 * s**2)))
