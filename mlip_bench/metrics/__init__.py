"""Pure metric functions (arrays in, numbers out; NaN-aware)."""

from mlip_bench.metrics.alignment import fit_elemental_offsets
from mlip_bench.metrics.errors import ErrorStats, error_stats, mae, max_abs, rmse
from mlip_bench.metrics.forces import ForceNac, force_errors_on_atoms, force_nac, nac, p_d
from mlip_bench.metrics.hull import HullComparison, formation_energies, hull_comparison, transition_composition
from mlip_bench.metrics.ranking import LecResult, RankingStats, lowest_energy_configuration, ranking_errors
from mlip_bench.metrics.score import validation_score

__all__ = [
    "ErrorStats",
    "ForceNac",
    "HullComparison",
    "LecResult",
    "RankingStats",
    "error_stats",
    "fit_elemental_offsets",
    "force_errors_on_atoms",
    "force_nac",
    "formation_energies",
    "hull_comparison",
    "lowest_energy_configuration",
    "mae",
    "max_abs",
    "nac",
    "p_d",
    "ranking_errors",
    "rmse",
    "transition_composition",
    "validation_score",
]
