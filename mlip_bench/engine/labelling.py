"""Label structures with a potential through the engine's work items, without a task: the
dataset half of the reference role (engine/reference_dataset.py) and anything else that needs one
potential's energy, forces and stress on given structures.

Structures are cut into the same chunks, run as the same :class:`PredictJob` work items on any
executor and kept in the same prediction artifacts (``<results>/artifacts/predictions/<potential
key>/``) as a dataset task's predictions: a structure a task already predicted with this potential
is not computed again, each chunk is stored the moment it finishes, and a killed run resumes with
every finished chunk in place. A structure the potential fails on (an exception, a value that is no
finite number or beyond any physical scale, no forces) is returned with its reason, never labelled.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mlip_bench.adapters.registry import Potential
from mlip_bench.data.frames import Frame
from mlip_bench.engine.artifacts import ArtifactStore, ChunkPredictions, chunked, content_key, frame_key
from mlip_bench.engine.evaluate import Prediction, check_physical
from mlip_bench.engine.executors import Executor, SerialExecutor
from mlip_bench.engine.identity import predictions_key
from mlip_bench.engine.runner import DEFAULT_ITEM_TIMEOUT_S, RunOptions
from mlip_bench.engine.workitems import PredictJob, execute
from mlip_bench.errors import EvaluationError


@dataclass(frozen=True)
class Labels:
    """What :func:`label_frames` found: each labelled frame's prediction and each other frame's
    reason (both by frame id); `computed` structures were predicted now, `reused` found stored;
    `calculator_s` is the time inside the calculator of every labelled frame (stored ones included)."""

    predictions: dict[str, Prediction]
    failures: dict[str, str]
    computed: int
    reused: int
    calculator_s: float
    potential_key: str


def label_frames(
    potential: Potential,
    spec: str,
    frames: Sequence[Frame],
    *,
    source: str,
    results_dir: str | Path | None,
    executor: Executor | None = None,
    options: RunOptions | None = None,
    data_root: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> Labels:
    """Energy (eV), forces (N, 3) eV/Å and stress (6,) eV/Å³ (when the potential gives one) of each
    frame by `potential` (resolved from `spec`, which the workers resolve again), computing only what
    `results_dir`'s artifacts lack (everything when `force`; nothing is stored when it is None).
    `source` names the structures' file in messages. Failures are returned, not raised; raises only
    what the executor raises for a job it cannot send (WorkerError)."""
    options = options or RunOptions()
    pkey = predictions_key(potential)
    artifacts = ArtifactStore(Path(results_dir) / "artifacts") if results_dir is not None else None
    stored = artifacts.load_predictions(pkey) if artifacts is not None and not force else ChunkPredictions({}, {})
    failures = {frame.id: reason for frame in frames if (reason := _unfit(frame, potential))}
    todo = []
    for frame in frames:
        if frame.id in failures:
            continue
        if frame_key(frame) not in stored.predictions and frame_key(frame) not in stored.failures:
            todo.append(frame)
    reused = len(frames) - len(failures) - len(todo)
    computed = _run(potential, spec, todo, source, artifacts, executor, options, data_root, progress)
    found = ChunkPredictions({**stored.predictions, **computed.predictions}, {**stored.failures, **computed.failures})
    predictions: dict[str, Prediction] = {}
    for frame in frames:
        if frame.id in failures:
            continue
        where = f"{source}: structure {frame.id!r} with {potential.info.spec}"
        try:
            predictions[frame.id] = _checked(found, frame, where)
        except EvaluationError as exc:
            failures[frame.id] = str(exc)
    seconds = sum(p.seconds for p in predictions.values())
    return Labels(predictions, failures, len(todo), reused, seconds, pkey)


def _unfit(frame: Frame, potential: Potential) -> str:
    """Why `frame` is not sent to the potential ("" when it is): a structure no potential may see,
    or elements the potential does not support."""
    problem = frame.problem(())  # structure fields only: the frame's own labels are replaced
    if problem:
        return problem
    missing = potential.info.unsupported(frame.elements)
    return f"elements {sorted(missing)} not supported by {potential.info.spec}" if missing else ""


def _checked(found: ChunkPredictions, frame: Frame, where: str) -> Prediction:
    """The frame's prediction, checked as a label must be; raises EvaluationError with the reason."""
    key = frame_key(frame)
    pred = found.predictions.get(key)
    if pred is None:
        raise EvaluationError(found.failures.get(key) or f"{where}: no prediction (its work item did not finish)")
    check_physical(pred, frame.atoms, label=where)
    if pred.forces_eV_per_A is None:
        raise EvaluationError(f"{where}: potential returned no forces")
    return pred


def _run(
    potential: Potential,
    spec: str,
    frames: list[Frame],
    source: str,
    artifacts: ArtifactStore | None,
    executor: Executor | None,
    options: RunOptions,
    data_root: str | None,
    progress: bool,
) -> ChunkPredictions:
    """Predict `frames` as chunked work items on `executor`, storing each chunk as it arrives; a
    lost chunk (worker crash, timeout) is a failure of its structures, not stored: the next run
    computes it again."""
    pkey = predictions_key(potential)
    run_id = uuid.uuid4().hex[:12]
    root = str(artifacts.root) if artifacts is not None else None
    jobs = []
    for chunk in chunked(frames, max_structures=options.chunk_structures, max_atoms=options.chunk_atoms):
        structures = []
        for frame in chunk:
            atoms = frame.atoms.copy()
            atoms.info["id"] = frame.id  # the predictions adapter matches by id
            structures.append((frame_key(frame), atoms))
        chunk_key = content_key(pkey, [k for k, _ in structures])  # as the runner's: chunks are shared
        label = f"label | {potential.info.name} | {len(chunk)} structures"
        jobs.append(PredictJob(run_id, spec, data_root, label, pkey, chunk_key, source, tuple(structures), root))
    out = ChunkPredictions({}, {})
    if not jobs:
        return out
    timeout = options.timeout_s or DEFAULT_ITEM_TIMEOUT_S
    bar = tqdm(total=len(jobs), desc=f"labelling with {potential.info.name}", unit="chunk", disable=not progress)
    executor = executor or SerialExecutor()
    for i, result in executor.map(execute, jobs, timeouts_s=[timeout] * len(jobs)):
        job = jobs[i]
        if isinstance(result, BaseException):
            reason = f"{job.label}: work item lost: {type(result).__name__}: {result}"
            out.failures.update({key: reason for key, _ in job.structures})
        else:
            assert isinstance(result, ChunkPredictions)
            if artifacts is not None:
                artifacts.put_predictions(pkey, job.chunk_key, result)
            out.predictions.update(result.predictions)
            out.failures.update(result.failures)
        bar.update()
    bar.close()
    return out
