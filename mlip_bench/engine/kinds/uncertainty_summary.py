"""The potential's own uncertainty next to an error: what error kinds (``rmse``) add to a cell and
to each structure group when the potential declares one (adapters/uncertainty.py), so a reader sees
"this phase is off by 40 meV/atom, and γ said so" beside the error itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlip_bench.adapters.uncertainty import UncertaintyInfo
from mlip_bench.metrics.uncertainty import share_above

#: metric names this module adds (cell and group values): a grade (γ, dimensionless) and a
#: standard deviation (σ_E, meV/atom) get their own names, so no column mixes the two
GAMMA_MEDIAN = "gamma_median"
GAMMA_SHARE = "gamma_share_above_select"
SIGMA_MEDIAN = "sigma_median_meV_per_atom"
SIGMA_SHARE = "sigma_share_above_select"
NAMES = frozenset({GAMMA_MEDIAN, GAMMA_SHARE, SIGMA_MEDIAN, SIGMA_SHARE})


def uncertainty_values(values: Sequence[float | None], info: UncertaintyInfo | None) -> dict[str, float]:
    """The median uncertainty (γ; or σ_E in meV/atom for a standard deviation, declared in eV/atom)
    and, where the potential declares thresholds, the share of structures above the first (γ_select
    for a grade). Empty when the potential has no uncertainty or no structure reported one."""
    if info is None:
        return {}
    u = np.array([v for v in values if v is not None], dtype=float)
    if not u.size:
        return {}
    median, share, scale = (SIGMA_MEDIAN, SIGMA_SHARE, 1000.0) if info.is_std else (GAMMA_MEDIAN, GAMMA_SHARE, 1.0)
    out = {median: float(np.median(u)) * scale}
    if info.thresholds:
        out[share] = share_above(u, info.thresholds[0])
    return out
