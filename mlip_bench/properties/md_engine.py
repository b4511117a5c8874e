"""Molecular-dynamics engines behind one interface, for any property that needs MD (stress-strain
elastic constants, melting, heat cycles, ...): :class:`MdEngine` runs an :class:`MdRun` from ASE
``Atoms``, with observers and resumable checkpoints (:mod:`~mlip_bench.properties.md_core`, whose
public names are re-exported here).

- :class:`AseEngine`: ASE's integrators on any calculator: ``VelocityVerlet`` (NVE), ``Langevin``
  with a ``FixCom`` constraint (NVT), ``Inhomogeneous_NPTBerendsen`` (NPT);
- :class:`~mlip_bench.properties.lammps_md.LammpsEngine`: LAMMPS's own fixes for ``eam:``/``lammps:``
  potentials, without a Python round trip per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from ase import Atoms, units
from ase.constraints import FixAtoms, FixCom
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from mlip_bench.errors import PropertyError
from mlip_bench.properties.md_checkpoint import Checkpoint
from mlip_bench.properties.md_core import (
    Averages,
    MdResult,
    MdRun,
    Observer,
    Snapshot,
    StopRun,
    block_sem,
    drive,
    fingerprint,
)
from mlip_bench.properties.md_window import IntervalSums
from mlip_bench.units import EV_PER_A3_TO_GPA

__all__ = ["AseEngine", "Averages", "MdEngine", "MdResult", "MdRun", "Observer", "Snapshot", "StopRun", "block_sem"]


class MdEngine(Protocol):
    name: str

    def run(
        self, atoms: Atoms, spec: MdRun, *, observers: Sequence[Observer] = (), checkpoint: Path | None = None
    ) -> MdResult:
        """Run `spec` from `atoms` (positions, cell, momenta; constraints are not carried). With
        `checkpoint` (a file path) save every ``spec.segment_steps`` steps and at the end, and resume
        from the latest usable checkpoint there (a finished one returns its result without running).
        Raises PropertyError when the engine fails."""
        ...


class AseEngine:
    """ASE's integrators on any calculator (one trajectory at a time: the calculator is shared)."""

    name = "ase"

    def __init__(self, calc: object) -> None:
        self.calc = calc

    def run(
        self, atoms: Atoms, spec: MdRun, *, observers: Sequence[Observer] = (), checkpoint: Path | None = None
    ) -> MdResult:
        key = fingerprint(self.name, atoms, spec)
        return drive(lambda start: _AseBackend(self.calc, atoms, spec, start), atoms, spec, observers, checkpoint, key)


class _AseBackend:
    """One ASE dynamics object; its random generator ``default_rng([seed, stream])`` draws the
    Maxwell-Boltzmann velocities and then the Langevin noise, its state saved in checkpoints."""

    def __init__(self, calc: object, atoms: Atoms, spec: MdRun, start: Checkpoint | None) -> None:
        self.spec = spec
        self.rng = np.random.default_rng([spec.seed, spec.stream])
        work = atoms.copy()
        work.set_constraint()
        if start is None and spec.maxwell_boltzmann:
            MaxwellBoltzmannDistribution(work, temperature_K=spec.temperature_K, rng=self.rng)
            Stationary(work)
        elif start is not None:  # before any constraint, which would shift them by round-off
            work.set_cell(start.arrays["cell_A"])
            work.set_positions(start.arrays["positions_A"])
            work.set_momenta(start.arrays["momenta"])
            self.rng.bit_generator.state = start.meta["rng"]
        if spec.held:  # held atoms anchor the cell: no FixCom on top
            _hold(work, spec.held)
        elif spec.ensemble == "nvt_langevin":
            work.set_constraint(FixCom())  # ASE >= 3.28: Langevin's own fixcm is deprecated (biased sampling)
        work.calc = self.calc = calc
        self.atoms = work
        self.dyn = _dynamics(work, spec, self.rng)
        self.sums: list[IntervalSums] | None = None

    def begin(self, step: int, length: int, accumulate: bool) -> None:
        self.sums = [] if accumulate else None

    def advance(self, n: int) -> None:
        if self.sums is None:
            self.dyn.run(n)
            return
        for _ in range(n):
            self.dyn.run(1)
            self.sums.append(self._observables())

    def end(self) -> IntervalSums | None:
        if not self.sums:
            return None
        stresses = [s.stress_GPa for s in self.sums if s.stress_GPa is not None]
        stress = np.sum(stresses, axis=0) if stresses else None
        return IntervalSums(
            len(self.sums),
            stress,
            np.sum([s.cell_A for s in self.sums], axis=0),
            np.sum([s.scaled_positions for s in self.sums], axis=0),
            float(sum(s.potential_energy_eV for s in self.sums)),
            float(sum(s.temperature_K for s in self.sums)),
        )

    def _observables(self) -> IntervalSums:
        work = self.atoms
        return IntervalSums(
            1,
            self._stress(),
            work.cell[:].copy(),
            work.get_scaled_positions(wrap=False),
            float(work.get_potential_energy()),
            float(work.get_temperature()),
        )

    def _stress(self) -> np.ndarray | None:
        if not self.spec.stress:
            return None
        return np.asarray(self.atoms.get_stress(voigt=True, include_ideal_gas=True)) * EV_PER_A3_TO_GPA

    def snapshot(self, step: int, positions: bool) -> Snapshot:
        work = self.atoms
        return Snapshot(
            step=step,
            time_fs=step * self.spec.timestep_fs,
            potential_energy_eV=float(work.get_potential_energy()),
            kinetic_energy_eV=float(work.get_kinetic_energy()),
            temperature_K=float(work.get_temperature()),
            cell_A=work.cell[:].copy(),
            stress_GPa=self._stress(),
            positions_A=work.get_positions() if positions else None,
        )

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        work = self.atoms
        arrays = {"positions_A": work.get_positions(), "momenta": work.get_momenta(), "cell_A": work.cell[:].copy()}
        return arrays, {"rng": self.rng.bit_generator.state}

    def close(self) -> None:
        self.atoms.calc = None


def _hold(work: Atoms, held: tuple[int, ...]) -> None:
    """Hold atoms `held` in place (FixAtoms, momenta zeroed); PropertyError for an index out of range."""
    if max(held) >= len(work):
        raise PropertyError(f"MdRun.held: index {max(held)} out of range for {len(work)} atoms")
    momenta = work.get_momenta()
    momenta[list(held)] = 0.0
    work.set_momenta(momenta, apply_constraint=False)
    work.set_constraint(FixAtoms(indices=list(held)))


def _dynamics(work: Atoms, spec: MdRun, rng: np.random.Generator) -> MolecularDynamics:
    dt = spec.timestep_fs * units.fs
    if spec.ensemble == "nvt_langevin":
        friction = spec.friction_per_fs / units.fs
        return Langevin(work, dt, temperature_K=spec.temperature_K, friction=friction, fixcm=False, rng=rng)
    if spec.ensemble == "npt_berendsen":
        return Inhomogeneous_NPTBerendsen(
            work,
            dt,
            temperature_K=spec.temperature_K,
            pressure_au=spec.pressure_GPa * units.GPa,
            taut=spec.taut_fs * units.fs,
            taup=spec.taup_fs * units.fs,
            compressibility_au=spec.compressibility_per_GPa / units.GPa,
        )
    return VelocityVerlet(work, dt)
