"""Finite-temperature elastic constants of a cubic (disordered) crystal by stress-strain MD, after
paper 000 (Sec. 2.3 and 3.3).

Protocol at ``temperature_K > 0``:

1. relax ions and cell at 0 K (a start near the equilibrium volume);
2. NPT for ``npt_steps`` (Berendsen, each cell axis following its own stress, so a non-cubic drift
   can show; run by an :mod:`~mlip_bench.properties.md_engine`: ASE's integrators or LAMMPS's own);
   cell and scaled positions are averaged over the last ``average_steps``; Maxwell-Boltzmann
   velocities from random stream 0 of ``seed``;
3. the last NPT frame, put into the averaged cell, is deformed by the paper's three strains
   eps_i = eps_{i+3} = delta (Voigt, engineering shear; i = 1, 2, 3) for each delta, and each strained
   cell runs NVT (Langevin, friction 10 / ps as in the paper) for ``nvt_steps``, each run with its own
   random stream; the stress, with its kinetic term, is averaged over the last ``average_steps`` (its
   standard error from :data:`N_BLOCKS` block means). delta = 0 is one run shared by the three;
4. least-squares slopes, cubic averaging (Eq. 5), Voigt-Reuss-Hill moduli and their propagated
   uncertainties come from :mod:`mlip_bench.properties.elastic`; delta1 is checked against delta2 and
   refined with +/-0.25, +/-0.75 % when they differ by more than ``tolerance``, as there.

At ``temperature_K = 0`` the MD is replaced by relaxation: cell in step 1, ions at each strain.
Given a checkpoint folder, each MD run keeps its checkpoint there (``npt.npz``, ``nvt-<run>.npz``,
every ``segment_steps``) and an interrupted calculation resumes the same trajectories.

Each deformation gives C_k1..C_k3 (k = 1..3) and one shear constant; the other entries are assumed
zero, which holds for a cubic crystal only, so the result is always averaged as cubic. The symmetry
check says whether that holds: spglib on the averaged cell alone (its lattice system, tolerance
``cell_tolerance`` times the mean cell length) and on the averaged positions with every atom made the
host species (fcc kept: Fm-3m, number 225) at ``symprec_A``; the latter must exceed the static
displacements around solutes (about 0.1 Å next to Mg with the MEAM), hence 0.2 Å.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from mlip_bench.errors import PropertyError
from mlip_bench.properties.elastic import (
    CONSISTENCY_TOLERANCE,
    DELTA1_PERCENT,
    DELTA2_PERCENT,
    REFINE_PERCENT,
    Moduli,
    crystal_system,
    fit_stiffness,
    moduli,
    moduli_uncertainty,
    symmetrize,
    voigt_strain,
)
from mlip_bench.properties.md_engine import AseEngine, MdEngine, MdRun, block_sem
from mlip_bench.properties.relax import relax
from mlip_bench.units import EV_PER_A3_TO_GPA

AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660
#: block averages behind the standard error of a time average (correlated samples)
N_BLOCKS = 5


@dataclass(frozen=True, kw_only=True)
class MdSettings:
    """Simulation settings; times in fs, pressure in GPa (1 bar = 1e-4 GPa)."""

    temperature_K: float = 300.0
    pressure_GPa: float = 1e-4
    timestep_fs: float = 2.0
    npt_steps: int = 1000
    nvt_steps: int = 600
    average_steps: int = 300
    friction_per_fs: float = 0.01
    taut_fs: float = 100.0
    taup_fs: float = 500.0
    compressibility_per_GPa: float = 1.0 / 76.0
    seed: int = 0
    #: checkpoint interval of every MD run (part of the protocol: LAMMPS reseeds its thermostat there)
    segment_steps: int = 1000
    fmax_eV_per_A: float = 1e-3
    tolerance: float = CONSISTENCY_TOLERANCE
    symprec_A: float = 0.2
    cell_tolerance: float = 0.005


@dataclass(frozen=True)
class MdElasticResult:
    """Cubic constants (GPa) with standard errors, moduli, and the checks. `C_raw_GPa` is 6x6 with
    NaN where the three deformations determine nothing. `axial_stress_GPa[m]` is the mean over the
    three deformations of tau_ii (the stretched axis) at `strains_percent[m]`."""

    temperature_K: float
    C11_GPa: float
    C12_GPa: float
    C44_GPa: float
    C11_std_GPa: float
    C12_std_GPa: float
    C44_std_GPa: float
    C_raw_GPa: tuple[tuple[float, ...], ...]
    moduli: Moduli
    moduli_std: Moduli
    born_stable: bool
    strains_percent: tuple[float, ...]
    axial_stress_GPa: tuple[float, ...]
    consistency_max_rel_diff: float
    refined: bool
    stress_sem_max_GPa: float
    cell_lengths_A: tuple[float, float, float]
    cell_angles_deg: tuple[float, float, float]
    cell_anisotropy: float
    lattice_system: str
    host_spacegroup: str
    host_spacegroup_number: int
    volume_A3_per_atom: float
    density_g_per_cm3: float
    relax_converged: bool
    md_steps: int


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


def npt_run(settings: MdSettings) -> MdRun:
    """The equilibration: Maxwell-Boltzmann start, Berendsen NPT, averages over the last steps."""
    return MdRun(
        ensemble="npt_berendsen",
        maxwell_boltzmann=True,
        n_steps=settings.npt_steps,
        stream=0,
        **_common(settings),
        taut_fs=settings.taut_fs,
        pressure_GPa=settings.pressure_GPa,
        taup_fs=settings.taup_fs,
        compressibility_per_GPa=settings.compressibility_per_GPa,
    )


def nvt_run(settings: MdSettings, run: int) -> MdRun:
    """The NVT of one strain; `run` picks its reproducible random stream."""
    return MdRun(ensemble="nvt_langevin", n_steps=settings.nvt_steps, stream=run, **_common(settings))


def _common(settings: MdSettings) -> dict:
    return {
        "temperature_K": settings.temperature_K,
        "timestep_fs": settings.timestep_fs,
        "seed": settings.seed,
        "friction_per_fs": settings.friction_per_fs,
        "average_steps": settings.average_steps,
        "average_blocks": N_BLOCKS,
        "segment_steps": settings.segment_steps,
    }


def equilibrate(engine: MdEngine, atoms: Atoms, settings: MdSettings, checkpoint: Path | None = None) -> Equilibrated:
    """NPT from `atoms` (a relaxed cell, no velocities needed): the mean cell and scaled positions,
    and the last frame (with momenta) put into the mean cell. Raises PropertyError."""
    result = engine.run(atoms, npt_run(settings), checkpoint=checkpoint)
    assert result.averages is not None  # no observer can stop it
    return in_mean_cell(result.atoms, result.averages.cell_A, result.averages.scaled_positions, result.steps)


def nvt_stress(
    engine: MdEngine, atoms: Atoms, settings: MdSettings, run: int, checkpoint: Path | None = None
) -> StressAverage:
    """NVT from `atoms` (positions, cell, momenta): the stress averaged over the last steps and its
    standard error from block means. Raises PropertyError."""
    averages = engine.run(atoms, nvt_run(settings, run), checkpoint=checkpoint).averages
    assert averages is not None and averages.stress_GPa is not None and averages.stress_blocks_GPa is not None
    return StressAverage(averages.stress_GPa, block_sem(averages.stress_blocks_GPa), settings.nvt_steps)


def in_mean_cell(last: Atoms, mean_cell: np.ndarray, mean_scaled: np.ndarray, steps: int) -> Equilibrated:
    """The equilibration result from its last frame and the time-averaged cell and scaled positions."""
    mean = Atoms(last.get_chemical_symbols(), cell=mean_cell, pbc=True)
    mean.set_scaled_positions(mean_scaled)
    start = last.copy()
    start.calc = None
    start.set_constraint()
    start.set_cell(mean_cell, scale_atoms=True)
    return Equilibrated(start, mean, steps)


def paper_strain(pattern: int, delta: float) -> np.ndarray:
    """3x3 strain of the paper's deformation `pattern` (0..2): eps_i = eps_{i+3} = delta (Voigt)."""
    return voigt_strain(pattern, delta) + voigt_strain(pattern + 3, delta)


@dataclass(frozen=True)
class _Sample:
    stress_GPa: np.ndarray  # (6,) Voigt
    sem_GPa: np.ndarray  # (6,) standard error of the time average (0 at 0 K)
    converged: bool
    steps: int


def calc_elastic_md(
    atoms: Atoms,
    calc: object,
    *,
    settings: MdSettings,
    host: str = "Al",
    engine: MdEngine | None = None,
    checkpoint_dir: Path | None = None,
) -> MdElasticResult:
    """Elastic constants of `atoms` (cubic supercell, axes along x, y, z) at ``settings.temperature_K``.
    `calc` relaxes at 0 K; `engine` runs the MD (default: ASE's integrators on `calc`; a
    :class:`~mlip_bench.properties.lammps_md.LammpsEngine` runs it natively in LAMMPS);
    `checkpoint_dir`: one folder per (structure, potential) for the MD runs' checkpoints.

    Raises PropertyError when the stiffness matrix is singular or the settings are inconsistent.
    """
    engine = engine or AseEngine(calc)
    if settings.temperature_K > 0 and not 0 < settings.average_steps <= min(settings.npt_steps, settings.nvt_steps):
        raise PropertyError("average_steps must be positive and at most npt_steps and nvt_steps")
    relaxed = relax(atoms, calc, cell=True, fmax_eV_per_A=settings.fmax_eV_per_A)
    if settings.temperature_K > 0:
        ref = equilibrate(engine, relaxed.atoms, settings, _path(checkpoint_dir, "npt"))
    else:
        ref = Equilibrated(relaxed.atoms, relaxed.atoms.copy(), 0)
    cache: dict[float, list[_Sample]] = {}
    _measure(cache, DELTA1_PERCENT, ref.start, calc, settings, engine, checkpoint_dir)
    raw, c1, err = _fit(cache, DELTA1_PERCENT)
    _, c2, _ = _fit(cache, DELTA2_PERCENT)
    rel = max(abs(c1[i, j] - c2[i, j]) / max(abs(c1[i, j]), 1e-9) for i, j in ((0, 0), (0, 1), (3, 3)))
    used: tuple[float, ...] = DELTA1_PERCENT
    if rel > settings.tolerance:
        _measure(cache, REFINE_PERCENT, ref.start, calc, settings, engine, checkpoint_dir)
        used = tuple(sorted(DELTA1_PERCENT + REFINE_PERCENT))
        raw, c1, err = _fit(cache, used)
    try:
        mod, mod_u = moduli(c1), moduli_uncertainty(c1, err, "cubic")
    except np.linalg.LinAlgError as exc:
        raise PropertyError(f"stiffness matrix is singular: {exc}") from exc
    samples = {id(s): s for p in used for s in cache[p]}.values()  # delta = 0 is one run for three
    lengths, angles = ref.mean.cell.cellpar()[:3], ref.mean.cell.cellpar()[3:]
    lattice, _ = crystal_system(
        Atoms(host, cell=ref.mean.cell, pbc=True), symprec=settings.cell_tolerance * float(np.mean(lengths))
    )
    host_atoms = Atoms([host] * len(ref.mean), cell=ref.mean.cell, scaled_positions=ref.mean.get_scaled_positions())
    _, spacegroup = crystal_system(host_atoms, symprec=settings.symprec_A)
    volume = ref.mean.get_volume()
    return MdElasticResult(
        temperature_K=settings.temperature_K,
        C11_GPa=float(c1[0, 0]),
        C12_GPa=float(c1[0, 1]),
        C44_GPa=float(c1[3, 3]),
        C11_std_GPa=float(err[0, 0]),
        C12_std_GPa=float(err[0, 1]),
        C44_std_GPa=float(err[3, 3]),
        C_raw_GPa=tuple(tuple(float(v) for v in row) for row in raw),
        moduli=mod,
        moduli_std=mod_u,
        born_stable=bool(np.all(np.linalg.eigvalsh(c1) > 0)),
        strains_percent=used,
        axial_stress_GPa=tuple(float(np.mean([cache[p][i].stress_GPa[i] for i in range(3)])) for p in used),
        consistency_max_rel_diff=float(rel),
        refined=used != DELTA1_PERCENT,
        stress_sem_max_GPa=float(max(np.max(s.sem_GPa) for s in samples)),
        cell_lengths_A=(float(lengths[0]), float(lengths[1]), float(lengths[2])),
        cell_angles_deg=(float(angles[0]), float(angles[1]), float(angles[2])),
        cell_anisotropy=float(max(np.ptp(lengths) / np.mean(lengths), np.max(np.abs(np.radians(angles - 90))))),
        lattice_system=lattice,
        host_spacegroup=spacegroup,
        host_spacegroup_number=int(spacegroup.rsplit("(", 1)[-1].rstrip(")")),
        volume_A3_per_atom=float(volume / len(ref.mean)),
        density_g_per_cm3=float(np.sum(ref.mean.get_masses()) / volume * AMU_PER_A3_TO_G_PER_CM3),
        relax_converged=relaxed.converged and all(s.converged for s in samples),
        md_steps=ref.steps + sum(s.steps for s in samples),
    )


def _measure(
    cache: dict[float, list[_Sample]],
    percents: tuple[float, ...],
    start: Atoms,
    calc: object,
    settings: MdSettings,
    engine: MdEngine,
    checkpoint_dir: Path | None,
) -> None:
    """Add the stresses of the three deformations at each new strain (percent) to `cache`."""

    def sample(eps: np.ndarray, run: int) -> _Sample:
        if settings.temperature_K <= 0:
            return _relaxed_sample(start, calc, eps, settings)
        work = start.copy()  # keeps the momenta of the equilibrated frame
        work.set_cell(start.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        average = nvt_stress(engine, work, settings, run, _path(checkpoint_dir, f"nvt-{run}"))
        return _Sample(average.stress_GPa, average.sem_GPa, True, average.steps)

    for p in percents:
        if p in cache:
            continue
        if p == 0:
            cache[p] = [sample(np.zeros((3, 3)), 0)] * 3
            continue
        run = 1 + 3 * len(cache)  # a distinct, reproducible random stream per MD run
        cache[p] = [sample(paper_strain(i, p / 100), run + i) for i in range(3)]


def _path(folder: Path | None, name: str) -> Path | None:
    return None if folder is None else Path(folder) / f"{name}.npz"


def _fit(cache: dict[float, list[_Sample]], percents: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """(raw c with NaN where undetermined, cubic-averaged C, its standard errors), all (6, 6) GPa."""
    strains = np.array(percents) / 100
    stresses = np.array([[cache[p][i].stress_GPa for p in percents] for i in range(3)])  # (3, n, 6)
    # column i and i+3 both see deformation i: for a cubic crystal its normal stresses give C_ki and
    # its shear stress tau_{i+3} gives C_{i+3,i+3}, the entries symmetrize() reads
    c, se = fit_stiffness(strains, np.concatenate([stresses, stresses]))
    sym, err = symmetrize(c, se, "cubic")
    raw = np.full((6, 6), np.nan)
    raw[:3, :3] = c[:3, :3]
    for i in range(3, 6):
        raw[i, i] = c[i, i]
    return raw, sym, err


def _relaxed_sample(start: Atoms, calc: object, eps: np.ndarray, settings: MdSettings) -> _Sample:
    work = start.copy()
    work.set_cell(start.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    relaxed = relax(work, calc, cell=False, fmax_eV_per_A=settings.fmax_eV_per_A)
    relaxed.atoms.calc = calc
    stress = np.asarray(relaxed.atoms.get_stress(voigt=True)) * EV_PER_A3_TO_GPA
    return _Sample(stress, np.zeros(6), relaxed.converged, 0)
