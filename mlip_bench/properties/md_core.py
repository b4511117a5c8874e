"""The engine-independent part of molecular dynamics (the public names are re-exported by
:mod:`mlip_bench.properties.md_engine`): a run is a small frozen :class:`MdRun` (ensemble,
temperature, steps, seed, ...); observers see typed :class:`Snapshot` s every k steps and may stop it;
time averages over the last steps come back in :class:`Averages`; checkpoints
(:mod:`~mlip_bench.properties.md_checkpoint`) make it resumable. An engine implements
:class:`Backend` and calls :func:`drive`.

The run is cut at protocol boundaries: multiples of ``segment_steps`` (where checkpoints are
written), the start of the averaging window and its block edges. Cutting is part of the protocol,
done identically with or without checkpoints, so that a run resumed from its checkpoint continues the
same trajectory as an uninterrupted one: ASE restores its random generator's state (the same stream
as an uncut run); LAMMPS cannot save its thermostat's generator, so it reseeds it at every boundary
from (seed, stream, step).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np
from ase import Atoms

from mlip_bench.errors import PropertyError
from mlip_bench.properties.md_checkpoint import Checkpoint, latest_checkpoint, write_checkpoint
from mlip_bench.properties.md_window import IntervalSums, Window

Ensemble = Literal["nve", "nvt_langevin", "npt_berendsen"]
ENSEMBLES: tuple[str, ...] = get_args(Ensemble)


@dataclass(frozen=True, kw_only=True)
class MdRun:
    """One MD run; times in fs, temperature in K, pressure in GPa.

    `ensemble`: ``nve`` (velocity Verlet), ``nvt_langevin`` (friction `friction_per_fs`, centre of
    mass held) or ``npt_berendsen`` (Berendsen thermostat `taut_fs`, barostat `taup_fs` with each cell
    axis following its own stress; LAMMPS needs an orthogonal cell). `seed` and `stream` pick the
    random stream (velocities, thermostat); `maxwell_boltzmann` draws velocities at `temperature_K`
    first, else the atoms' momenta are used. `average_steps` > 0 averages the last steps in
    `average_blocks` blocks (:class:`Averages`); `stress` off skips the stress (calculators without
    one; not with NPT). `segment_steps`: checkpoint interval, part of the protocol (see the module).
    `held`: indices of atoms held in place (zero velocity, not integrated, not thermostatted; the
    temperature counts the other atoms' degrees of freedom), for NVE and NVT only (an interface
    melting run melts one half of a cell with the other half held).
    Raises PropertyError naming the field that is out of range.
    """

    ensemble: Ensemble
    temperature_K: float
    n_steps: int
    timestep_fs: float = 2.0
    seed: int = 0
    stream: int = 0
    maxwell_boltzmann: bool = False
    friction_per_fs: float = 0.01
    taut_fs: float = 100.0
    pressure_GPa: float = 1e-4
    taup_fs: float = 500.0
    compressibility_per_GPa: float = 1.0 / 76.0
    average_steps: int = 0
    average_blocks: int = 5
    segment_steps: int = 1000
    stress: bool = True
    held: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        checks = {
            "ensemble": self.ensemble in ENSEMBLES,
            "n_steps": self.n_steps >= 1,
            "timestep_fs": self.timestep_fs > 0,
            "temperature_K": self.temperature_K >= 0,
            "average_steps": 0 <= self.average_steps <= self.n_steps,
            "average_blocks": self.average_blocks >= 1
            and (self.average_steps == 0 or self.average_steps >= self.average_blocks),
            "segment_steps": self.segment_steps >= 1,
            "stress": self.stress or self.ensemble != "npt_berendsen",
            "held": not self.held or (self.ensemble != "npt_berendsen" and min(self.held) >= 0),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise PropertyError(f"MdRun: {bad[0]} = {getattr(self, bad[0])!r} out of range in {self}")


@dataclass(frozen=True)
class Snapshot:
    """The state after `step` steps: energies in eV, stress (Voigt xx yy zz yz xz xy, GPa, kinetic
    term included; None without `MdRun.stress`), cell (3, 3) and continuous positions (n, 3) in Å in
    the frame of the input atoms; positions only for an observer that asks for them."""

    step: int
    time_fs: float
    potential_energy_eV: float
    kinetic_energy_eV: float
    temperature_K: float
    cell_A: np.ndarray
    stress_GPa: np.ndarray | None
    positions_A: np.ndarray | None


class StopRun(Exception):
    """Raised by an observer to end the run after the current step; the message is the reason."""


@dataclass(frozen=True)
class Observer:
    """`callback(snapshot)` after every `every_steps`-th step (counted from the run's start, also
    after a resume: steps before the checkpoint were seen by the interrupted run). Returning True or
    raising StopRun stops the run; any other exception aborts it (the last checkpoint stays)."""

    callback: Callable[[Snapshot], bool | None]
    every_steps: int
    positions: bool = False


@dataclass(frozen=True)
class Averages:
    """Means over the last `steps` steps (the start frame excluded): Voigt stress (6,) and its block
    means (blocks, 6) in GPa (None without stress), cell (3, 3) Å, continuous fractional positions
    (n, 3), potential energy eV, temperature K."""

    steps: int
    stress_GPa: np.ndarray | None
    stress_blocks_GPa: np.ndarray | None
    cell_A: np.ndarray
    scaled_positions: np.ndarray
    potential_energy_eV: float
    temperature_K: float


@dataclass(frozen=True)
class MdResult:
    """`atoms`: the last frame (positions, momenta, cell; no calculator). `steps` done (n_steps unless
    stopped at `stopped_at_step`); `averages` when asked for and the run was not stopped;
    `resumed_from_step` is None for a run from scratch; `notes` name checkpoint files ignored."""

    atoms: Atoms
    steps: int
    averages: Averages | None
    stopped_at_step: int | None = None
    stop_reason: str = ""
    resumed_from_step: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def stopped_early(self) -> bool:
        return self.stopped_at_step is not None


class Backend(Protocol):
    """One engine's integrator between protocol boundaries (used by :func:`drive`)."""

    def begin(self, step: int, length: int, accumulate: bool) -> None:
        """An interval of `length` steps starts at `step`; `accumulate`: it lies in the window."""

    def advance(self, n: int) -> None: ...

    def end(self) -> IntervalSums | None:
        """Sums of the interval's observables when accumulating."""

    def snapshot(self, step: int, positions: bool) -> Snapshot: ...

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Checkpoint arrays (``positions_A``, ``momenta``, ``cell_A`` in the input frame and the
        engine's own) and JSON-able engine state."""

    def close(self) -> None: ...


def fingerprint(engine: str, atoms: Atoms, spec: MdRun, extra: str = "") -> str:
    """A hash of what fixes a trajectory (engine, run, start structure and momenta) to tell a run's
    checkpoints from another's. The calculator is the caller's: one checkpoint path per potential."""
    fields = asdict(spec)
    if not fields["held"]:  # runs without held atoms keep the fingerprints (and checkpoints) they had
        del fields["held"]
    digest = hashlib.sha256(json.dumps([engine, fields, extra, atoms.pbc.tolist()]).encode())
    for array in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.get_momenta()):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def drive(
    open_backend: Callable[[Checkpoint | None], Backend],
    atoms: Atoms,
    spec: MdRun,
    observers: Sequence[Observer],
    checkpoint: Path | None,
    key: str,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> MdResult:
    """Run `spec` interval by interval on the backend `open_backend(start)` opens (`start`: the
    checkpoint resumed from, or None), calling observers, saving checkpoints to `checkpoint` under
    fingerprint `key`; `shapes`: the backend's own checkpoint arrays. Observers must have
    every_steps >= 1 (PropertyError)."""
    if any(o.every_steps < 1 for o in observers):
        raise PropertyError("observer every_steps must be at least 1")
    window = Window(spec.n_steps, spec.average_steps, spec.average_blocks, len(atoms))
    start: Checkpoint | None = None
    notes: tuple[str, ...] = ()
    if checkpoint is not None:
        common = {"positions_A": (len(atoms), 3), "momenta": (len(atoms), 3), "cell_A": (3, 3)}
        required = {**common, **window.shapes(), **(shapes or {})}
        start, notes = latest_checkpoint(Path(checkpoint), key, required, lambda c: _check(c, spec))
    if start is not None:
        window.restore(start.arrays)
        if start.finished:
            return _result(atoms, spec, window, start, start.step, notes)
    backend = open_backend(start)
    stop: tuple[int, str] | None = None
    try:
        for begin, end in _intervals(spec, start.step if start else 0):
            block = window.block_at(begin)
            backend.begin(begin, end - begin, block is not None)
            stop = _observed(backend, begin, end, observers)
            if stop is not None:
                break
            sums = backend.end()
            if block is not None and sums is not None:
                window.add(block, sums)
            if checkpoint is not None and end < spec.n_steps and end % spec.segment_steps == 0:
                arrays, meta = backend.state()
                write_checkpoint(checkpoint, key, Checkpoint(end, False, {**arrays, **window.arrays()}, meta))
        arrays, meta = backend.state()
    finally:
        backend.close()
    meta = {**meta, "stopped_at_step": stop[0] if stop else None, "stop_reason": stop[1] if stop else ""}
    final = Checkpoint(stop[0] if stop else spec.n_steps, True, {**arrays, **window.arrays()}, meta)
    if checkpoint is not None:
        write_checkpoint(checkpoint, key, final)
    return _result(atoms, spec, window, final, start.step if start else None, notes)


def _check(checkpoint: Checkpoint, spec: MdRun) -> str:
    if not 0 < checkpoint.step <= spec.n_steps:
        return f"step {checkpoint.step} outside 1..{spec.n_steps}"
    if not checkpoint.finished and checkpoint.step % spec.segment_steps:
        return f"step {checkpoint.step} is not a multiple of segment_steps {spec.segment_steps}"
    return ""


def _intervals(spec: MdRun, first: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each interval from step `first` on, cut at every protocol boundary."""
    cuts = set(range(0, spec.n_steps, spec.segment_steps))
    cuts |= set(Window.edges_of(spec.n_steps, spec.average_steps, spec.average_blocks))
    bounds = [*sorted(c for c in cuts if c < spec.n_steps), spec.n_steps]
    yield from ((a, b) for a, b in itertools.pairwise(bounds) if a >= first)


def _observed(backend: Backend, step: int, end: int, observers: Sequence[Observer]) -> tuple[int, str] | None:
    """Advance from `step` to `end`, stopping at observer steps; (step, reason) if one stops the run."""
    while step < end:
        target = min([end] + [(step // o.every_steps + 1) * o.every_steps for o in observers])
        backend.advance(target - step)
        step = target
        due = [o for o in observers if step % o.every_steps == 0]
        if not due:
            continue
        snapshot = backend.snapshot(step, any(o.positions for o in due))
        reasons = []
        for observer in due:
            try:
                if observer.callback(snapshot):
                    reasons.append(f"{getattr(observer.callback, '__name__', 'observer')} returned True")
            except StopRun as exc:
                reasons.append(str(exc) or "StopRun")
        if reasons:
            return step, "; ".join(reasons)
    return None


def _result(
    atoms: Atoms, spec: MdRun, window: Window, final: Checkpoint, resumed: int | None, notes: tuple[str, ...]
) -> MdResult:
    last = Atoms(atoms.numbers, positions=final.arrays["positions_A"], cell=final.arrays["cell_A"], pbc=atoms.pbc)
    last.set_momenta(final.arrays["momenta"])
    stopped = final.meta.get("stopped_at_step")
    averages = None
    if spec.average_steps and stopped is None:
        steps, stress, blocks, cell, scaled, (energy, temperature) = window.means()
        averages = Averages(steps, stress, blocks, cell, scaled, float(energy), float(temperature))
    return MdResult(last, final.step, averages, stopped, str(final.meta.get("stop_reason", "")), resumed, notes)


def block_sem(block_means: np.ndarray) -> np.ndarray:
    """Standard error of a time average from the means of its equal blocks, shape (n_blocks, ...)."""
    n = len(block_means)
    return np.asarray(block_means.std(axis=0, ddof=1) / np.sqrt(n))
