"""Oracle calls as cached, resumable work items.

An oracle is whatever gives the reference energy, forces and stress of a structure: a potential
spec (``eam:Al_mm.eam.fs``, ``gpaw:...``, any adapter) or an ASE calculator given with a name. Each
call is a work item keyed by the oracle's identity and the structure's content hash, kept in the
result store's artifact folder (``<results>/artifacts/items/``, :class:`ArtifactStore`) as soon
as it is done: a structure is never sent to the same oracle twice, and a killed run resumes with
every finished call in place. Spec oracles can run on the engine's executors (worker processes,
Dask); calculator oracles run in this process (a calculator need not pickle).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_bench.engine.artifacts import ArtifactStore, content_key
from mlip_bench.engine.evaluate import predict
from mlip_bench.engine.executors import Executor
from mlip_bench.engine.identity import potential_identity
from mlip_bench.errors import EvaluationError, PotentialError
from mlip_bench.paths import using_data_root

#: part of every oracle item key: bump when the stored label layout changes
ORACLE_FORMAT = "mlip-bench oracle label v1"


@dataclass(frozen=True)
class OracleLabel:
    """One oracle result: total energy (eV), forces (n_atoms x 3, eV/Å), stress (6 Voigt, eV/Å³,
    tensile positive; empty for a non-periodic cell) and the seconds the oracle took."""

    energy_eV: float
    forces_eV_per_A: tuple[tuple[float, ...], ...]
    stress_eV_per_A3: tuple[float, ...]
    seconds: float


@dataclass(frozen=True)
class OracleJob:
    """One structure for a spec oracle: picklable, so any executor can run it."""

    spec: str
    data_root: str | None
    label: str
    atoms: Atoms


@dataclass(frozen=True)
class OracleBatch:
    """Labels of a batch, in input order: `labelled` holds a copy of each structure that the oracle
    could label, with its results on a SinglePointCalculator (``info["oracle_index"]``: its index in
    the batch); `failed` (index, reason) the others. `computed`: oracle calls made now; `cached`:
    labels found in the store."""

    labelled: tuple[Atoms, ...]
    failed: tuple[tuple[int, str], ...]
    computed: int
    cached: int


def structure_hash(atoms: Atoms) -> str:
    """sha256 of what a label depends on: atomic numbers, positions (Å), cell (Å), pbc (exact bits)."""
    digest = hashlib.sha256()
    for array in (
        np.asarray(atoms.numbers, dtype="<i8"),
        np.asarray(atoms.positions, dtype="<f8"),
        np.asarray(atoms.cell[:], dtype="<f8"),
        np.asarray(atoms.pbc, dtype=bool),
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def labelled_atoms(atoms: Atoms, label: OracleLabel) -> Atoms:
    """A copy of `atoms` carrying `label` as a SinglePointCalculator (what ``ase.io.read`` of an
    extxyz file gives)."""
    work = atoms.copy()
    work.calc = None
    results: dict[str, Any] = {"energy": label.energy_eV, "free_energy": label.energy_eV}
    results["forces"] = np.array(label.forces_eV_per_A, dtype=float).reshape(len(work), 3)
    if label.stress_eV_per_A3:
        results["stress"] = np.array(label.stress_eV_per_A3, dtype=float)
    work.calc = SinglePointCalculator(work, **results)
    return work


class Oracle:
    """An oracle with its call cache. `source`: a potential spec or an ASE calculator; a calculator
    needs `name` (and should get `version`), which stand for it in the cache keys, so two different
    calculators must not share a name. `results`: the result store folder (the cache lives under
    ``<results>/artifacts``); None keeps no cache. Raises PotentialError for an unknown spec or a
    calculator without a name. `executor`: where a spec oracle's calls run unless a call names
    another (None: in this process); ``mlip-bench train --executor/--workers`` sets it."""

    def __init__(
        self,
        source: str | Any,
        *,
        results: str | Path | None,
        name: str = "",
        version: str = "",
        data_root: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.data_root = data_root
        self.executor = executor
        self.store = None if results is None else ArtifactStore(Path(results) / "artifacts")
        self._calculator: Any = None
        if isinstance(source, str):
            from mlip_bench.adapters.registry import load_potential

            with using_data_root(data_root):
                potential = load_potential(source)
            self.spec: str | None = source
            self.name = name or potential.info.name
            self.identity: list[object] = potential_identity(potential)
        else:
            if not name:
                raise PotentialError("Oracle: a calculator oracle needs a name (it identifies the cached calls)")
            self.spec, self.name, self._calculator = None, name, source
            self.identity = ["calculator", name, version, f"{type(source).__module__}.{type(source).__qualname__}"]

    @property
    def digest(self) -> str:
        """16 hex of the oracle's identity (for file names and provenance)."""
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def key(self, atoms: Atoms) -> str:
        """The item key of one call: the oracle's identity and the structure's content hash."""
        return content_key(ORACLE_FORMAT, self.identity, structure_hash(atoms))

    def label(self, structures: Sequence[Atoms], *, executor: Executor | None = None) -> OracleBatch:
        """Label `structures` (cached ones from the store, the rest by the oracle, each stored as it
        finishes). `executor` runs a spec oracle's calls (default: the oracle's own, else this
        process). A structure the
        oracle fails on (EvaluationError, a crashed or timed-out worker) is listed in `failed`, not
        raised."""
        found: dict[int, OracleLabel] = {}
        failed: dict[int, str] = {}
        keys = [self.key(atoms) for atoms in structures]
        todo = []
        for index, key in enumerate(keys):
            cached = None if self.store is None else self.store.get_item(key, OracleLabel)
            if cached is None:
                todo.append(index)
            else:
                found[index] = cached
        n_cached = len(found)
        for index, outcome in self._run(structures, todo, executor or self.executor):
            if isinstance(outcome, OracleLabel):
                found[index] = outcome
                if self.store is not None:
                    self.store.put_item(keys[index], outcome)
            else:
                failed[index] = f"{type(outcome).__name__}: {outcome}"
        labelled = []
        for index in sorted(found):
            atoms = labelled_atoms(structures[index], found[index])
            atoms.info["oracle_index"] = index
            labelled.append(atoms)
        return OracleBatch(tuple(labelled), tuple(sorted(failed.items())), len(todo), n_cached)

    def _run(
        self, structures: Sequence[Atoms], todo: list[int], executor: Executor | None
    ) -> list[tuple[int, OracleLabel | BaseException]]:
        labels = [f"structure {i} ({structures[i].get_chemical_formula()}) with oracle {self.name}" for i in todo]
        if self.spec is not None and executor is not None:
            jobs = [
                OracleJob(self.spec, self.data_root, lab, structures[i]) for i, lab in zip(todo, labels, strict=True)
            ]
            return [(todo[j], outcome) for j, outcome in executor.map(run_job, jobs)]
        calc = self.calculator()
        out: list[tuple[int, OracleLabel | BaseException]] = []
        for index, lab in zip(todo, labels, strict=True):
            try:
                out.append((index, call(calc, structures[index], lab)))
            except EvaluationError as exc:
                out.append((index, exc))
        return out

    def calculator(self) -> Any:
        """The oracle's calculator in this process (built once)."""
        if self._calculator is None:
            assert self.spec is not None
            self._calculator = _spec_calculator(self.spec, self.data_root)
        return self._calculator


def call(calc: Any, atoms: Atoms, label: str) -> OracleLabel:
    """One guarded oracle call (engine.evaluate.predict); raises EvaluationError naming `label`."""
    pred = predict(calc, atoms, label=label)
    forces = pred.forces_eV_per_A
    if forces is None:
        raise EvaluationError(f"{label}: the oracle returned no forces")
    stress = () if pred.stress_eV_per_A3 is None else tuple(float(s) for s in pred.stress_eV_per_A3)
    rows = tuple(tuple(float(v) for v in row) for row in np.asarray(forces))
    return OracleLabel(float(pred.energy_eV), rows, stress, float(pred.seconds))


_CALCULATORS: dict[tuple[str, str | None], Any] = {}


def _spec_calculator(spec: str, data_root: str | None) -> Any:
    """A spec's calculator, built once per process."""
    if (spec, data_root) not in _CALCULATORS:
        from mlip_bench.adapters.registry import load_potential

        with using_data_root(data_root):
            _CALCULATORS[(spec, data_root)] = load_potential(spec).calculator()
    return _CALCULATORS[(spec, data_root)]


def run_job(job: OracleJob) -> OracleLabel:
    """Run one oracle job here (in whichever process the executor chose); raises EvaluationError."""
    with using_data_root(job.data_root):
        return call(_spec_calculator(job.spec, job.data_root), job.atoms, job.label)
