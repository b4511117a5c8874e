"""Sampled, resumable MD stages for properties built from chains of runs (liquid structure, heat
cycles): :func:`run_stage` runs one :class:`~mlip_bench.properties.md_core.MdRun` on any
:class:`~mlip_bench.properties.md_engine.MdEngine`, calls `sample(snapshot, previous)` every
`sample_every` steps (`previous`: the sample before, or the stage's `previous` for its first) and
keeps the JSON-able samples it returns. A sample with a ``"stop"`` entry (the reason) ends the run
there (a failure found by the sample function), kept like any other sample.

Resuming: with a `folder`, the engine checkpoints to ``<name>.npz`` and the samples go to a sidecar
``<name>.samples.json``, written by the sampling observer at every checkpoint step and at the last
step, before the engine writes its checkpoint there (the observer runs first). A resumed stage
re-samples every step after its checkpoint, replacing stored samples from that step on, so its
samples equal an uninterrupted run's. A stage whose samples miss a step of the grid (the sidecar was
lost or damaged) is run again from step 0. A finished stage returns at once from its checkpoint, so
a chain of stages replays to where it stopped.

The engine's failures (a calculator raising EvaluationError or PotentialError through ASE, LAMMPS
failing with PropertyError) end the stage with :attr:`StageResult.error` set and the samples up to
it kept: for a benchmark a failing potential is a result, not a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase import Atoms

from mlip_bench.errors import EvaluationError, PotentialError, PropertyError
from mlip_bench.properties.md_checkpoint import previous_path, write_text_atomic
from mlip_bench.properties.md_core import MdResult, MdRun, Observer, Snapshot, StopRun, fingerprint
from mlip_bench.properties.md_engine import MdEngine

_SCHEMA = "mlip-bench md samples 1"
#: a sample: JSON-able values by name (the stage adds "step")
Sample = dict[str, Any]


@dataclass(frozen=True)
class StageResult:
    """One stage: the engine's result (None when the engine failed), the samples in step order,
    steps integrated in this call (0 when the stage came whole from its checkpoint), seconds of the
    engine run in this call and seconds of it spent in `sample`, the failure message of the engine
    (empty: none), and notes (ignored files, restarts)."""

    name: str
    result: MdResult | None
    samples: tuple[Sample, ...]
    steps_run: int
    wall_s: float
    sample_s: float
    error: str = ""
    notes: tuple[str, ...] = ()

    @property
    def stopped(self) -> bool:
        """The sample function stopped the run (StopRun) or the engine failed."""
        return bool(self.error) or (self.result is not None and self.result.stopped_early)


SampleFunction = Callable[[Snapshot, Sample | None], Sample]


class _Sampler:
    def __init__(self, sample: SampleFunction, spec: MdRun, every: int, path: Path | None, key: str) -> None:
        self.sample, self.spec, self.every, self.path, self.key = sample, spec, every, path, key
        self.samples: dict[int, Sample] = {}
        self.first: Sample | None = None
        self.seconds = 0.0

    def __call__(self, snap: Snapshot) -> None:
        start = time.perf_counter()
        try:
            for step in [s for s in self.samples if s >= snap.step]:
                del self.samples[step]  # a resumed run re-samples every step after its checkpoint
            before = [s for s in self.samples if s < snap.step]
            value = {"step": snap.step, **self.sample(snap, self.samples[max(before)] if before else self.first)}
            self.samples[snap.step] = value
            stop = value.get("stop")
            if stop or snap.step % self.spec.segment_steps == 0 or snap.step == self.spec.n_steps:
                self.save(snap.step)  # before the engine's checkpoint at this step (final when stopping)
            if stop:
                raise StopRun(str(stop))
        finally:
            self.seconds += time.perf_counter() - start

    def save(self, step: int) -> None:
        if self.path is None:
            return
        payload = {"schema": _SCHEMA, "key": self.key, "covered": step, "samples": list(self.samples.values())}
        write_text_atomic(self.path, json.dumps(payload))

    def load(self) -> str:
        """Read the sidecar; a note when it was unusable."""
        if self.path is None or not self.path.exists():
            return ""
        try:
            raw = json.loads(self.path.read_text())
            if raw.get("schema") != _SCHEMA or raw.get("key") != self.key:
                return f"{self.path}: samples of another run; ignored"
            self.samples = {int(s["step"]): dict(s) for s in raw["samples"]}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            return f"{self.path}: unreadable samples ({type(exc).__name__}: {exc}); ignored"
        return ""


def run_stage(
    engine: MdEngine,
    atoms: Atoms,
    spec: MdRun,
    *,
    name: str,
    sample: SampleFunction | None = None,
    sample_every: int = 0,
    positions: bool = False,
    previous: Sample | None = None,
    folder: Path | None = None,
) -> StageResult:
    """Run `spec` from `atoms` on `engine` (module docstring); `sample` (with `positions`: the
    snapshot carries them) every `sample_every` steps, which must divide ``spec.n_steps`` and
    ``spec.segment_steps`` (so that the sidecar is written where the engine checkpoints);
    `previous` is handed to the first sample (JSON-able: part of the stage's identity).
    Raises PropertyError for a bad sampling interval; the engine's failures are in the result."""
    if sample is not None and (sample_every < 1 or spec.n_steps % sample_every or spec.segment_steps % sample_every):
        raise PropertyError(
            f"stage {name}: sample_every {sample_every} must divide n_steps {spec.n_steps} and "
            f"segment_steps {spec.segment_steps}"
        )
    key = fingerprint(engine.name, atoms, spec, json.dumps([name, sample_every, positions, previous]))
    checkpoint = folder / f"{name}.npz" if folder is not None else None
    sidecar = folder / f"{name}.samples.json" if folder is not None else None
    notes: list[str] = []
    for attempt in range(2):
        sampler = _Sampler(sample, spec, sample_every, sidecar, key) if sample is not None else None
        if sampler is not None:
            sampler.first = previous
            note = sampler.load()
            notes += [note] if note else []
        observers = [Observer(sampler, sample_every, positions)] if sampler is not None else []
        start = time.perf_counter()
        try:
            result: MdResult | None = engine.run(atoms, spec, observers=observers, checkpoint=checkpoint)
            error = ""
        except (EvaluationError, PotentialError, PropertyError) as exc:
            result, error = None, str(exc)
        wall = time.perf_counter() - start
        samples = tuple(sampler.samples[s] for s in sorted(sampler.samples)) if sampler is not None else ()
        if result is not None:
            samples = tuple(s for s in samples if s["step"] <= result.steps)
            notes += result.notes
        missing = _missing(samples, result, sample_every) if sampler is not None else 0
        if missing and attempt == 0 and checkpoint is not None:
            notes.append(f"{sidecar}: {missing} samples missing before the checkpoint; stage {name} runs again")
            for path in (checkpoint, previous_path(checkpoint)):
                path.unlink(missing_ok=True)
            continue
        ran = 0 if result is None else result.steps - (result.resumed_from_step or 0)
        seconds = sampler.seconds if sampler is not None else 0.0
        return StageResult(name, result, samples, ran, wall, seconds, error, tuple(notes))
    raise AssertionError("unreachable: the second attempt starts without a checkpoint")


def _missing(samples: tuple[Sample, ...], result: MdResult | None, every: int) -> int:
    """Sample steps absent from the grid every, 2 every, ... up to the last step reached."""
    if result is None:
        return 0  # failed: the samples end where the engine stopped
    expected = set(range(every, result.steps + 1, every))
    return len(expected - {int(s["step"]) for s in samples})
