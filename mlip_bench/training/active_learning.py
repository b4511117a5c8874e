"""The active-learning loop: sample with the current MTP, grade, query the oracle, refit, repeat.

Sampling (start cells of several kinds, model MD graded by γ) is sampling.py; which snapshots go to
the oracle (``gamma`` or ``random``, same budget) is selection.py. The selected snapshots are
labelled by the oracle, added to the training set, and the MTP is refit starting from the previous
one (``fit_mtp(..., initial=...)``). Each finished iteration is kept in its own folder (training
set, model, log with checksums), so a rerun skips finished iterations; all random streams derive
from (seed, iteration), so a resumed loop equals an uninterrupted one.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from mlip_bench.adapters.active_set import ActiveSetKey, build
from mlip_bench.adapters.mtp import MTPCalculator, training_basis
from mlip_bench.adapters.uncertainty import GAMMA_BREAK, GAMMA_SELECT
from mlip_bench.data.extxyz import sha256_of
from mlip_bench.engine.integrity import write_atomic
from mlip_bench.errors import MlipBenchError
from mlip_bench.metrics.errors import rmse
from mlip_bench.training.fit_mtp import MtpFitSettings, fit_mtp
from mlip_bench.training.learning_curve import (
    MODEL_NAME,
    TRAINING_NAME,
    IterationLog,
    ModelState,
    load_state,
    write_log,
)
from mlip_bench.training.oracle import Oracle
from mlip_bench.training.sampling import (
    Candidate,
    CellSettings,
    Sample,
    SamplingSettings,
    draw_kinds,
    perturbed_cells,
    sample,
    start_cell,
)
from mlip_bench.training.selection import STRATEGIES, select

__all__ = [
    "STRATEGIES", "Candidate", "CellSettings", "LoopSettings", "Sample", "SamplingSettings", "fit_state",
    "graded_calculator", "model_errors", "perturbed_cells", "run_loop", "sample", "select", "training_atoms",
]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class LoopSettings:
    """`strategy` ("gamma" or "random"), `n_iterations` refits after the initial fit, at most
    `calls_per_iteration` oracle calls each; γ thresholds (dimensionless) as paper 002's."""

    strategy: str
    n_iterations: int
    calls_per_iteration: int
    fit: MtpFitSettings
    cells: CellSettings = field(default_factory=CellSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    gamma_select: float = GAMMA_SELECT
    gamma_break: float = GAMMA_BREAK
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")


def graded_calculator(mtp_path: Path, training: Sequence[Atoms], species: Sequence[str]) -> MTPCalculator:
    """An MTP calculator that reports γ against the MaxVol active set of `training`. Raises
    PotentialError (e.g. fewer training atoms than basis functions)."""
    plain = MTPCalculator(mtp_path, species)
    key = ActiveSetKey(sha256_of(mtp_path), tuple(species), f"{len(training)} structures", 0)
    return MTPCalculator(mtp_path, species, active_set=build(key, training_basis(plain, training)))


def run_loop(
    settings: LoopSettings,
    *,
    oracle: Oracle,
    initial: ModelState,
    test: Sequence[Atoms],
    workdir: Path,
    report: Callable[[ModelState], None] | None = None,
) -> list[ModelState]:
    """Iterations 1..n after `initial` (iteration 0), each kept under ``workdir/iter_NNN``; finished
    ones are loaded, not redone. `report(state)` is called for each iteration as it is done or loaded.
    Returns the states of iterations 0..n. Raises what fitting, the oracle or the MTP raise."""
    states = [initial]
    species = settings.fit.species
    for iteration in range(1, settings.n_iterations + 1):
        folder = workdir / f"iter_{iteration:03d}"
        previous = states[-1]
        state = load_state(folder)
        if state is None or state.log.oracle_calls < previous.log.oracle_calls:
            state = _iterate(settings, oracle, previous, test, folder, iteration, species)
        states.append(state)
        if report is not None:
            report(state)
    return states


def _iterate(
    settings: LoopSettings,
    oracle: Oracle,
    previous: ModelState,
    test: Sequence[Atoms],
    folder: Path,
    iteration: int,
    species: Sequence[str],
) -> ModelState:
    seed = settings.seed * 100_003 + iteration
    training = training_atoms(previous.training_path)
    calc = graded_calculator(previous.mtp_path, training, species)
    rng = np.random.default_rng([seed, 0])
    starts = [
        start_cell(settings.cells, kind, rng)
        for kind in draw_kinds(settings.cells, settings.sampling.n_trajectories, rng)
    ]
    found = sample(calc, starts, settings.sampling, cells=settings.cells, gamma_break=settings.gamma_break, seed=seed)
    chosen = select(
        found, strategy=settings.strategy, n=settings.calls_per_iteration, gamma_select=settings.gamma_select, seed=seed
    )
    began = time.perf_counter()
    batch = oracle.label([c.atoms for c in chosen])
    oracle_seconds = time.perf_counter() - began
    grades = np.array([c.gamma for c in found.candidates], dtype=float)
    stats = {
        "iteration": iteration,
        "strategy": settings.strategy,
        "oracle_calls": previous.log.oracle_calls + len(chosen),
        "new_structures": len(batch.labelled),
        "oracle_failures": len(batch.failed),
        "md_steps": previous.log.md_steps + found.md_steps,
        "loop_oracle_calls": previous.log.loop_oracle_calls + len(chosen),
        "snapshots": len(found.candidates),
        "above_select": int(np.sum(grades >= settings.gamma_select)),
        "broken_trajectories": found.broken,
        "max_gamma": float(np.nanmax(grades)) if np.isfinite(grades).any() else float("nan"),
        "sample_seconds": found.seconds,
        "oracle_seconds": oracle_seconds,
    }
    return fit_state(
        [*training, *batch.labelled], folder, settings.fit, test=test, initial=previous.mtp_path, stats=stats
    )


def training_atoms(path: Path) -> list[Atoms]:
    """The labelled structures of an extxyz training file (SinglePointCalculator results)."""
    from ase.io import read

    return list(read(path, index=":", format="extxyz"))


def fit_state(
    structures: Sequence[Atoms],
    folder: Path,
    settings: MtpFitSettings,
    *,
    test: Sequence[Atoms],
    initial: Path | None,
    stats: dict[str, Any],
) -> ModelState:
    """Write the training set to `folder`, fit it (from `initial`), score the model on `test` and
    write the iteration's log (last). The fit reads the training set back from its file, so a loop
    resumed from the files fits exactly what an uninterrupted one did."""
    from ase.io import write

    buffer = io.StringIO()
    write(buffer, list(structures), format="extxyz")
    write_atomic(folder / TRAINING_NAME, buffer.getvalue().encode())
    training = training_atoms(folder / TRAINING_NAME)
    fit = fit_mtp(training, settings, workdir=folder / "fit", initial=initial)
    shutil.copyfile(fit.mtp_path, folder / MODEL_NAME)
    errors = model_errors(folder / MODEL_NAME, settings.species, test)
    log = IterationLog(
        **stats,
        n_training=len(training),
        test_energy_rmse_meV_per_atom=errors.energy_rmse_meV_per_atom,
        test_force_rmse_eV_per_A=errors.force_rmse_eV_per_A,
        test_energy_max_meV_per_atom=errors.energy_max_meV_per_atom,
        test_force_max_eV_per_A=errors.force_max_eV_per_A,
        test_energy_rmse_by_kind_meV_per_atom=errors.energy_by_kind_meV_per_atom,
        test_failures=errors.failures,
        train_energy_rmse_meV_per_atom=fit.energy_rmse_meV_per_atom,
        train_force_rmse_eV_per_A=fit.force_rmse_eV_per_A,
        fit_seconds=fit.seconds,
        training_sha256=sha256_of(folder / TRAINING_NAME),
        mtp_sha256=sha256_of(folder / MODEL_NAME),
    )
    return write_log(folder, log)


@dataclass(frozen=True)
class TestErrors:
    """A model's errors on the labelled test set: energy per atom RMSE and largest |error|
    (meV/atom), force-component RMSE and the largest per-structure force RMSE (eV/Å), the energy
    RMSE of each kind of structure (``info["kind"]``; meV/atom), structures it failed on."""

    __test__ = False  # not a pytest class

    energy_rmse_meV_per_atom: float
    force_rmse_eV_per_A: float
    energy_max_meV_per_atom: float
    force_max_eV_per_A: float
    energy_by_kind_meV_per_atom: dict[str, float]
    failures: int


def model_errors(mtp_path: Path, species: Sequence[str], test: Sequence[Atoms]) -> TestErrors:
    """The MTP's :class:`TestErrors` against the labelled `test` structures."""
    calc = MTPCalculator(mtp_path, species)
    energy: list[float] = []
    forces: list[np.ndarray] = []
    kinds: list[str] = []
    failures = 0
    for ref in test:
        work = ref.copy()
        work.calc = calc
        try:
            e, f = work.get_potential_energy(), work.get_forces()
        except MlipBenchError:
            failures += 1
            continue
        if not (np.isfinite(e) and np.isfinite(f).all()):
            failures += 1
            continue
        energy.append(1000.0 * (e - ref.get_potential_energy()) / len(ref))
        forces.append(f - ref.get_forces())
        kinds.append(str(ref.info.get("kind", "bulk")))
    by_kind = {k: rmse([e for e, kk in zip(energy, kinds, strict=True) if kk == k]) for k in sorted(set(kinds))}
    return TestErrors(
        energy_rmse_meV_per_atom=rmse(energy),
        force_rmse_eV_per_A=rmse(np.concatenate(forces) if forces else []),
        energy_max_meV_per_atom=float(np.max(np.abs(energy))) if energy else float("nan"),
        force_max_eV_per_A=max((rmse(f) for f in forces), default=float("nan")),
        energy_by_kind_meV_per_atom=by_kind,
        failures=failures,
    )
