"""Melting temperature by the interface (solid-liquid coexistence) method (paper 003 Sec. III.H and
its refs. 77-79: Morris et al. 1994, Morris & Song 2002, Espinosa et al. 2013), on any
:class:`~mlip_bench.properties.md_engine.MdEngine` (LAMMPS natively for ``eam:``/``lammps:``
potentials, ASE's integrators for any other calculator).

One trial run (:func:`run_trial`) at temperature T and pressure P, in an elongated periodic cell
(``cells`` conventional cells, the long axis z):

1. ``solid``: NPT (Berendsen, each axis on its own) of the crystal at (T, P);
2. ``melt``: NVT (Langevin) of the upper half at ``melt_factor`` x max(T, `centre_K`), the lower
   half held (:attr:`MdRun.held`), so the upper half melts against an unmoved crystal; a trial far
   below Tm is melted as hot as one at the grid's centre (at 2 T, trials at 0.68-0.77 Tm of the JNP
   EAM left 57-85 % of the free half crystal after 3 ps: superheated, not melted), and a free half
   still mostly crystal after the stage costs the trial (PropertyError), never reads as frozen;
3. ``cool``: the same at T;
4. ``coexist``: NPT of the whole two-phase cell at (T, P), the held half given back the velocities
   it had at the end of stage 1. Every ``sample_every`` steps polyhedral template matching (ASAP's
   PTM, :mod:`~mlip_bench.properties.local_structure`) gives the share of each structure; the
   solid fraction, normalised by the crystal's own share after stage 1, grows below Tm and
   shrinks above (:func:`~mlip_bench.properties.melt_point.judge`). The run stops early once it
   is decided (all liquid or all solid).

Why NPT runs at trial temperatures and not NPH (Morris et al. 1994, where the two-phase cell
settles at Tm): NPT needs only the thermostatted ensembles both engines already have, every trial
is independent (one work item each, run in parallel, resumed alone), and the verdicts bracket Tm
however far the first guess was; NPH needs a guess close enough that neither phase vanishes, a
barostat without thermostat that ASE does not offer, and a long equilibration whose drift (the
Berendsen barostat is not energy-conserving) biases the temperature it settles at. Tm comes from
the bracket and the zero of the growth rate between (:mod:`~mlip_bench.properties.melt_point`).

Checkpoints: with `checkpoint_dir` every stage checkpoints every ``segment_steps`` steps
(``<stage>.npz``) and the coexistence samples go to a sidecar before the engine's checkpoint
(:func:`~mlip_bench.properties.md_sampled.run_stage`); a killed trial resumes mid-stage with the
same record.

Finite size, measured with Mendelev's EAM (Al_mm.eam.fs, LAMMPS, 0 GPa, 2 fs steps): a 5 x 5 x 10
cell (1000 atoms, 20 Å cross-section) froze at 930 and 945 K and melted at 960 K; 7 x 7 x 14 (2744
atoms, 28 Å) melted at 945 K; the quick preset's 6 x 6 x 12 gives 932.6 K in the bracket
905.5-961.5 K against the published 926 K. Small cross-sections favour the solid, hence 40 Å in
the paper preset. A melt stage at 1.5 T left the upper half crystalline (the held crystal
templates it): ``melt_factor`` is 2.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from mlip_bench.errors import PropertyError
from mlip_bench.properties.local_structure import STRUCTURES, StructureFractions, classify, fractions
from mlip_bench.properties.md_core import MdResult, MdRun, Snapshot
from mlip_bench.properties.md_engine import MdEngine
from mlip_bench.properties.md_sampled import StageResult, run_stage
from mlip_bench.properties.melt_point import Verdict, judge


@dataclass(frozen=True, kw_only=True)
class MeltProtocol:
    """One trial run's settings (steps of `timestep_fs`; see the module for the stages).

    `cells`: conventional cells along x, y, z (z the long axis); `melt_factor`: the liquid half is
    melted at this multiple of T; `friction_per_fs`: Langevin friction of stages 2-3; `taut_fs`,
    `taup_fs`, `compressibility_per_GPa`: Berendsen NPT; `rmsd_max`: PTM's RMSD cut-off (0.15
    separates Al crystal at its Tm, 99.4 % matched, from the liquid, 0.2 %; OVITO's default 0.1
    leaves half the hot crystal unmatched); `min_change`, `stop_low`, `stop_high`: the verdict's
    thresholds on the normalised solid fraction (the run stops outside [stop_low, stop_high]);
    the verdict leaves out the first `settle_steps` of the coexistence run (the barostat relaxes the
    liquid, compressed at the crystal's volume, there), unless the run stopped within them.
    Raises PropertyError naming a field out of range."""

    cells: tuple[int, int, int] = (6, 6, 12)
    timestep_fs: float = 2.0
    solid_steps: int = 1000
    melt_steps: int = 1500
    cool_steps: int = 1000
    coexist_steps: int = 10000
    settle_steps: int = 1000
    melt_factor: float = 2.0
    sample_every: int = 250
    segment_steps: int = 1000
    friction_per_fs: float = 0.01
    taut_fs: float = 100.0
    taup_fs: float = 500.0
    compressibility_per_GPa: float = 1.0 / 76.0
    rmsd_max: float = 0.15
    min_change: float = 0.05
    stop_low: float = 0.1
    stop_high: float = 0.9

    def __post_init__(self) -> None:
        checks = {
            "cells": len(self.cells) == 3 and min(self.cells) >= 1 and self.cells[2] >= 2,
            "timestep_fs": self.timestep_fs > 0,
            "solid_steps": min(self.solid_steps, self.melt_steps, self.cool_steps, self.coexist_steps) >= 1,
            "melt_factor": self.melt_factor > 1,
            "sample_every": self.sample_every >= 1 and self.coexist_steps % self.sample_every == 0,
            "settle_steps": 0 <= self.settle_steps < self.coexist_steps,
            "segment_steps": self.segment_steps >= 1
            and self.sample_every >= 1
            and self.segment_steps % self.sample_every == 0,
            "rmsd_max": self.rmsd_max > 0,
            "min_change": 0 < self.min_change < 1,
            "stop_low": 0 <= self.stop_low < self.stop_high <= 1.5,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise PropertyError(f"MeltProtocol: {bad[0]} = {getattr(self, bad[0])!r} out of range")


@dataclass(frozen=True)
class Sample:
    """The coexistence run after `step` steps: time ps, temperature K, pressure GPa (minus the
    mean normal stress), volume Å^3/atom, PTM share of each structure (0-1, all atoms)."""

    step: int
    time_ps: float
    temperature_K: float
    pressure_GPa: float
    volume_A3_per_atom: float
    fractions: StructureFractions

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Sample:
        """A sample as :func:`~mlip_bench.properties.md_sampled.run_stage` keeps it (JSON)."""
        return cls(
            int(raw["step"]), float(raw["time_ps"]), float(raw["temperature_K"]), float(raw["pressure_GPa"]),
            float(raw["volume_A3_per_atom"]), StructureFractions(**raw["fractions"]),
        )  # fmt: skip


@dataclass(frozen=True)
class TrialResult:
    """One trial: its (T, P, seed), atoms, the crystal's PTM shares after stage 1, the samples of
    the coexistence run (step 0 first), the verdict, MD steps run in this process and the wall
    seconds they took (PTM excluded), the crystal's transition (``"fcc->bcc"`` when it left the
    parent structure during stage 1, else "") and notes."""

    temperature_K: float
    pressure_GPa: float
    seed: int
    n_atoms: int
    crystal: StructureFractions
    samples: tuple[Sample, ...]
    verdict: Verdict
    md_steps: int
    md_seconds: float
    crystal_transition: str = ""
    notes: tuple[str, ...] = ()

    def solid(self) -> np.ndarray:
        """Solid fraction of each sample normalised by the crystal's own, shape (n_samples,)."""
        return np.array([s.fractions.solid for s in self.samples]) / _reference_solid(self.crystal)

    def time_ps(self) -> np.ndarray:
        return np.array([s.time_ps for s in self.samples])

    def structure(self, name: str) -> np.ndarray:
        """Share of all atoms in PTM structure `name` at each sample, shape (n_samples,)."""
        return np.array([getattr(s.fractions, name) for s in self.samples])


def run_trial(
    engine: MdEngine,
    crystal: Atoms,
    *,
    temperature_K: float,
    pressure_GPa: float,
    seed: int,
    protocol: MeltProtocol,
    parent: str = "fcc",
    checkpoint_dir: Path | None = None,
    centre_K: float = 0.0,
) -> TrialResult:
    """One trial of the interface method (module docstring) from `crystal` (the conventional cell,
    orthogonal, z the axis to elongate) with `engine`. `parent`: the crystal's PTM structure;
    `centre_K`: the trial grid's centre (K), below which the melt stage is not run cooler (0: at
    ``melt_factor`` x T). Raises PropertyError for bad settings, when the engine fails or when the
    free half is still crystal after the melt stage."""
    if parent not in STRUCTURES or temperature_K <= 0:
        raise PropertyError(f"run_trial: parent {parent!r} must be one of {STRUCTURES}, T > 0 (got {temperature_K})")
    cell = crystal.repeat(protocol.cells)
    cell.calc = None
    cell.set_constraint()
    clock = _Clock(engine, checkpoint_dir)
    solid = clock.run(cell, _stage(protocol, "npt", temperature_K, pressure_GPa, seed, 0), "solid")
    crystal_fractions = structure_fractions(solid.atoms, rmsd_max=protocol.rmsd_max)
    z = solid.atoms.get_scaled_positions()[:, 2]
    held = tuple(int(i) for i in np.flatnonzero(z < 0.5))
    hot = protocol.melt_factor * max(temperature_K, centre_K)
    melt = clock.run(solid.atoms, _stage(protocol, "nvt", hot, 0, seed, 1, held), "melt")
    _check_melted(melt.atoms, held, hot, protocol, _reference_solid(crystal_fractions))
    cool = clock.run(melt.atoms, _stage(protocol, "nvt", temperature_K, 0, seed, 2, held), "cool")
    start = cool.atoms.copy()
    momenta = start.get_momenta()
    momenta[list(held)] = solid.atoms.get_momenta()[list(held)]  # the held half goes on as it stood
    start.set_momenta(momenta)
    spec = _stage(protocol, "coexist", temperature_K, pressure_GPa, seed, 3)
    first = _first_sample(start, temperature_K, pressure_GPa, protocol.rmsd_max)
    sampler = _Sampler(start, protocol, _reference_solid(crystal_fractions))
    stage = clock.stage(start, spec, "coexist", sampler, protocol.sample_every)
    samples = (first, *(Sample.from_json(s) for s in stage.samples))
    notes = clock.notes
    result = TrialResult(
        temperature_K, pressure_GPa, seed, len(cell), crystal_fractions, samples,
        Verdict("undecided", math.nan, math.nan, 0.0), clock.steps, max(clock.seconds, 0.0),
        _crystal_transition(crystal_fractions, parent), notes,
    )  # fmt: skip
    steps = np.array([s.step for s in samples])
    window = steps >= protocol.settle_steps if (steps >= protocol.settle_steps).sum() >= 2 else steps >= 0
    structures = {name: result.structure(name)[window] for name in STRUCTURES}
    verdict = judge(
        result.time_ps()[window], result.solid()[window], structures, parent=parent,
        min_change=protocol.min_change, low=protocol.stop_low, high=protocol.stop_high,
    )  # fmt: skip
    liquid = samples[0].fractions.solid / _reference_solid(crystal_fractions)
    if liquid > 0.7:
        notes += (
            f"{temperature_K:g} K, {pressure_GPa:g} GPa: the two-phase start was already {liquid:.0%} solid (the "
            "melted half refroze while cooled to T: far below Tm that trial reads as frozen)",
        )
    return replace(result, verdict=verdict, notes=notes)


def _check_melted(atoms: Atoms, held: tuple[int, ...], hot_K: float, protocol: MeltProtocol, solid: float) -> None:
    """Raises PropertyError when the free half is still mostly crystal after the melt stage: the
    trial would start without an interface and read as frozen at any temperature (seen with ANI-Al
    given 1 ps at 2 T), a wrong bound on Tm rather than a lost trial."""
    free = np.setdiff1d(np.arange(len(atoms)), held)
    share = fractions(classify(atoms, rmsd_max=protocol.rmsd_max)[free]).solid / solid
    if share > 0.5:
        raise PropertyError(
            f"melt stage at {hot_K:g} K: the free half is still {share:.0%} crystal after {protocol.melt_steps} "
            "steps, so the trial has no solid-liquid interface; raise melt_steps or melt_factor"
        )


def _reference_solid(crystal: StructureFractions) -> float:
    """The crystal's own PTM solid share (a hot crystal is not 100 % matched); 1 when the crystal
    itself is mostly not solid (it melted or disordered in stage 1: the fractions are then raw)."""
    return crystal.solid if crystal.solid >= 0.5 else 1.0


def _crystal_transition(crystal: StructureFractions, parent: str) -> str:
    """``"fcc->bcc"`` when another crystal outnumbers the parent after stage 1, else "" (also when
    the crystal is mostly not solid: it melted, far above Tm, and a few stray sc matches in the
    liquid would otherwise read as fcc->sc; measured with Mendelev's EAM at 20 GPa, 2175 K)."""
    if crystal.solid < 0.5:
        return ""
    shares = {name: getattr(crystal, name) for name in ("fcc", "hcp", "bcc", "sc")}
    top = max(shares, key=lambda n: shares[n])
    return f"{parent}->{top}" if top != parent and shares[top] > getattr(crystal, parent) else ""


def _stage(
    protocol: MeltProtocol, kind: str, t: float, p: float, seed: int, stream: int, held: tuple[int, ...] = ()
) -> MdRun:
    """The MdRun of one stage: NPT (``npt``, ``coexist``) or NVT with `held` atoms (``nvt``)."""
    common: dict[str, Any] = {
        "temperature_K": t,
        "timestep_fs": protocol.timestep_fs,
        "seed": seed,
        "stream": stream,
        "segment_steps": protocol.segment_steps,
    }
    if kind == "nvt":
        steps = protocol.melt_steps if stream == 1 else protocol.cool_steps
        return MdRun(
            ensemble="nvt_langevin", n_steps=steps, friction_per_fs=protocol.friction_per_fs, held=held, **common
        )
    return MdRun(
        ensemble="npt_berendsen",
        n_steps=protocol.solid_steps if kind == "npt" else protocol.coexist_steps,
        maxwell_boltzmann=kind == "npt",
        pressure_GPa=p,
        taut_fs=protocol.taut_fs,
        taup_fs=protocol.taup_fs,
        compressibility_per_GPa=protocol.compressibility_per_GPa,
        **common,
    )


class _Clock:
    """Runs the stages of one trial (:func:`~mlip_bench.properties.md_sampled.run_stage`, resumable in
    `folder`), adding up the MD steps run here and their wall time without the sampling's."""

    def __init__(self, engine: MdEngine, folder: Path | None) -> None:
        self.engine, self.folder = engine, folder
        self.steps = 0
        self.seconds = 0.0
        self.notes: tuple[str, ...] = ()

    def stage(self, atoms: Atoms, spec: MdRun, name: str, sample: Any = None, every: int = 0) -> StageResult:
        """One stage; raises PropertyError naming it when the engine (or the potential) fails."""
        result = run_stage(
            self.engine, atoms, spec, name=name, sample=sample, sample_every=every, positions=sample is not None,
            folder=self.folder,
        )  # fmt: skip
        self.steps += result.steps_run
        self.seconds += result.wall_s - result.sample_s
        self.notes += result.notes
        if result.error or result.result is None:
            raise PropertyError(f"melt stage {name} at {spec.temperature_K:g} K: {result.error}")
        return result

    def run(self, atoms: Atoms, spec: MdRun, name: str) -> MdResult:
        """The engine's result of an unsampled stage (its ``atoms``: the last frame)."""
        result = self.stage(atoms, spec, name).result
        assert result is not None  # stage() raised otherwise
        return result


def structure_fractions(atoms: Atoms, *, rmsd_max: float) -> StructureFractions:
    """PTM shares of `atoms` (ASAP is imported with :mod:`~mlip_bench.properties.local_structure`,
    before any LAMMPS instance starts: imported after one, its PTM crashes)."""
    return fractions(classify(atoms, rmsd_max=rmsd_max))


def _first_sample(atoms: Atoms, t: float, p: float, rmsd_max: float) -> Sample:
    """The sample at step 0 (no snapshot): the set temperature and pressure."""
    shares = structure_fractions(atoms, rmsd_max=rmsd_max)
    return Sample(0, 0.0, t, p, atoms.get_volume() / len(atoms), shares)


class _Sampler:
    """The coexistence run's sample function: PTM shares of each snapshot, and a stop once the
    normalised solid fraction leaves [stop_low, stop_high] (the run is decided)."""

    def __init__(self, start: Atoms, protocol: MeltProtocol, reference: float) -> None:
        self.template = Atoms(start.numbers, cell=start.cell, pbc=start.pbc)
        self.protocol, self.reference = protocol, reference

    def __call__(self, snap: Snapshot, previous: dict[str, Any] | None) -> dict[str, Any]:
        atoms = self.template.copy()
        atoms.set_cell(snap.cell_A)
        assert snap.positions_A is not None
        atoms.positions = snap.positions_A
        shares = structure_fractions(atoms, rmsd_max=self.protocol.rmsd_max)
        stress = snap.stress_GPa if snap.stress_GPa is not None else np.full(6, math.nan)
        sample: dict[str, Any] = {
            "time_ps": snap.time_fs / 1000,
            "temperature_K": snap.temperature_K,
            "pressure_GPa": -float(np.mean(stress[:3])),
            "volume_A3_per_atom": abs(float(np.linalg.det(snap.cell_A))) / len(atoms),
            "fractions": asdict(shares),
        }
        solid = shares.solid / self.reference
        low, high = self.protocol.stop_low, self.protocol.stop_high
        if solid <= low or solid >= high:
            sample["stop"] = f"solid fraction {solid:.2f} outside [{low}, {high}]: decided"
        return sample
