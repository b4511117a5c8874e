"""Molecular-dynamics engines for finite-temperature properties: the two runs that stress-strain MD
needs (paper 000 Sec. 2.3), behind one small interface so that a property is written once and runs
on ASE's integrators (any calculator) or natively in LAMMPS (classical potentials, far faster:
:mod:`mlip_bench.properties.lammps_md`).

- :meth:`MdEngine.equilibrate`: Maxwell-Boltzmann velocities, then Berendsen NPT with each cell axis
  following its own stress; returns the mean cell and mean scaled positions of the last steps, and
  the last frame (with its momenta) put into the mean cell, the start of every strained run;
- :meth:`MdEngine.nvt_stress`: Langevin NVT at fixed cell; the stress with its kinetic term averaged
  over the last steps and the standard error of that mean from block averages.

Both take :class:`~mlip_bench.properties.md_elastic.MdSettings` (times in fs, pressure in GPa).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from mlip_bench.units import EV_PER_A3_TO_GPA

if TYPE_CHECKING:
    from mlip_bench.properties.md_elastic import MdSettings

#: block averages behind the standard error of a time average (correlated samples)
N_BLOCKS = 5


@dataclass(frozen=True)
class Equilibrated:
    """`start`: last NPT frame in the mean cell, with momenta; `mean`: mean cell and scaled positions."""

    start: Atoms
    mean: Atoms
    steps: int


@dataclass(frozen=True)
class StressAverage:
    """Voigt stress (xx, yy, zz, yz, xz, xy) in GPa, kinetic term included, and its standard error."""

    stress_GPa: np.ndarray  # (6,)
    sem_GPa: np.ndarray  # (6,)
    steps: int


class MdEngine(Protocol):
    name: str

    def equilibrate(self, atoms: Atoms, settings: MdSettings) -> Equilibrated:
        """NPT from `atoms` (a relaxed cell, no velocities needed)."""
        ...

    def nvt_stress(self, atoms: Atoms, settings: MdSettings, run: int) -> StressAverage:
        """NVT from `atoms` (positions, cell, momenta); `run` picks a reproducible random stream."""
        ...


class AseEngine:
    """ASE integrators on any calculator: ``Inhomogeneous_NPTBerendsen`` and ``Langevin``."""

    name = "ase"

    def __init__(self, calc: object) -> None:
        self.calc = calc

    def equilibrate(self, atoms: Atoms, settings: MdSettings) -> Equilibrated:
        work = atoms.copy()
        work.calc = self.calc
        MaxwellBoltzmannDistribution(
            work, temperature_K=settings.temperature_K, rng=np.random.default_rng([settings.seed, 0])
        )
        Stationary(work)
        dyn = Inhomogeneous_NPTBerendsen(
            work,
            settings.timestep_fs * units.fs,
            temperature_K=settings.temperature_K,
            pressure_au=settings.pressure_GPa * units.GPa,
            taut=settings.taut_fs * units.fs,
            taup=settings.taup_fs * units.fs,
            compressibility_au=settings.compressibility_per_GPa / units.GPa,
        )
        frames = _run_and_record(
            dyn,
            settings.npt_steps,
            settings.average_steps,
            lambda: (work.cell[:], work.get_scaled_positions(wrap=False)),
        )
        mean_cell = np.mean([cell for cell, _ in frames], axis=0)
        return in_mean_cell(work, mean_cell, np.mean([pos for _, pos in frames], axis=0), settings.npt_steps)

    def nvt_stress(self, atoms: Atoms, settings: MdSettings, run: int) -> StressAverage:
        work = atoms.copy()  # keeps the momenta of the equilibrated frame
        work.calc = self.calc
        work.set_constraint(FixCom())  # ASE >= 3.28: Langevin's own fixcm is deprecated (biased sampling)
        dyn = Langevin(
            work,
            settings.timestep_fs * units.fs,
            temperature_K=settings.temperature_K,
            friction=settings.friction_per_fs / units.fs,
            fixcm=False,
            rng=np.random.default_rng([settings.seed, run]),
        )
        series = _run_and_record(
            dyn, settings.nvt_steps, settings.average_steps, lambda: work.get_stress(voigt=True, include_ideal_gas=True)
        )
        stress = np.asarray(series) * EV_PER_A3_TO_GPA
        blocks = np.array([b.mean(axis=0) for b in np.array_split(stress, N_BLOCKS)])
        return StressAverage(stress.mean(axis=0), block_sem(blocks), settings.nvt_steps)


def in_mean_cell(last: Atoms, mean_cell: np.ndarray, mean_scaled: np.ndarray, steps: int) -> Equilibrated:
    """The equilibration result from its last frame and the time-averaged cell and scaled positions."""
    mean = Atoms(last.get_chemical_symbols(), cell=mean_cell, pbc=True)
    mean.set_scaled_positions(mean_scaled)
    start = last.copy()
    start.calc = None
    start.set_constraint()
    start.set_cell(mean_cell, scale_atoms=True)
    return Equilibrated(start, mean, steps)


def block_sem(block_means: np.ndarray) -> np.ndarray:
    """Standard error of a time average from the means of its equal blocks, shape (n_blocks, ...)."""
    n = len(block_means)
    return np.asarray(block_means.std(axis=0, ddof=1) / np.sqrt(n))


def _run_and_record(dyn: MolecularDynamics, steps: int, last: int, observe: Callable[[], object]) -> list:
    """Run `steps` MD steps and return `observe()` after each of the last `last` steps."""
    dyn.run(steps - last)
    record: list = []
    dyn.attach(lambda: record.append(observe()), interval=1)
    dyn.run(last)
    return record[-last:]
