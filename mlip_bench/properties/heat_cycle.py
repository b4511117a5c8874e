"""MD stability and melting/refreezing (paper 003 Fig. 7; what MLIP Arena, LAMBench and
matbench-discovery test): heat a crystal at 1 bar, cool it back, and watch for failure.

:func:`heat_cycle`: NPT (Berendsen) at `T_low_K`, then a staircase of set points `stage_K` apart up to
`T_high_K` at `heating_rate_K_per_ps` and back down at `cooling_rate_K_per_ps` (each step one
resumable stage, :mod:`~mlip_bench.properties.md_sampled`; a Berendsen thermostat with 100 fs
coupling follows 25 K steps within a fraction of a picosecond). Every `sample_every` steps a
:data:`~mlip_bench.properties.md_sampled.Sample`: time, set-point and instantaneous temperature,
potential energy, pressure, volume, local-structure fractions by PTM
(:mod:`~mlip_bench.properties.local_structure`) and the smallest interatomic distance.

Melting (refreezing) temperature: the set point where the solid fraction first falls below
(rises above) 0.5 on heating (cooling), interpolated linearly between the two samples around the
crossing; hysteresis = melting - refreezing. PTM's RMSD cut-off defaults to 0.15 here, not 0.1:
for Mendelev's Al at 1 bar a 256-atom crystal keeps a solid fraction of 0.97 (0.1: 0.29) at 1000 K
and 0.85 superheated at 1100 K, its liquid 0.01 (0.1: 0.0) at 600-1000 K (measured for this module).

Failure (:class:`Failure`) ends a run as a result, never a crash, the samples up to it kept: atoms
closer than `min_distance_A`, an energy change above `energy_jump_eV_per_atom` between samples, a
non-finite value, or the engine failing (a calculator exception or non-finite result through ASE,
LAMMPS losing atoms). For an engine failure the step is the last sample's (the failure lies within
the next `sample_every` steps).

:func:`nve_drift`: NPT at a temperature, then NVE; the drift is the least-squares slope of the total
energy per atom against time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from mlip_bench.errors import OptionalDependencyError, PropertyError
from mlip_bench.properties.local_structure import classify, fractions
from mlip_bench.properties.md_core import MdRun, Snapshot
from mlip_bench.properties.md_engine import MdEngine
from mlip_bench.properties.md_sampled import Sample, StageResult, run_stage

FAILURE_KINDS = ("min_distance", "energy_jump", "non_finite", "engine_error")
#: steps between checkpoints within one set point (a stage shorter than this checkpoints at its end)
_SEGMENT_STEPS = 5000
STRUCTURE_NAMES = ("fcc", "hcp", "bcc", "ico", "other")


@dataclass(frozen=True, kw_only=True)
class FailureLimits:
    """Smallest allowed interatomic distance (Å) and largest potential-energy change between two
    consecutive samples (eV/atom). Raises PropertyError unless both are > 0."""

    min_distance_A: float = 1.5
    energy_jump_eV_per_atom: float = 0.5

    def __post_init__(self) -> None:
        if not (self.min_distance_A > 0 and self.energy_jump_eV_per_atom > 0):
            raise PropertyError(f"FailureLimits must be positive, got {self}")


@dataclass(frozen=True)
class Failure:
    """When (time ps since the run's start, step of the whole run) and why; `kind` in :data:`FAILURE_KINDS`."""

    time_ps: float
    step: int
    kind: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CycleSettings:
    """Temperatures K, rates K/ps, times fs, pressure GPa. `start_steps` at `T_low_K` first.
    Raises PropertyError for values out of range."""

    T_low_K: float = 300.0
    T_high_K: float = 1500.0
    heating_rate_K_per_ps: float = 20.0
    cooling_rate_K_per_ps: float = 20.0
    stage_K: float = 25.0
    start_steps: int = 1000
    timestep_fs: float = 2.0
    sample_every: int = 50
    pressure_GPa: float = 1e-4
    seed: int = 0
    ptm_rmsd_max: float = 0.15
    limits: FailureLimits = field(default_factory=FailureLimits)

    def __post_init__(self) -> None:
        checks = {
            "T_high_K": self.T_high_K > self.T_low_K > 0,
            "heating_rate_K_per_ps": self.heating_rate_K_per_ps > 0,
            "cooling_rate_K_per_ps": self.cooling_rate_K_per_ps > 0,
            "stage_K": 0 < self.stage_K <= self.T_high_K - self.T_low_K,
            "start_steps": self.start_steps >= self.sample_every >= 1 and self.start_steps % self.sample_every == 0,
            "timestep_fs": self.timestep_fs > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise PropertyError(f"CycleSettings: {bad[0]} = {getattr(self, bad[0])!r} out of range in {self}")

    def stage_steps(self, rate_K_per_ps: float) -> int:
        """Steps per set point at `rate_K_per_ps`, rounded to a multiple of `sample_every` (>= 1 sample)."""
        exact = self.stage_K / rate_K_per_ps / (self.timestep_fs / 1000.0)
        return max(1, round(exact / self.sample_every)) * self.sample_every

    def actual_rate(self, rate_K_per_ps: float) -> float:
        """The rate (K/ps) the staircase runs for a requested one (steps rounded to samples)."""
        return self.stage_K / (self.stage_steps(rate_K_per_ps) * self.timestep_fs / 1000.0)

    def set_points(self) -> tuple[tuple[str, float, int], ...]:
        """(phase, set point K, steps) of every stage: start, heat..., cool... (the last at T_low_K)."""
        n = math.ceil((self.T_high_K - self.T_low_K) / self.stage_K - 1e-9)
        up = [min(self.T_low_K + i * self.stage_K, self.T_high_K) for i in range(1, n + 1)]
        down = [max(self.T_high_K - i * self.stage_K, self.T_low_K) for i in range(1, n + 1)]
        heat, cool = self.stage_steps(self.heating_rate_K_per_ps), self.stage_steps(self.cooling_rate_K_per_ps)
        return (
            ("start", self.T_low_K, self.start_steps),
            *(("heat", t, heat) for t in up),
            *(("cool", t, cool) for t in down),
        )


@dataclass(frozen=True)
class CycleResult:
    """Samples in time order (each with "phase", "set_T_K", "time_ps", "T_K", "epot_eV_per_atom",
    "pressure_GPa", "volume_A3_per_atom", the :data:`STRUCTURE_NAMES` fractions, "solid" and
    "min_distance_A"); melting and refreezing set points K (NaN: no crossing); the failure or None;
    time completed ps; atoms; steps integrated here; their engine seconds less the analysis; notes."""

    samples: tuple[Sample, ...]
    melting_T_K: float
    refreezing_T_K: float
    failure: Failure | None
    time_completed_ps: float
    n_atoms: int
    steps_run: int
    md_seconds: float
    notes: tuple[str, ...]


class _Watcher:
    """The sample function of every stage: local structure, distances, and the failure checks (a
    failing sample carries "stop" and "failure_kind")."""

    def __init__(self, template: Atoms, limits: FailureLimits, rmsd_max: float) -> None:
        self.template, self.limits, self.rmsd_max = template, limits, rmsd_max

    def __call__(self, snap: Snapshot, previous: Sample | None) -> Sample:
        assert snap.positions_A is not None
        n = len(self.template)
        energy = snap.potential_energy_eV / n
        pressure = -float(np.mean(snap.stress_GPa[:3])) if snap.stress_GPa is not None else math.nan
        volume = float(abs(np.linalg.det(snap.cell_A))) / n
        values: Sample = {"T_K": snap.temperature_K, "epot_eV_per_atom": energy, "pressure_GPa": pressure,
                          "volume_A3_per_atom": volume}  # fmt: skip
        finite = all(math.isfinite(v) for v in values.values()) and bool(np.isfinite(snap.positions_A).all())
        if not finite:  # JSON has no NaN: the values are dropped, the reason kept
            return {
                "stop": f"non-finite energy, pressure or positions at step {snap.step}",
                "failure_kind": "non_finite",
            }
        frame = self.template.copy()
        frame.set_cell(snap.cell_A)
        frame.positions = snap.positions_A
        frame.wrap()
        reach = self.limits.min_distance_A * 2
        distances = neighbor_list("d", frame, reach)
        values["min_distance_A"] = float(distances.min()) if len(distances) else reach
        share = fractions(classify(frame, rmsd_max=self.rmsd_max))
        values |= {name: getattr(share, name) for name in STRUCTURE_NAMES} | {"solid": share.solid}
        if values["min_distance_A"] < self.limits.min_distance_A:
            reason = f"atoms {values['min_distance_A']:.3f} Å apart (< {self.limits.min_distance_A:g} Å)"
            return values | {"stop": reason, "failure_kind": "min_distance"}
        jump = abs(energy - previous["epot_eV_per_atom"]) if previous and "epot_eV_per_atom" in previous else 0.0
        if jump > self.limits.energy_jump_eV_per_atom:
            reason = (
                f"energy changed {jump:.3g} eV/atom since the sample before (> {self.limits.energy_jump_eV_per_atom:g})"
            )
            return values | {"stop": reason, "failure_kind": "energy_jump"}
        return values


def heat_cycle(engine: MdEngine, crystal: Atoms, settings: CycleSettings, *, folder: Path | None = None) -> CycleResult:
    """Heat `crystal` (orthogonal cell, no calculator needed) and cool it back (module docstring);
    with `folder` every stage checkpoints there and a killed run resumes. Raises PropertyError for
    bad settings, OptionalDependencyError without asap3; the potential failing is in the result."""
    try:
        import asap3  # noqa: F401  (before LAMMPS starts: see mlip_bench.properties.liquid)
    except ImportError as exc:
        raise OptionalDependencyError("heat_cycle (PTM) needs asap3: pip install 'mlip-bench[emt]'") from exc

    s = settings
    watch = _Watcher(Atoms(crystal.numbers, cell=crystal.cell, pbc=True), s.limits, s.ptm_rmsd_max)
    atoms = crystal.copy()
    atoms.calc = None
    samples: list[Sample] = []
    notes: list[str] = []
    offset, steps_run, seconds = 0, 0, 0.0
    failure: Failure | None = None
    dt_ps = s.timestep_fs / 1000.0
    for index, (phase, set_t, n_steps) in enumerate(s.set_points()):
        spec = MdRun(
            ensemble="npt_berendsen", temperature_K=set_t, n_steps=n_steps, timestep_fs=s.timestep_fs,
            seed=s.seed, stream=index, maxwell_boltzmann=index == 0, pressure_GPa=s.pressure_GPa,
            segment_steps=min(n_steps, s.sample_every * max(1, _SEGMENT_STEPS // s.sample_every)),
        )  # fmt: skip
        previous = {"epot_eV_per_atom": samples[-1]["epot_eV_per_atom"]} if samples else None
        stage = run_stage(engine, atoms, spec, name=f"{index:03d}_{phase}_{set_t:g}K", sample=watch,
                          sample_every=s.sample_every, positions=True, previous=previous, folder=folder)  # fmt: skip
        notes.extend(stage.notes)
        steps_run += stage.steps_run
        seconds += stage.wall_s - stage.sample_s
        for value in stage.samples:
            step = offset + int(value["step"])
            samples.append({**value, "step": step, "time_ps": step * dt_ps, "phase": phase, "set_T_K": set_t})
        failure = _stage_failure(stage, samples, offset, dt_ps)
        if failure is not None:
            break
        assert stage.result is not None
        atoms = stage.result.atoms
        offset += n_steps
    completed = failure.time_ps if failure is not None else offset * dt_ps
    melt = crossing(samples, "heat", below=True)
    refreeze = crossing(samples, "cool", below=False)
    return CycleResult(
        tuple(samples), melt, refreeze, failure, completed, len(crystal), steps_run, seconds, tuple(notes)
    )


def _stage_failure(stage: StageResult, samples: list[Sample], offset: int, dt_ps: float) -> Failure | None:
    if stage.error:
        step = int(samples[-1]["step"]) if samples else offset
        return Failure(step * dt_ps, step, "engine_error", stage.error)
    last = stage.samples[-1] if stage.samples else {}
    if stage.result is not None and stage.result.stopped_early and "stop" in last:
        step = offset + int(last["step"])
        return Failure(step * dt_ps, step, str(last.get("failure_kind", "")), str(last["stop"]))
    return None


def crossing(samples: list[Sample] | tuple[Sample, ...], phase: str, *, below: bool) -> float:
    """The set point where the solid fraction first crosses 0.5 (downwards with `below`) among the
    samples of `phase`, linear in set point between the samples around it; NaN without a crossing."""
    points = [(float(v["set_T_K"]), float(v["solid"])) for v in samples if v.get("phase") == phase and "solid" in v]
    for (t0, f0), (t1, f1) in itertools.pairwise(points):
        if (f1 < 0.5 <= f0) if below else (f1 >= 0.5 > f0):
            return t1 if f1 == f0 else t0 + (0.5 - f0) * (t1 - t0) / (f1 - f0)
    return math.nan


@dataclass(frozen=True)
class DriftResult:
    """NVE at `temperature_K` after NPT there: drift of the total energy (meV/atom/ps, least
    squares), its RMS fluctuation about the fit (meV/atom), samples (time ps, total energy eV/atom),
    the failure or None, steps integrated here, engine seconds less the analysis, notes."""

    temperature_K: float
    drift_meV_per_atom_per_ps: float
    fluctuation_meV_per_atom: float
    time_ps: tuple[float, ...]
    etot_eV_per_atom: tuple[float, ...]
    failure: Failure | None
    steps_run: int
    md_seconds: float
    notes: tuple[str, ...]


def nve_drift(
    engine: MdEngine, crystal: Atoms, temperature_K: float, *, equilibrate_steps: int, nve_steps: int,
    settings: CycleSettings, stream: int = 0, folder: Path | None = None,
) -> DriftResult:  # fmt: skip
    """NPT (Berendsen) for `equilibrate_steps` at `temperature_K` from `crystal`, then NVE for
    `nve_steps` (a multiple of ``settings.sample_every``) sampled every ``settings.sample_every``.
    Raises PropertyError for bad step counts; a failing potential is in the result."""
    s = settings
    if nve_steps < 2 * s.sample_every or nve_steps % s.sample_every or equilibrate_steps < 1:
        raise PropertyError(f"nve_drift: nve_steps {nve_steps} must be a multiple of sample_every {s.sample_every} "
                            f"with at least 2 samples, equilibrate_steps {equilibrate_steps} >= 1")  # fmt: skip
    npt = MdRun(ensemble="npt_berendsen", temperature_K=temperature_K, n_steps=equilibrate_steps,
                timestep_fs=s.timestep_fs, seed=s.seed, stream=stream, maxwell_boltzmann=True,
                pressure_GPa=s.pressure_GPa, segment_steps=equilibrate_steps)  # fmt: skip
    start = crystal.copy()
    start.calc = None
    first = run_stage(engine, start, npt, name="nve_equilibrate", folder=folder)
    n, dt_ps = len(crystal), s.timestep_fs / 1000.0
    if first.error or first.result is None:
        broke = Failure(0.0, 0, "engine_error", first.error)
        return DriftResult(temperature_K, math.nan, math.nan, (), (), broke, first.steps_run, first.wall_s, first.notes)
    nve = replace(npt, ensemble="nve", n_steps=nve_steps, maxwell_boltzmann=False, segment_steps=nve_steps)

    def total(snap: Snapshot, previous: Sample | None) -> Sample:
        value = (snap.potential_energy_eV + snap.kinetic_energy_eV) / n
        if not math.isfinite(value):
            return {"stop": f"non-finite total energy at NVE step {snap.step}", "failure_kind": "non_finite"}
        return {"etot_eV_per_atom": value}

    second = run_stage(engine, first.result.atoms, nve, name="nve", sample=total, sample_every=s.sample_every,
                       folder=folder)  # fmt: skip
    good = [v for v in second.samples if "etot_eV_per_atom" in v]
    times = np.array([v["step"] * dt_ps for v in good])
    energies = np.array([v["etot_eV_per_atom"] for v in good])
    failure: Failure | None = None
    if second.stopped:
        step = int(second.samples[-1]["step"]) if second.samples else 0
        failure = Failure(step * dt_ps, step, "engine_error" if second.error else "non_finite",
                          second.error or (second.result.stop_reason if second.result else ""))  # fmt: skip
    drift, rms = math.nan, math.nan
    if failure is None and len(times) >= 2:
        slope, intercept = np.polyfit(times, energies, 1)
        drift, rms = float(slope) * 1000, float(np.std(energies - (slope * times + intercept))) * 1000
    seconds = first.wall_s + second.wall_s - second.sample_s
    return DriftResult(temperature_K, drift, rms, tuple(times.tolist()), tuple(energies.tolist()), failure,
                       first.steps_run + second.steps_run, seconds, (*first.notes, *second.notes))  # fmt: skip
