"""Pure metric functions (arrays in, numbers out; NaN-aware)."""

from mlip_bench.metrics.alignment import fit_elemental_offsets
from mlip_bench.metrics.errors import ErrorStats, error_stats, mae, max_abs, rmse

__all__ = ["ErrorStats", "error_stats", "fit_elemental_offsets", "mae", "max_abs", "rmse"]
