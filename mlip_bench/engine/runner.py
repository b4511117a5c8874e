"""The runner: potential x task cells -> work items -> result records.

Each cell is planned in this process (the potential resolved once, the dataset loaded once per
process), split into work items (chunks of structures to predict for dataset kinds, the items a
property kind declares), and the items not already in the artifact store are sent to the executor.
Each item's result is stored the moment it arrives; a cell is reduced to its record as soon as its
last item is in, and the record is stored. A run killed at any point (SIGKILL included) loses at
most the items in flight: the next run finds everything else in the store.

A cell never raises for bad input: an unknown potential, a missing dataset, a crashing or hanging
calculator become a record with status "failed" (or "missing_data", "not_applicable",
"unavailable") and a message naming the culprit, so the rest of a leaderboard completes.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from mlip_bench.adapters.registry import Potential
from mlip_bench.data.frames import Dataset
from mlip_bench.data.registry import load_dataset
from mlip_bench.engine.artifacts import ArtifactStore, ChunkPredictions, chunked, content_key, frame_key
from mlip_bench.engine.build_record import RecordBuilder
from mlip_bench.engine.executors import Executor, SerialExecutor
from mlip_bench.engine.identity import cell_key as _cell_key
from mlip_bench.engine.identity import predictions_key, resolve
from mlip_bench.engine.kinds import KINDS, Outcome, TaskContext, TaskKind
from mlip_bench.engine.kinds.base import ItemOutput
from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.engine.store import ResultStore
from mlip_bench.engine.workitems import ItemJob, Job, PredictJob, execute
from mlip_bench.errors import DatasetNotFoundError, MlipBenchError, OptionalDependencyError

#: cell outcomes that depend on the machine rather than the inputs: never reused from the store
RERUN_STATUSES = frozenset({"failed", "unavailable", "missing_data"})
#: per-item time limit when neither the CLI nor the task nor the kind sets one
DEFAULT_ITEM_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Cell:
    """One potential spec on one task (picklable)."""

    potential: str
    task: TaskSpec
    data_root: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """How cells are cut into work items: dataset chunks of at most `chunk_structures` structures
    and about `chunk_atoms` atoms; `timeout_s` overrides every item's time limit."""

    chunk_structures: int = 64
    chunk_atoms: int = 4096
    timeout_s: float | None = None


def cell_key(cell: Cell) -> str:
    """Content hash of everything that determines a cell's result."""
    return _cell_key(cell.task, resolve(cell.potential, cell.data_root), cell.potential, cell.data_root)


@dataclass
class _CellState:
    cell: Cell
    builder: RecordBuilder
    kind: TaskKind
    potential: Potential
    dataset: Dataset | None = None
    potential_key: str = ""
    wanted: list[str] = field(default_factory=list)  # structure keys a dataset kind scores
    pending: set[str] = field(default_factory=set)  # job keys not yet in
    outputs: dict[str, ItemOutput] = field(default_factory=dict)


class _Run:
    def __init__(self, store: ResultStore | None, force: bool, options: RunOptions) -> None:
        self.store = store
        self.artifacts = ArtifactStore(store.root / "artifacts") if store is not None else None
        self.force = force
        self.options = options
        self.run_id = uuid.uuid4().hex[:12]
        self.potentials: dict[tuple[str, str | None], Potential | Exception] = {}
        self.views: dict[str, ChunkPredictions] = {}  # potential key -> stored and new predictions
        self.lost: dict[str, dict[str, str]] = {}  # potential key -> structure key -> reason
        self.jobs: dict[str, Job] = {}
        self.job_cell: dict[str, _CellState] = {}  # who planned the job (wall time, calls)
        self.waiting: dict[str, list[_CellState]] = {}  # job key -> cells waiting for it
        self.timeouts: dict[str, float] = {}
        self.jobs_by_structure: dict[tuple[str, str], str] = {}  # (potential key, structure key) -> job key

    # planning ---------------------------------------------------------------------------------
    def potential(self, cell: Cell) -> Potential | Exception:
        key = (cell.potential, cell.data_root)
        if key not in self.potentials:
            self.potentials[key] = resolve(cell.potential, cell.data_root)
        return self.potentials[key]

    def key(self, cell: Cell) -> str:
        return _cell_key(cell.task, self.potential(cell), cell.potential, cell.data_root)

    def plan(self, cell: Cell, key: str) -> _CellState | ResultRecord:
        """The cell's state with its jobs scheduled, or its final record when it cannot run."""
        builder = RecordBuilder(cell.potential, cell.task, key)
        potential = self.potential(cell)
        if isinstance(potential, OptionalDependencyError):
            return builder.finish("unavailable", str(potential))
        if isinstance(potential, MlipBenchError):
            return builder.finish("failed", str(potential))
        if isinstance(potential, Exception):
            return builder.finish("failed", f"{cell.potential}: {type(potential).__name__}: {potential}")
        builder.potential = potential
        kind = KINDS.get(cell.task.kind)
        if kind is None:
            return builder.finish("failed", f"task {cell.task.id}: unknown kind {cell.task.kind!r}")
        lacking = kind.requires - potential.info.provides
        if lacking:
            what = ", ".join(sorted(lacking))
            return builder.finish(
                "not_applicable", f"{potential.info.spec} does not compute {what}, which task {cell.task.id} needs"
            )
        if kind.requires_uncertainty and potential.info.uncertainty is None:
            return builder.finish(
                "not_applicable",
                f"{potential.info.spec} reports no uncertainty, which task {cell.task.id} scores (an MTP needs "
                "';training=DATASET', a committee 'committee:A|B|...'; see adapters/uncertainty.py)",
            )
        state = _CellState(cell, builder, kind, potential)
        if kind.needs_dataset:
            try:
                state.dataset = builder.dataset = load_dataset(cell.task.dataset or "", data_root=cell.data_root)
            except DatasetNotFoundError as exc:
                return builder.finish("missing_data", str(exc))
            except MlipBenchError as exc:
                return builder.finish("failed", str(exc))
        reason = _inapplicable(potential, cell.task, state.dataset)
        if reason:
            return builder.finish("not_applicable", reason)
        limits = (self.options.timeout_s, cell.task.parameters.get("item_timeout_s"), kind.item_timeout_s)
        timeout = float(next((t for t in limits if t), DEFAULT_ITEM_TIMEOUT_S))
        try:
            if state.dataset is not None:
                self._plan_predictions(state, timeout)
            else:
                self._plan_items(state, key, timeout)
        except Exception as exc:  # a kind that cannot plan (bad parameters, a bug) fails its cell only
            return builder.finish("failed", f"{cell.task.id}: cannot plan work items: {type(exc).__name__}: {exc}")
        return state

    def _view(self, potential_key: str) -> ChunkPredictions:
        if potential_key not in self.views:
            stored = None if self.force or self.artifacts is None else self.artifacts.load_predictions(potential_key)
            self.views[potential_key] = stored or ChunkPredictions({}, {})
        return self.views[potential_key]

    def _plan_predictions(self, state: _CellState, timeout: float) -> None:
        assert state.dataset is not None
        state.potential_key = pkey = predictions_key(state.potential)
        view = self._view(pkey)
        probe = TaskContext(task=state.cell.task, potential=state.potential, calculator=None, dataset=state.dataset)
        todo = []
        for frame in state.dataset.frames:
            if not state.kind.wants_prediction(probe, frame):
                continue
            skey = frame_key(frame)
            state.wanted.append(skey)
            if skey in view.predictions or skey in view.failures:
                continue
            if (pkey, skey) in self.jobs_by_structure:
                self._wait(state, self.jobs_by_structure[(pkey, skey)])
                continue
            todo.append(frame)
        source = state.dataset.provenance.path or state.dataset.id
        chunks = chunked(todo, max_structures=self.options.chunk_structures, max_atoms=self.options.chunk_atoms)
        for frames in chunks:
            structures = []
            for frame in frames:
                atoms = frame.atoms.copy()
                atoms.info["id"] = frame.id  # the predictions adapter matches by id
                structures.append((frame_key(frame), atoms))
            chunk_key = content_key(pkey, [k for k, _ in structures])
            label = f"{state.cell.task.id} | {state.potential.info.name} | {len(frames)} structures"
            job = PredictJob(
                self.run_id, state.cell.potential, state.cell.data_root, label, pkey, chunk_key, source,
                tuple(structures), self._artifact_root(),
            )  # fmt: skip
            self._schedule(state, chunk_key, job, timeout)
            for skey, _ in structures:
                self.jobs_by_structure[(pkey, skey)] = chunk_key

    def _artifact_root(self) -> str | None:
        return str(self.artifacts.root) if self.artifacts is not None else None

    def _plan_items(self, state: _CellState, key: str, timeout: float) -> None:
        for item in state.kind.items(state.cell.task):
            item_key = content_key(key, item.id, item.payload)
            stored = None
            if not self.force and self.artifacts is not None:
                stored = self.artifacts.get_item(item_key, ItemOutput)
            if stored is not None:
                state.outputs[item.id] = stored
                continue
            scratch = str(self.artifacts.scratch_dir(item_key)) if self.artifacts is not None else None
            label = f"{state.cell.task.id} | {state.potential.info.name} | {item.id}"
            job = ItemJob(
                self.run_id, state.cell.potential, state.cell.data_root, label, item_key, state.cell.task, item,
                scratch, self._artifact_root(),
            )  # fmt: skip
            self._schedule(state, item_key, job, timeout)

    def _schedule(self, state: _CellState, job_key: str, job: Job, timeout: float) -> None:
        self.jobs[job_key] = job
        self.job_cell[job_key] = state
        self.timeouts[job_key] = timeout
        self._wait(state, job_key)

    def _wait(self, state: _CellState, job_key: str) -> None:
        if job_key not in state.pending:
            state.pending.add(job_key)
            self.waiting.setdefault(job_key, []).append(state)

    # results ------------------------------------------------------------------------------------
    def accept(self, job_key: str, result: Any, seconds: float) -> list[_CellState]:
        """Store one job's result (or record its loss); returns the cells now complete."""
        job = self.jobs[job_key]
        owner = self.job_cell[job_key]
        owner.builder.cost.wall_s += seconds
        if isinstance(result, BaseException):
            reason = f"{job.label}: work item lost: {type(result).__name__}: {result}"
            if isinstance(job, PredictJob):
                lost = self.lost.setdefault(job.potential_key, {})
                lost.update({skey: reason for skey, _ in job.structures})
            else:
                owner.builder.cost.lost[job.item.id] = reason
        elif isinstance(job, PredictJob):
            assert isinstance(result, ChunkPredictions)
            if self.artifacts is not None:
                self.artifacts.put_predictions(job.potential_key, job.chunk_key, result)
            view = self._view(job.potential_key)
            view.predictions.update(result.predictions)
            view.failures.update(result.failures)
            owner.builder.cost.calls += len(result.predictions) + len(result.failures)
        else:
            assert isinstance(result, ItemOutput)
            if self.artifacts is not None:
                self.artifacts.put_item(job.key, result)
                self.artifacts.drop_scratch(job.key)
            owner.outputs[job.item.id] = result
            owner.builder.cost.calls += result.calls
        done = []
        for state in self.waiting.pop(job_key, []):
            state.pending.discard(job_key)
            if not state.pending:
                done.append(state)
        return done

    def reduce(self, state: _CellState) -> ResultRecord:
        """The cell's record from its stored and new work; no potential call."""
        task, cost = state.cell.task, state.builder.cost
        try:
            outcome = self._reduce_dataset(state) if state.dataset is not None else self._reduce_items(state)
        except Exception as exc:  # a bug in a kind must not stop a leaderboard
            tail = traceback.format_exc(limit=3)
            message = f"{state.potential.info.spec} on {task.id}: {type(exc).__name__}: {exc}\n{tail}"
            return state.builder.finish("failed", message)
        notes: tuple[str, ...] = ()
        if cost.lost:
            first = next(iter(cost.lost.values()))
            notes = (f"{len(cost.lost)} item(s) lost to a worker crash or timeout, retried by the next run: {first}",)
        return state.builder.finish("ok", "", outcome, notes)

    def _reduce_dataset(self, state: _CellState) -> Outcome:
        view = self._view(state.potential_key)
        lost = {k: r for k, r in self.lost.get(state.potential_key, {}).items() if k not in view.predictions}
        ctx = TaskContext(
            task=state.cell.task,
            potential=state.potential,
            calculator=None,
            dataset=state.dataset,
            predictions=ChunkPredictions(view.predictions, {**view.failures, **lost}),
        )
        outcome = state.kind.run(ctx)
        wanted = set(state.wanted)
        state.builder.cost.calculator_s = sum(p.seconds for k, p in view.predictions.items() if k in wanted)
        frames = state.dataset.frames if state.dataset is not None and lost else ()
        ids = {frame_key(f): f.id for f in frames}
        state.builder.cost.lost.update({ids[k]: r for k, r in lost.items() if k in wanted})
        return Outcome(outcome.values, outcome.items, outcome.groups, (*outcome.notes, *ctx.notes), outcome.n_scored)

    def _reduce_items(self, state: _CellState) -> Outcome:
        ctx = TaskContext(task=state.cell.task, potential=state.potential, calculator=None)
        outcome = state.kind.reduce(ctx, state.outputs)
        state.builder.cost.calculator_s = sum(o.calculator_s for o in state.outputs.values())
        lost = tuple(ItemRecord(item_id, "failed", reason) for item_id, reason in state.builder.cost.lost.items())
        return Outcome(
            outcome.values, outcome.items + lost, outcome.groups, (*outcome.notes, *ctx.notes), outcome.n_scored
        )


def _inapplicable(potential: Potential, task: TaskSpec, dataset: Dataset | None) -> str:
    """Why no structure of the cell can be scored by this potential ("" when some can)."""
    if dataset is not None:
        element_sets = [f.elements for f in dataset.frames]
        what = f"dataset {dataset.id} ({', '.join(sorted(dataset.elements))})"
    else:
        element_sets = [frozenset({s.element}) for s in task.structures]
        what = f"task {task.id} ({', '.join(sorted({s.element for s in task.structures}))})"
    if not element_sets or any(not potential.info.unsupported(elements) for elements in element_sets):
        return ""  # nothing to judge here (a property kind that reads its start from a dataset): the kind decides
    supported = ", ".join(sorted(potential.info.elements or ()))
    return f"no structure of {what} has only elements that {potential.info.spec} supports ({supported})"


def run_cell(cell: Cell) -> ResultRecord:
    """Evaluate one cell in this process, storing nothing; every failure is in the record."""
    return run_cells([cell], store=None)[0]


def run_cells(
    cells: Sequence[Cell],
    *,
    store: ResultStore | None,
    executor: Executor | None = None,
    force: bool = False,
    progress: bool = False,
    options: RunOptions | None = None,
) -> list[ResultRecord]:
    """Run every cell not already in `store` (same key, status not in RERUN_STATUSES, no lost
    items), storing each work item's result and each record as soon as they are complete; returns
    records in the order of `cells`. `store` None keeps nothing (and reuses nothing)."""
    run = _Run(store, force, options or RunOptions())
    results: dict[int, ResultRecord] = {}
    states: dict[int, _CellState] = {}
    for i, cell in enumerate(cells):
        key = run.key(cell)
        cached = None if force or store is None else store.get(cell.task.id, key)
        if cached is not None and cached.status not in RERUN_STATUSES and not cached.counts.lost:
            results[i] = cached
            continue
        planned = run.plan(cell, key)
        if isinstance(planned, ResultRecord):
            results[i] = _put(store, planned)
        else:
            states[i] = planned
    index_of = {id(state): i for i, state in states.items()}
    for i, state in states.items():
        if not state.pending:
            results[i] = _put(store, run.reduce(state))
    keys = list(run.jobs)
    executor = executor or SerialExecutor()
    bar = tqdm(total=len(keys), desc="work items", unit="item", disable=not progress or not keys)
    started: dict[int, float] = {}
    stream = (
        executor.map(
            execute,
            [run.jobs[k] for k in keys],
            timeouts_s=[run.timeouts[k] for k in keys],
            on_start=lambda j: started.__setitem__(j, time.perf_counter()),
        )
        if keys
        else iter(())  # nothing to compute: start no worker
    )
    for j, result in stream:
        seconds = time.perf_counter() - started.get(j, time.perf_counter())
        for state in run.accept(keys[j], result, seconds):
            results[index_of[id(state)]] = record = _put(store, run.reduce(state))
            bar.set_postfix_str(f"{record.potential.name} / {record.task.id}: {record.status}", refresh=False)
        bar.update()
    bar.close()
    return [results[i] for i in range(len(cells))]


def _put(store: ResultStore | None, record: ResultRecord) -> ResultRecord:
    if store is not None:
        store.put(record)
    return record
