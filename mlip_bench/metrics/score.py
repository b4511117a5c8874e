"""Total validation score V of paper 001 (Liu & Mo, Acta Mater. 268 (2024) 119742, Methods Eq. (1), (2)).

Each criterion c (one value per model variant) is standardized as v = (c - min c) / std(c) and the
score is V = sum_c (w_c v_c)^2; the lowest V is the best model. A criterion where higher is better
enters as -c, i.e. v = (max c - c) / std(c): NAC with higher_is_better=True gives the same v as the
paper's Delta NAC = 1 - NAC with higher_is_better=False. v does not depend on the criterion's unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Criterion:
    """One criterion of the paper's validation score: key, the paper's symbol and meaning, unit,
    direction and weight."""

    key: str
    symbol: str
    description: str
    unit: str
    higher_is_better: bool
    weight: float


PAPER_001_CRITERIA: tuple[Criterion, ...] = (
    Criterion("sigma_E_train", "σ_E^train", "RMSE of energies on the training data", "meV/atom", False, 1.0),
    Criterion("sigma_E_validation", "σ_E^validation", "RMSE of energies on D_validation", "meV/atom", False, 1.0),
    Criterion("sigma_F_train", "σ_F^train", "RMSE of forces on the training data", "eV/Å", False, 1.0),
    Criterion("sigma_F_validation", "σ_F^validation", "RMSE of forces on D_validation", "eV/Å", False, 1.0),
    Criterion(
        "dnac_F_train",
        "ΔNAC(|δ_F|, D_train)",
        "1 - NAC of force-magnitude errors (0-1.5 eV/Å), training data",
        "1",
        False,
        1.0,
    ),
    Criterion(
        "dnac_theta_train",
        "ΔNAC(δ_θ, D_train)",
        "1 - NAC of force-direction errors (0-180°), training data",
        "1",
        False,
        1.0,
    ),
    Criterion(
        "dnac_F_validation",
        "ΔNAC(|δ_F|, D_validation)",
        "1 - NAC of force-magnitude errors, D_validation",
        "1",
        False,
        1.0,
    ),
    Criterion(
        "dnac_theta_validation",
        "ΔNAC(δ_θ, D_validation)",
        "1 - NAC of force-direction errors, D_validation",
        "1",
        False,
        1.0,
    ),
    Criterion(
        "n_large_forces", "N_F", "number of large predicted forces over all atoms of D_irregular", "1", False, 1.5
    ),
    Criterion(
        "n_low_energies", "N_E", "number of D_irregular configurations predicted below -10 eV/atom", "1", False, 1.5
    ),
)
PAPER_001_WEIGHTS: Mapping[str, float] = MappingProxyType({c.key: c.weight for c in PAPER_001_CRITERIA})
PAPER_001_HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType(
    {c.key: c.higher_is_better for c in PAPER_001_CRITERIA}
)


def _standardized(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Eq. (1) over the finite entries (NaN stays NaN); all-equal finite values give 0."""
    c = -values if higher_is_better else values
    finite = c[np.isfinite(c)]
    if finite.size == 0:
        return np.full(c.shape, np.nan)
    spread = float(np.std(finite))
    if spread == 0.0:
        # a criterion every model meets equally does not separate them
        return np.where(np.isfinite(c), 0.0, np.nan)
    return (c - finite.min()) / spread


def validation_score(
    criteria: Mapping[str, Sequence[float]],
    *,
    higher_is_better: Mapping[str, bool],
    weights: Mapping[str, float],
) -> tuple[float, ...]:
    """V of each model, in the order of the value sequences (lower is better).

    criteria: {name: one value per model}; all sequences the same length. higher_is_better must
    name every criterion; weights defaults to 1 for a criterion it omits (the paper: 1.5 for N_F
    and N_E, 1 for the rest; see PAPER_001_WEIGHTS). std is the population standard deviation
    (ddof = 0; the paper does not say which). min and std are taken over the models with a finite
    value; a model with a NaN criterion gets V = NaN (skipping the term would lower, i.e. improve,
    its score). Raises ValueError on unequal lengths, no criteria, a criterion without direction,
    or a direction/weight for an unknown criterion.
    """
    if not criteria:
        raise ValueError("validation_score: no criteria")
    names = list(criteria)
    missing = [name for name in names if name not in higher_is_better]
    unknown = sorted((set(higher_is_better) | set(weights)) - set(names))
    if missing or unknown:
        raise ValueError(f"validation_score: no direction for {missing}; direction/weight for unknown {unknown}")
    table = [np.asarray(criteria[name], dtype=float) for name in names]
    lengths = {name: values.shape for name, values in zip(names, table, strict=True)}
    if len({shape for shape in lengths.values()}) != 1 or table[0].ndim != 1:
        raise ValueError(f"validation_score: every criterion needs one value per model, got shapes {lengths}")
    total = np.zeros(table[0].size)
    for name, values in zip(names, table, strict=True):
        total += (float(weights.get(name, 1.0)) * _standardized(values, bool(higher_is_better[name]))) ** 2
    return tuple(float(v) for v in total)
