"""The runner: potential x task cells -> result records, cached in a :class:`ResultStore`.

A cell never raises for bad input: an unknown potential, a missing dataset or a crashing
calculator become a record with status "failed" (or "missing_data", "not_applicable") and a
message naming the culprit, so the rest of a leaderboard completes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from tqdm import tqdm

from mlip_bench import __version__
from mlip_bench.adapters.registry import Potential, load_potential
from mlip_bench.data.extxyz import sha256_of
from mlip_bench.data.frames import Dataset
from mlip_bench.data.registry import fingerprint
from mlip_bench.data.registry import load_dataset as _load_dataset
from mlip_bench.engine.environment import capture_environment
from mlip_bench.engine.executors import Executor, SerialExecutor
from mlip_bench.engine.kinds import KINDS, Outcome, TaskContext
from mlip_bench.engine.prediction_cache import PredictionCache
from mlip_bench.engine.records import (
    SCHEMA_VERSION,
    Counts,
    DatasetRecord,
    GroupMetrics,
    MetricValue,
    PotentialRecord,
    ResultRecord,
    TaskRecord,
    Timings,
)
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.engine.store import ResultStore
from mlip_bench.errors import DatasetNotFoundError, MlipBenchError, OptionalDependencyError
from mlip_bench.paths import resolve_input_file

#: cell outcomes that depend on the machine rather than the inputs: never reused from the store
RERUN_STATUSES = frozenset({"failed", "unavailable", "missing_data"})


@dataclass(frozen=True)
class Cell:
    """One unit of work: a potential spec on a task (picklable; sent to executor workers)."""

    potential: str
    task: TaskSpec
    data_root: str | None = None
    progress: bool = False
    #: where predictions are shared between tasks (``<results>/predictions``); None: not kept
    cache_dir: str | None = None


@cache
def code_version() -> str:
    """sha256 of the suite's computing code (adapters, data, engine, metrics, properties): a fix
    in any of them must invalidate stored results; reports and the CLI do not."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder in ("adapters", "data", "engine", "metrics", "properties"):
        for path in sorted((package / folder).rglob("*.py")):
            digest.update(path.read_bytes())
    digest.update((package / "units.py").read_bytes())
    return digest.hexdigest()[:16]


def _potential_identity(spec: str) -> list[str]:
    try:
        info = load_potential(spec).info
    except Exception as exc:  # an unresolvable spec still gets a key; the run reports why
        return [spec, f"unresolved: {type(exc).__name__}: {exc}"]
    return [info.spec, info.version]


def _file_identity(text: str) -> str:
    path = resolve_input_file(text)
    return sha256_of(path) if path.is_file() else f"{text}: missing"


#: task parameters naming an input outside the task file whose content changes the result
#: (a reference potential, DFT force sets): the cell key holds that content's identity
_REFERENCE_INPUTS: dict[str, Callable[[str], object]] = {
    "reference_potential": _potential_identity,
    "reference_force_sets": _file_identity,
}


def cell_key(cell: Cell) -> str:
    """Content hash of everything that determines a cell's result."""
    parts: dict[str, object] = {
        "task": cell.task.sha256,
        "schema": SCHEMA_VERSION,
        "suite": __version__,
        "code": code_version(),
    }
    parts["potential"] = _potential_identity(cell.potential)
    if cell.task.dataset:
        parts["dataset"] = fingerprint(cell.task.dataset)
    for name, identify in _REFERENCE_INPUTS.items():
        if (value := cell.task.parameters.get(name)) is not None:
            parts[name] = identify(str(value))
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def run_cell(cell: Cell) -> ResultRecord:
    """Evaluate one cell; every failure is captured in the returned record."""
    start = time.perf_counter()
    builder = _RecordBuilder(cell)
    try:
        potential = load_potential(cell.potential)
    except OptionalDependencyError as exc:
        return builder.finish("unavailable", str(exc), start=start)
    except MlipBenchError as exc:
        return builder.finish("failed", str(exc), start=start)
    except Exception as exc:  # plugins and user modules can fail in any way
        return builder.finish("failed", f"{cell.potential}: {type(exc).__name__}: {exc}", start=start)
    builder.potential = potential
    kind = KINDS.get(cell.task.kind)
    if kind is None:
        return builder.finish(
            "failed", f"task {cell.task.id}: unknown kind {cell.task.kind!r} (known: {sorted(KINDS)})", start=start
        )
    lacking = kind.requires - potential.info.provides
    if lacking:
        message = (
            f"{potential.info.spec} does not compute {', '.join(sorted(lacking))}, which task {cell.task.id} needs"
        )
        return builder.finish("not_applicable", message, start=start)
    dataset = None
    if kind.needs_dataset:
        try:
            dataset = _load_dataset(cell.task.dataset or "", data_root=cell.data_root)
        except DatasetNotFoundError as exc:
            return builder.finish("missing_data", str(exc), start=start)
        except MlipBenchError as exc:
            return builder.finish("failed", str(exc), start=start)
        builder.dataset = dataset
    reason = _inapplicable(potential, cell.task, dataset)
    if reason:
        return builder.finish("not_applicable", reason, start=start)
    try:
        calculator = potential.calculator()
    except Exception as exc:  # a model package can fail in many ways while loading
        return builder.finish(
            "failed", f"{potential.info.spec}: cannot build calculator: {type(exc).__name__}: {exc}", start=start
        )
    identity = [potential.info.spec, potential.info.version, code_version()]
    ctx = TaskContext(
        task=cell.task,
        potential=potential,
        calculator=calculator,
        dataset=dataset,
        progress=cell.progress,
        cache=PredictionCache.for_potential(cell.cache_dir, identity),
    )
    try:
        outcome = kind.run(ctx)
        ctx.cache.save()
    except Exception as exc:  # a bug or an unforeseen potential failure must not stop a leaderboard
        tail = traceback.format_exc(limit=3)
        return builder.finish(
            "failed", f"{potential.info.spec} on {cell.task.id}: {type(exc).__name__}: {exc}\n{tail}", start=start
        )
    return builder.finish("ok", "", start=start, outcome=outcome, ctx=ctx)


def _inapplicable(potential: Potential, task: TaskSpec, dataset: Dataset | None) -> str:
    """Why no structure of the cell can be scored by this potential ("" when some can)."""
    if dataset is not None:
        element_sets = [f.elements for f in dataset.frames]
        what = f"dataset {dataset.id} ({', '.join(sorted(dataset.elements))})"
    else:
        element_sets = [frozenset({s.element}) for s in task.structures]
        what = f"task {task.id} ({', '.join(sorted({s.element for s in task.structures}))})"
    if any(not potential.info.unsupported(elements) for elements in element_sets):
        return ""
    supported = ", ".join(sorted(potential.info.elements or ()))
    return f"no structure of {what} has only elements that {potential.info.spec} supports ({supported})"


class _RecordBuilder:
    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.potential: Potential | None = None
        self.dataset: Dataset | None = None

    def finish(
        self, status: str, message: str, *, start: float, outcome: Outcome | None = None, ctx: TaskContext | None = None
    ) -> ResultRecord:
        task = self.cell.task
        outcome = outcome or Outcome(values={}, items=())
        items = outcome.items
        counts = Counts(**{s: sum(i.status == s for i in items) for s in ("ok", "failed", "skipped", "invalid")})
        wall = time.perf_counter() - start
        calc_s = ctx.calculator_seconds if ctx else 0.0
        notes = tuple(outcome.notes) + tuple(ctx.notes if ctx else ())
        return ResultRecord(
            key=cell_key(self.cell),
            task=TaskRecord(task.id, task.version, task.kind, task.title, task.sha256),
            potential=self._potential_record(),
            dataset=self._dataset_record(),
            status=status,
            message=message,
            metrics=metric_values(task, outcome.values, n=outcome.n_scored),
            groups=tuple(
                GroupMetrics(g.group, g.n_items, metric_values(task, g.values, n=g.n_items), g.labels, g.arrays)
                for g in outcome.groups
            ),
            items=items,
            counts=counts,
            timings=Timings(calculator_s=calc_s, suite_s=max(wall - calc_s, 0.0), wall_s=wall),
            environment=capture_environment(),
            parameters=dict(task.parameters),
            notes=notes,
            created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def _potential_record(self) -> PotentialRecord:
        if self.potential is None:
            return PotentialRecord(self.cell.potential, self.cell.potential, "?", "?", None)
        i = self.potential.info
        elements = tuple(sorted(i.elements)) if i.elements is not None else None
        return PotentialRecord(i.spec, i.name, i.family, i.version, elements, i.citation, i.license, i.reference_method)

    def _dataset_record(self) -> DatasetRecord | None:
        d = self.dataset
        if d is None:
            return None
        p = d.provenance
        return DatasetRecord(d.id, p.path, p.sha256, len(d), p.citation, p.source, p.license, p.method)


def metric_values(task: TaskSpec, values: dict[str, float], *, n: int) -> tuple[MetricValue, ...]:
    """Spec'd metrics first (with unit, direction and literature target), then any other value
    the kind produced (direction "none")."""
    out = []
    for m in task.metrics:
        ref = m.reference
        out.append(
            MetricValue(
                name=m.name,
                value=float(values.get(m.name, float("nan"))),
                unit=m.unit,
                direction=m.direction,
                label=m.label or m.name,
                target=ref.value if ref else None,
                reference=f"{ref.citation} ({ref.kind})" if ref else "",
                n=n,
                reference_key=ref.key if ref else "",
            )
        )
    named = {m.name for m in task.metrics}
    out.extend(
        MetricValue(name=k, value=float(v), unit="", direction="none", label=k, n=n, listed=False)
        for k, v in values.items()
        if k not in named
    )
    return tuple(out)


def _crashed(cell: Cell, error: BaseException) -> ResultRecord:
    message = f"{cell.potential} on {cell.task.id}: the worker running it died: {type(error).__name__}: {error}"
    return _RecordBuilder(cell).finish("failed", message, start=time.perf_counter())


def run_cells(
    cells: Sequence[Cell],
    *,
    store: ResultStore,
    executor: Executor | None = None,
    force: bool = False,
    progress: bool = False,
) -> list[ResultRecord]:
    """Run every cell not already in `store` (same key, status not in RERUN_STATUSES), storing each
    record as soon as it completes; returns records in the order of `cells`."""
    executor = executor or SerialExecutor()
    if not force:  # --force recomputes predictions too
        cells = [c if c.cache_dir else dataclasses.replace(c, cache_dir=str(store.root)) for c in cells]
    results: dict[int, ResultRecord] = {}
    todo: list[int] = []
    for i, cell in enumerate(cells):
        cached = None if force else store.get(cell.task.id, cell_key(cell))
        if cached is not None and cached.status not in RERUN_STATUSES:
            results[i] = cached
        else:
            todo.append(i)
    bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not progress or not todo)
    for j, outcome in executor.map(run_cell, [cells[i] for i in todo]):
        # run_cell captures every Python error; what reaches here is a dead worker (segfault, OOM)
        record = outcome if isinstance(outcome, ResultRecord) else _crashed(cells[todo[j]], outcome)
        store.put(record)
        results[todo[j]] = record
        bar.set_postfix_str(f"{record.potential.name} / {record.task.id}: {record.status}", refresh=False)
        bar.update()
    bar.close()
    return [results[i] for i in range(len(cells))]
