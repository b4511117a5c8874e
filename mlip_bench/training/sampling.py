"""Start cells and model MD for the active-learning loop (paper 003 Sec. II B).

Start cells come in kinds, each a situation the potential must handle (paper 003's list):

- ``bulk``: the crystal, its cell deformed by a random symmetric strain (components in
  ±`max_strain`) and its atoms rattled;
- ``vacancy``: a bulk cell with `n_vacancies` random atoms removed;
- ``surface``: a bulk cell with `vacuum_A` of vacuum added along z (two free (001) surfaces);
- ``liquid``: atoms placed at random (no pair closer than `liquid_r_min_A`) in a cube at
  `liquid_density_g_per_cm3`, run at `liquid_temperature_range_K`.

The sampler draws each trajectory's kind by `weights` (how much of an application's MD time a kind
takes: mostly bulk), the held-out set takes every kind equally (pipeline.py). Each trajectory runs
Langevin MD with the current model; every ``snapshot_every_steps`` steps the snapshot and its MaxVol
grade γ (paper 002 App. E) are kept, and the trajectory stops past γ_break: beyond it the model is
not to be trusted, so neither are its dynamics (for every selection strategy alike).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.units import _amu

from mlip_bench.adapters.mtp import MTPCalculator
from mlip_bench.adapters.uncertainty import STRUCTURE_KEY
from mlip_bench.errors import DataError, PropertyError
from mlip_bench.properties.md_engine import AseEngine, MdRun, Observer, Snapshot, StopRun

KINDS = ("bulk", "vacancy", "surface", "liquid")
_G_PER_CM3_PER_AMU_PER_A3 = _amu * 1e3 / 1e-24


@dataclass(frozen=True, kw_only=True)
class CellSettings:
    """Start cells (module docstring): the `lattice` crystal of `symbol`, lattice constant `a_A`
    (Å), conventional cell repeated `repeat` times; `kinds` drawn by `weights` (any positive
    numbers). Raises ValueError for an unknown kind or mismatched weights."""

    symbol: str = "Al"
    lattice: str = "fcc"
    a_A: float = 4.05
    repeat: tuple[int, int, int] = (2, 2, 2)
    max_strain: float = 0.03
    rattle_A: float = 0.1
    kinds: tuple[str, ...] = ("bulk",)
    weights: tuple[float, ...] = (1.0,)
    n_vacancies: int = 1
    vacuum_A: float = 8.0
    liquid_density_g_per_cm3: float = 2.3
    liquid_r_min_A: float = 2.2
    liquid_temperature_range_K: tuple[float, float] = (1200.0, 2000.0)

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds {list(self.kinds)} must be distinct, from {', '.join(KINDS)}")
        if len(self.weights) != len(self.kinds) or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError(f"weights {list(self.weights)} need one value >= 0 per kind, sum > 0")


@dataclass(frozen=True, kw_only=True)
class SamplingSettings:
    """Per iteration, `n_trajectories` Langevin runs of `n_steps` steps of `timestep_fs` (fs), each at
    a temperature uniform in `temperature_range_K` (K; liquid cells: the cells' own range), friction
    `friction_per_fs` (1/fs); a snapshot every `snapshot_every_steps` steps."""

    n_trajectories: int = 4
    n_steps: int = 200
    snapshot_every_steps: int = 10
    timestep_fs: float = 2.0
    temperature_range_K: tuple[float, float] = (300.0, 1200.0)
    friction_per_fs: float = 0.02


@dataclass(frozen=True)
class Candidate:
    """A sampled snapshot, its grade γ (largest atomic; dimensionless), trajectory and MD step."""

    atoms: Atoms
    gamma: float
    trajectory: int
    step: int


@dataclass(frozen=True)
class Sample:
    """One iteration's sampling: the snapshots, MD steps run, trajectories stopped at γ_break."""

    candidates: tuple[Candidate, ...]
    md_steps: int
    broken: int
    seconds: float


def perturbed_cells(settings: CellSettings, n: int, rng: np.random.Generator) -> list[Atoms]:
    """`n` bulk start cells (strained, rattled), drawn from `rng`."""
    return [start_cell(settings, "bulk", rng) for _ in range(n)]


def draw_kinds(settings: CellSettings, n: int, rng: np.random.Generator) -> list[str]:
    """`n` kinds drawn by the settings' weights."""
    weights = np.asarray(settings.weights, dtype=float)
    return [settings.kinds[i] for i in rng.choice(len(settings.kinds), size=n, p=weights / weights.sum())]


def start_cell(settings: CellSettings, kind: str, rng: np.random.Generator) -> Atoms:
    """One start cell of `kind` (``info["kind"]`` set). Raises DataError when a liquid cell finds no
    room for an atom (density too high for its r_min)."""
    from ase.build import bulk

    if kind == "liquid":
        atoms = _liquid_cell(settings, rng)
    else:
        base = bulk(settings.symbol, settings.lattice, a=settings.a_A, cubic=True).repeat(settings.repeat)
        strain = rng.uniform(-settings.max_strain, settings.max_strain, (3, 3))
        atoms = base.copy()
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
        atoms.positions += rng.normal(0.0, settings.rattle_A, atoms.positions.shape)
        atoms.wrap()  # before the vacuum goes in: no atom is left alone across it
        if kind == "vacancy":
            del atoms[sorted(rng.choice(len(atoms), size=settings.n_vacancies, replace=False).tolist())]
        elif kind == "surface":
            cell = atoms.cell[:].copy()
            cell[2] *= 1.0 + settings.vacuum_A / np.linalg.norm(cell[2])
            atoms.set_cell(cell, scale_atoms=False)
    atoms.info["kind"] = kind
    return atoms


def _liquid_cell(settings: CellSettings, rng: np.random.Generator, tries: int = 20000) -> Atoms:
    from ase.build import bulk

    n_atoms = len(bulk(settings.symbol, settings.lattice, a=settings.a_A, cubic=True)) * int(np.prod(settings.repeat))
    mass = atomic_masses[atomic_numbers[settings.symbol]]
    side = (n_atoms * mass * _G_PER_CM3_PER_AMU_PER_A3 / settings.liquid_density_g_per_cm3) ** (1 / 3)
    placed = np.empty((0, 3))
    for _ in range(n_atoms):
        for _ in range(tries):
            trial = rng.uniform(0.0, side, 3)
            delta = placed - trial
            delta -= side * np.round(delta / side)  # minimum image in the cube
            if not len(placed) or np.min(np.einsum("ij,ij->i", delta, delta)) >= settings.liquid_r_min_A**2:
                placed = np.vstack([placed, trial])
                break
        else:
            raise DataError(
                f"liquid cell: no room for atom {len(placed) + 1} of {n_atoms} at "
                f"{settings.liquid_density_g_per_cm3} g/cm³ with r_min {settings.liquid_r_min_A} Å"
            )
    return Atoms([settings.symbol] * n_atoms, positions=placed, cell=[side] * 3, pbc=True)


def temperature_for(settings: CellSettings, sampling: SamplingSettings, kind: str, rng: np.random.Generator) -> float:
    """A temperature (K) for a trajectory of `kind`."""
    low, high = settings.liquid_temperature_range_K if kind == "liquid" else sampling.temperature_range_K
    return float(rng.uniform(low, high))


def md_spec(sampling: SamplingSettings, temperature_K: float, *, n_steps: int, seed: int, stream: int) -> MdRun:
    """The Langevin run of one trajectory."""
    return MdRun(
        ensemble="nvt_langevin", temperature_K=temperature_K, n_steps=n_steps, timestep_fs=sampling.timestep_fs,
        seed=seed, stream=stream, maxwell_boltzmann=True, friction_per_fs=sampling.friction_per_fs,
        segment_steps=n_steps, stress=False,
    )  # fmt: skip


def sample(
    calc: MTPCalculator,
    starts: Sequence[Atoms],
    settings: SamplingSettings,
    *,
    cells: CellSettings,
    gamma_break: float,
    seed: int,
) -> Sample:
    """Run one trajectory from each start cell with `calc` (which must report γ), keep snapshots."""
    began = time.perf_counter()
    rng = np.random.default_rng([seed, 1])
    candidates: list[Candidate] = []
    steps = broken = 0
    for index, start in enumerate(starts):
        temperature = temperature_for(cells, settings, str(start.info.get("kind", "bulk")), rng)
        spec = md_spec(settings, temperature, n_steps=settings.n_steps, seed=seed, stream=index)
        found: list[Candidate] = []
        watch = Observer(_grader(calc, start, index, gamma_break, found), settings.snapshot_every_steps, positions=True)
        try:
            result = AseEngine(calc).run(start, spec, observers=[watch])
        except PropertyError:  # the model blew up between snapshots: keep what was graded before
            broken += 1
            steps += found[-1].step if found else 0
        else:
            broken += int(result.stopped_early)
            steps += result.steps
        candidates.extend(found)
    return Sample(tuple(candidates), steps, broken, time.perf_counter() - began)


def _grader(
    calc: MTPCalculator, start: Atoms, index: int, gamma_break: float, found: list[Candidate]
) -> Callable[[Snapshot], bool | None]:
    def grade(snapshot: Snapshot) -> bool | None:
        gamma = float(calc.results.get(STRUCTURE_KEY, np.nan))  # the step just taken: results are current
        atoms = Atoms(start.numbers, positions=snapshot.positions_A, cell=snapshot.cell_A, pbc=start.pbc)
        atoms.wrap()
        atoms.info["kind"] = start.info.get("kind", "bulk")
        found.append(Candidate(atoms, gamma, index, snapshot.step))
        if not np.isfinite(gamma) or gamma > gamma_break:
            raise StopRun(f"γ = {gamma:.3g} > γ_break = {gamma_break:g}")
        return None

    return grade
