"""Watching an MD run for extrapolation and for physical failure (paper 002 App. E, Fig. 22: the
extrapolation grade γ over time). :func:`watch_md` runs NVT (Langevin, ASE's integrator: any
calculator) and records every ``sample_every`` steps a :class:`Sample`: the potential's own
uncertainty (``calc.results["uncertainty"]``, adapters/uncertainty.py; NaN when it reports none),
potential energy per atom, temperature and the smallest interatomic distance.

The run fails physically (a result, never a crash: the samples up to it are kept) when a sample has
atoms closer than ``min_distance_A``, an energy per atom that moved more than
``energy_jump_eV_per_atom`` since the previous sample, or a non-finite value; or when the calculator
raises EvaluationError or PotentialError during a step (the step is then exact: a one-step observer
counts them).

Resuming: with `checkpoint_dir` the engine checkpoints every ``run.segment_steps`` steps and the
samples go to a sidecar file (:data:`RECORD_FILE`) at the same steps, written before the engine's
checkpoint; a resumed run keeps the samples up to the checkpoint's step and continues, so its record
equals an uninterrupted run's. A sidecar that does not cover the checkpoint (lost, damaged) restarts
the run from step 0.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.neighborlist import neighbor_list

from mlip_bench.adapters.uncertainty import STRUCTURE_KEY
from mlip_bench.errors import CheckpointWarning, EvaluationError, PotentialError, PropertyError
from mlip_bench.properties.md_checkpoint import Checkpoint, latest_checkpoint, previous_path, write_text_atomic
from mlip_bench.properties.md_core import MdRun, Observer, Snapshot, StopRun, fingerprint
from mlip_bench.properties.md_engine import AseEngine

FAILURE_KINDS = ("min_distance", "energy_jump", "non_finite", "calculator_error")
RECORD_FILE = "watch.json"
CHECKPOINT_FILE = "md.npz"
_SCHEMA = "mlip-bench md watch 1"


@dataclass(frozen=True, kw_only=True)
class WatchLimits:
    """Failure limits: smallest allowed interatomic distance (Å) and largest change of the
    potential energy per atom between consecutive samples (eV/atom). Raises ValueError if not > 0."""

    min_distance_A: float = 1.5
    energy_jump_eV_per_atom: float = 0.5

    def __post_init__(self) -> None:
        if not (self.min_distance_A > 0 and self.energy_jump_eV_per_atom > 0):
            raise ValueError(f"WatchLimits must be positive, got {self}")


@dataclass(frozen=True)
class Sample:
    """The state after `step` steps: uncertainty in the potential's unit (NaN: none reported),
    potential energy eV/atom, temperature K, smallest interatomic distance Å (inf: none within
    the search radius)."""

    step: int
    time_fs: float
    uncertainty: float
    energy_eV_per_atom: float
    temperature_K: float
    min_distance_A: float


@dataclass(frozen=True)
class Failure:
    """Where and why the run failed physically; `kind` is one of :data:`FAILURE_KINDS`."""

    step: int
    kind: str
    reason: str


@dataclass(frozen=True)
class WatchResult:
    """Samples (step 0 included), the failure (None: the run completed), steps completed, the run
    settings and notes (checkpoint or record files ignored, restarts)."""

    samples: tuple[Sample, ...]
    failure: Failure | None
    steps_completed: int
    run: MdRun
    resumed_from_step: int | None = None
    notes: tuple[str, ...] = ()

    def first_above(self, threshold: float | None) -> Sample | None:
        """The first sample whose uncertainty exceeds `threshold` (None: no threshold or never)."""
        if threshold is None:
            return None
        return next((s for s in self.samples if s.uncertainty > threshold), None)


def min_distance(atoms: Atoms, *, cutoff_A: float) -> float:
    """Smallest distance (Å) between two atoms, periodic images included; inf when no pair is
    closer than `cutoff_A`."""
    distances = neighbor_list("d", atoms, cutoff_A)
    return float(distances.min()) if len(distances) else math.inf


def sample_failure(previous: Sample | None, sample: Sample, limits: WatchLimits) -> Failure | None:
    """The failure `sample` shows (after `previous`), or None."""
    values = (sample.energy_eV_per_atom, sample.temperature_K)
    if not all(math.isfinite(v) for v in values) or math.isnan(sample.min_distance_A):
        return Failure(sample.step, "non_finite", f"non-finite energy or temperature {values} at step {sample.step}")
    if sample.min_distance_A < limits.min_distance_A:
        return Failure(
            sample.step,
            "min_distance",
            f"atoms {sample.min_distance_A:.3f} Å apart (< {limits.min_distance_A:g} Å) at step {sample.step}",
        )
    if previous is not None:
        jump = abs(sample.energy_eV_per_atom - previous.energy_eV_per_atom)
        if jump > limits.energy_jump_eV_per_atom:
            return Failure(
                sample.step,
                "energy_jump",
                f"energy moved {jump:.3g} eV/atom (> {limits.energy_jump_eV_per_atom:g}) between steps "
                f"{previous.step} and {sample.step}",
            )
    return None


def first_failure(samples: Sequence[Sample], limits: WatchLimits) -> Failure | None:
    """The first failure along `samples` (in step order)."""
    previous = None
    for sample in samples:
        failure = sample_failure(previous, sample, limits)
        if failure is not None:
            return failure
        previous = sample
    return None


class _RecordGap(Exception):
    """The sidecar does not reach the step the engine resumes from: the run restarts from step 0."""


class _Watch:
    """The observers' state: samples so far (step 0 first), the last step completed, the sidecar
    `record` of the run with fingerprint `key`."""

    def __init__(self, calc: Any, start: Atoms, run: MdRun, sample_every: int, limits: WatchLimits) -> None:
        self.calc, self.run, self.sample_every, self.limits = calc, run, sample_every, limits
        self.template = Atoms(start.numbers, cell=start.cell, pbc=start.pbc)
        self.samples: list[Sample] = []
        self.last_step: int | None = None
        self.record: Path | None = None
        self.key = ""

    def observers(self) -> tuple[Observer, Observer]:
        # samples first: at a shared step the sidecar is written after the sample is taken
        return Observer(self._on_sample, self.sample_every, positions=True), Observer(self._on_step, 1)

    def sample(self, atoms: Atoms, step: int, energy_eV: float, temperature_K: float) -> Sample:
        """The sample of `atoms` after `step` steps; the uncertainty is the calculator's last result."""
        raw = (getattr(self.calc, "results", None) or {}).get(STRUCTURE_KEY)
        uncertainty = math.nan if raw is None else float(raw)
        if raw is not None and not math.isfinite(uncertainty):
            uncertainty = math.inf  # a non-finite grade is as far outside the training set as it gets
        finite = bool(np.isfinite(atoms.positions).all())
        cutoff = max(4.0, 2 * self.limits.min_distance_A)
        distance = min_distance(atoms, cutoff_A=cutoff) if finite else math.nan
        per_atom = energy_eV / max(len(atoms), 1)
        return Sample(step, step * self.run.timestep_fs, uncertainty, per_atom, temperature_K, distance)

    def _on_sample(self, snap: Snapshot) -> None:
        assert snap.positions_A is not None
        atoms = self.template.copy()
        atoms.set_cell(snap.cell_A)
        atoms.positions = snap.positions_A
        sample = self.sample(atoms, snap.step, snap.potential_energy_eV, snap.temperature_K)
        failure = sample_failure(self.samples[-1] if self.samples else None, sample, self.limits)
        self.samples.append(sample)
        if failure is not None:
            self.save(snap.step)
            raise StopRun(failure.reason)

    def _on_step(self, snap: Snapshot) -> None:
        self.last_step = snap.step
        if snap.step % self.run.segment_steps == 0 or snap.step == self.run.n_steps:
            self.save(snap.step)  # before the engine's checkpoint at this step

    def save(self, step: int) -> None:
        if self.record is not None:
            payload = {
                "schema": _SCHEMA,
                "key": self.key,
                "covered": step,
                "samples": [asdict(s) for s in self.samples],
            }
            write_text_atomic(self.record, json.dumps(payload))


def watch_md(
    atoms: Atoms,
    calc: Any,
    run: MdRun,
    *,
    sample_every: int,
    limits: WatchLimits,
    checkpoint_dir: Path | None = None,
) -> WatchResult:
    """Run `run` (ASE's integrators) from `atoms` with `calc` and watch it (module docstring).

    With ``run.maxwell_boltzmann`` the velocities are drawn here at ``run.temperature_K`` from the
    stream (seed, stream, 1), so that the step-0 sample has a temperature; else `atoms`' momenta are
    used. `sample_every` >= 1 steps between samples. Raises PropertyError for bad settings or an
    engine failure; the calculator's EvaluationError or PotentialError is a :class:`Failure`."""
    if sample_every < 1:
        raise PropertyError(f"watch_md: sample_every must be at least 1, got {sample_every}")
    start = atoms.copy()
    start.calc = None
    if run.maxwell_boltzmann:
        rng = np.random.default_rng([run.seed, run.stream, 1])
        MaxwellBoltzmannDistribution(start, temperature_K=run.temperature_K, rng=rng)
        Stationary(start)
    run = replace(run, maxwell_boltzmann=False, stress=False)
    engine_key = fingerprint("ase", start, run)
    key = fingerprint("ase", start, run, extra=json.dumps([sample_every, asdict(limits)]))
    notes: list[str] = []
    for _ in range(2):  # a second pass only after a record gap, from step 0
        try:
            return _attempt(start, calc, run, sample_every, limits, checkpoint_dir, (engine_key, key), notes)
        except _RecordGap as exc:
            assert checkpoint_dir is not None
            notes.append(f"{checkpoint_dir / RECORD_FILE}: {exc}; the run restarts from step 0")
            for path in (checkpoint_dir / CHECKPOINT_FILE, previous_path(checkpoint_dir / CHECKPOINT_FILE)):
                path.unlink(missing_ok=True)
    raise AssertionError("unreachable: the second pass has no checkpoint to resume")


def _attempt(
    start: Atoms,
    calc: Any,
    run: MdRun,
    sample_every: int,
    limits: WatchLimits,
    folder: Path | None,
    keys: tuple[str, str],
    notes: list[str],
) -> WatchResult:
    """One pass of :func:`watch_md`; raises _RecordGap when the sidecar does not reach the checkpoint."""
    watch = _Watch(calc, start, run, sample_every, limits)
    first = start.copy()
    first.calc = calc
    try:
        energy = float(first.get_potential_energy())
    except (EvaluationError, PotentialError) as exc:
        return WatchResult((), Failure(0, _kind_of(exc), str(exc)), 0, run, notes=tuple(notes))
    watch.samples.append(watch.sample(first, 0, energy, float(first.get_temperature())))
    failure = sample_failure(None, watch.samples[0], limits)
    if failure is not None:  # the start itself is unphysical (atoms too close, a non-finite value)
        return WatchResult(tuple(watch.samples), failure, 0, run, notes=tuple(notes))
    resumed = 0
    if folder is not None:
        watch.record, watch.key = folder / RECORD_FILE, keys[1]
        resumed = _checkpoint_step(folder / CHECKPOINT_FILE, keys[0], run, len(start))
        stored, covered, note = _read_record(watch.record, watch.key)
        notes += [note] if note else []
        if resumed > covered:
            raise _RecordGap(f"samples cover step {covered}, the checkpoint is at step {resumed}")
        watch.samples += [s for s in stored if 0 < s.step <= resumed]
    try:
        result = AseEngine(calc).run(start, run, observers=watch.observers(), checkpoint=_path(folder))
    except (EvaluationError, PotentialError) as exc:
        step = (watch.last_step if watch.last_step is not None else resumed) + 1
        failure = Failure(step, _kind_of(exc), f"step {step}: {exc}")
        return WatchResult(tuple(watch.samples), failure, step - 1, run, resumed or None, tuple(notes))
    notes += result.notes
    if result.stopped_early:
        failure = first_failure(watch.samples, limits)
    return WatchResult(tuple(watch.samples), failure, result.steps, run, result.resumed_from_step, tuple(notes))


def _path(folder: Path | None) -> Path | None:
    return None if folder is None else folder / CHECKPOINT_FILE


def _kind_of(exc: Exception) -> str:
    # evaluate.predict says "non-finite" for NaN or inf energies, forces or stress
    return "non_finite" if "non-finite" in str(exc) else "calculator_error"


def _checkpoint_step(path: Path, key: str, run: MdRun, n_atoms: int) -> int:
    """The step of the checkpoint the engine will resume from (0: none),
    chosen as :func:`~mlip_bench.properties.md_core.drive` does; its warnings are left to the engine."""
    shapes = {"positions_A": (n_atoms, 3), "momenta": (n_atoms, 3), "cell_A": (3, 3)}

    def check(c: Checkpoint) -> str:
        bad = not 0 < c.step <= run.n_steps or (not c.finished and c.step % run.segment_steps)
        return "out of protocol" if bad else ""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)
        found, _ = latest_checkpoint(path, key, shapes, check)
    return found.step if found is not None else 0


def _read_record(path: Path, key: str) -> tuple[list[Sample], int, str]:
    """Stored samples, the step they cover and a note when the file was unusable."""
    if not path.exists():
        return [], 0, ""
    try:
        raw = json.loads(path.read_text())
        if raw.get("schema") != _SCHEMA or raw.get("key") != key:
            return [], 0, f"{path}: samples of another run; ignored"
        samples = [Sample(**entry) for entry in raw["samples"]]
        return samples, int(raw["covered"]), ""
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return [], 0, f"{path}: unreadable samples ({type(exc).__name__}: {exc}); ignored"
