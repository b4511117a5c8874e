"""Error statistics: pure functions from arrays to numbers. NaN entries are ignored (a failed
item is counted by the caller, not hidden in a mean); an empty input gives NaN."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def _finite(errors: ArrayLike) -> np.ndarray:
    arr = np.asarray(errors, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def mae(errors: ArrayLike) -> float:
    """Mean absolute error over the finite entries of `errors` (any shape)."""
    arr = _finite(errors)
    return float(np.mean(np.abs(arr))) if arr.size else float("nan")


def rmse(errors: ArrayLike) -> float:
    """Root-mean-square error over the finite entries of `errors` (any shape)."""
    arr = _finite(errors)
    return float(np.sqrt(np.mean(arr**2))) if arr.size else float("nan")


def max_abs(errors: ArrayLike) -> float:
    """Largest absolute error over the finite entries of `errors` (any shape)."""
    arr = _finite(errors)
    return float(np.max(np.abs(arr))) if arr.size else float("nan")


@dataclass(frozen=True)
class ErrorStats:
    mae: float
    rmse: float
    max: float
    n: int


def error_stats(errors: ArrayLike, *, scale: float = 1.0) -> ErrorStats:
    """MAE, RMSE and max |error| of `errors` times `scale` (e.g. 1000 for eV -> meV)."""
    arr = _finite(errors) * scale
    return ErrorStats(mae=mae(arr), rmse=rmse(arr), max=max_abs(arr), n=int(arr.size))
