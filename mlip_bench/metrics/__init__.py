"""Pure metric functions (arrays in, numbers out; NaN-aware).

Names are resolved lazily (module ``__getattr__``): ``from mlip_bench.metrics import rmse`` imports
only numpy, and pymatgen (hull) or scipy.stats (ranking) load when a function that needs them runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlip_bench.metrics.alignment import fit_elemental_offsets
    from mlip_bench.metrics.errors import ErrorStats, error_stats, mae, max_abs, rmse
    from mlip_bench.metrics.forces import ForceNac, force_errors_on_atoms, force_nac, nac, p_d
    from mlip_bench.metrics.hull import HullComparison, formation_energies, hull_comparison, transition_composition
    from mlip_bench.metrics.pareto import pareto_front
    from mlip_bench.metrics.ranking import LecResult, RankingStats, lowest_energy_configuration, ranking_errors
    from mlip_bench.metrics.score import validation_score
    from mlip_bench.metrics.uncertainty import (
        BinnedErrors,
        binned_errors,
        gaussian_nll,
        miscalibration_area,
        roc_auc,
        share_above,
        spearman_rho,
        worst_fraction_auc,
    )

#: public name -> the submodule defining it
_WHERE = {
    "fit_elemental_offsets": "alignment",
    **dict.fromkeys(("ErrorStats", "error_stats", "mae", "max_abs", "rmse"), "errors"),
    **dict.fromkeys(("ForceNac", "force_errors_on_atoms", "force_nac", "nac", "p_d"), "forces"),
    **dict.fromkeys(("HullComparison", "formation_energies", "hull_comparison", "transition_composition"), "hull"),
    **dict.fromkeys(("LecResult", "RankingStats", "lowest_energy_configuration", "ranking_errors"), "ranking"),
    "validation_score": "score",
    "pareto_front": "pareto",
    **dict.fromkeys(
        (
            "BinnedErrors",
            "binned_errors",
            "gaussian_nll",
            "miscalibration_area",
            "roc_auc",
            "share_above",
            "spearman_rho",
            "worst_fraction_auc",
        ),
        "uncertainty",
    ),
}

__all__ = [
    "BinnedErrors",
    "ErrorStats",
    "ForceNac",
    "HullComparison",
    "LecResult",
    "RankingStats",
    "binned_errors",
    "error_stats",
    "fit_elemental_offsets",
    "force_errors_on_atoms",
    "force_nac",
    "formation_energies",
    "gaussian_nll",
    "hull_comparison",
    "lowest_energy_configuration",
    "mae",
    "max_abs",
    "miscalibration_area",
    "nac",
    "p_d",
    "pareto_front",
    "ranking_errors",
    "rmse",
    "roc_auc",
    "share_above",
    "spearman_rho",
    "transition_composition",
    "validation_score",
    "worst_fraction_auc",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
