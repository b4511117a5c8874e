"""Precomputed predictions as a potential (``predictions:FILE``), the way benchmark submissions
are made: FILE is any dataset file (extxyz or parquet) whose frames carry the predicted energy,
forces and stress and the same ``id`` as the dataset's structures."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlip_bench.adapters.base import Adapter, PotentialInfo
from mlip_bench.data.frames import Frame
from mlip_bench.data.registry import load_file
from mlip_bench.errors import EvaluationError, PotentialError

#: positions in the predictions file must match the dataset's to this tolerance (Å)
POSITION_TOLERANCE_A = 1e-5


@cache
def _load(path: str) -> tuple[str, dict[str, Frame]]:
    dataset = load_file(path)
    by_id: dict[str, Frame] = {}
    for frame in dataset.frames:
        if frame.id in by_id:
            raise PotentialError(f"{path}: structure id {frame.id!r} appears twice")
        by_id[frame.id] = frame
    return dataset.provenance.sha256, by_id


class PredictionsCalculator(Calculator):  # type: ignore[misc]
    """Looks up the prediction for ``atoms.info['id']``; raises EvaluationError on any mismatch, and
    for a structure whose predicted values in the file are non-finite or malformed."""

    implemented_properties = ["energy", "forces", "stress"]  # noqa: RUF012 (ASE declares it as a list)

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.by_id = _load(path)[1]

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        key = str(atoms.info.get("id", ""))
        frame = self.by_id.get(key)
        if frame is None:
            raise EvaluationError(f"{self.path}: no prediction for structure id {key!r}")
        problem = frame.problem()  # a NaN or malformed value in the file fails this structure only
        if problem:
            raise EvaluationError(f"predictions file {problem}")
        if not np.array_equal(frame.atoms.numbers, atoms.numbers):
            raise EvaluationError(f"{self.path}: structure {key!r}: species differ from the dataset's")
        if np.abs(frame.atoms.positions - atoms.positions).max() > POSITION_TOLERANCE_A:
            raise EvaluationError(f"{self.path}: structure {key!r}: positions differ from the dataset's")
        if frame.energy_eV is None:
            raise EvaluationError(f"{self.path}: structure {key!r}: no predicted energy")
        self.results = {"energy": frame.energy_eV}
        if frame.forces_eV_per_A is not None:
            self.results["forces"] = frame.forces_eV_per_A
        if frame.stress_eV_per_A3 is not None:
            self.results["stress"] = frame.stress_eV_per_A3


class PredictionsAdapter(Adapter):
    name = "predictions"
    summary = "precomputed energies/forces/stresses for a dataset, matched by structure id"
    example = "predictions:my_model_on_cu_test.extxyz"

    def describe(self, arg: str) -> PotentialInfo:
        if not arg or not Path(arg).exists():
            raise PotentialError(f"predictions needs an existing file: predictions:FILE ({arg!r} not found)")
        sha, by_id = _load(arg)
        elements: set[str] = set()
        for frame in by_id.values():
            elements |= frame.elements
        return PotentialInfo(
            spec=f"predictions:{arg}",
            name=f"predictions {Path(arg).name}",
            family=self.name,
            version=f"sha256 {sha[:16]}",
            elements=frozenset(elements),
            options={"structures": str(len(by_id))},
        )

    def make_calculator(self, arg: str) -> Any:
        return PredictionsCalculator(arg)
