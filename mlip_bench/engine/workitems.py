"""Work items: the unit of work, of resume and of scheduling. A cell (potential x task) becomes
items: chunks of dataset structures to predict (dataset kinds) or the items a property kind
declares (a crystal, a strain, an MD segment). Jobs are small, picklable and self-contained: they
carry the structures and the data root explicitly, so a worker process (local or Dask) needs no
environment variable and no shared dataset loading.

:func:`execute` runs one job in whichever process the executor chose. A worker keeps the potentials
and calculators it built (per run), so a potential is resolved and loaded once per process, not per
item.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ase import Atoms

from mlip_bench.adapters.registry import Potential, load_potential
from mlip_bench.engine import evaluate
from mlip_bench.engine.artifacts import ChunkPredictions
from mlip_bench.engine.kinds.base import ItemOutput, ItemPlan, TaskContext
from mlip_bench.engine.spec import TaskSpec
from mlip_bench.errors import EvaluationError
from mlip_bench.paths import using_artifact_root, using_data_root


@dataclass(frozen=True)
class PredictJob:
    """Predict a chunk of dataset structures: ``structures`` holds (structure key, atoms) pairs,
    the atoms carrying ``info["id"]``; `source` names the dataset file in error messages."""

    run_id: str
    potential: str
    data_root: str | None
    label: str
    potential_key: str
    chunk_key: str
    source: str
    structures: tuple[tuple[str, Atoms], ...]
    #: the store's artifact folder, where adapters keep derived inputs (an MTP's active set)
    artifacts: str | None = None


@dataclass(frozen=True)
class ItemJob:
    """Run one item of a property kind; `scratch` is where it may keep checkpoints."""

    run_id: str
    potential: str
    data_root: str | None
    label: str
    key: str
    task: TaskSpec
    item: ItemPlan
    scratch: str | None = None
    artifacts: str | None = None


Job = PredictJob | ItemJob

#: (run id, spec) -> potential: resolved once per process and run
_POTENTIALS: dict[tuple[str, str], Potential] = {}
#: (run id, spec, scope) -> calculator. A calculator serves one cell (scope: the task) or one
#: dataset's chunks (scope: the dataset), as before work items: some keep state between calls
#: (asap3's EMT refuses an element it was not set up with). A few at a time: model calculators are large.
_CALCULATORS: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_KEEP = 3


def loaded(run_id: str, spec: str, scope: str) -> tuple[Potential, Any]:
    """The potential and a calculator for `scope`, each built once per process and run. Raises
    what the adapter raises."""
    if (run_id, spec) not in _POTENTIALS:
        for old in [k for k in _POTENTIALS if k[0] != run_id]:  # a new run: drop the previous run's
            del _POTENTIALS[old]
        _POTENTIALS[(run_id, spec)] = load_potential(spec)
    potential = _POTENTIALS[(run_id, spec)]
    key = (run_id, spec, scope)
    if key in _CALCULATORS:
        _CALCULATORS.move_to_end(key)
    else:
        _CALCULATORS[key] = potential.calculator()
        while len(_CALCULATORS) > _KEEP:
            _CALCULATORS.popitem(last=False)
    return potential, _CALCULATORS[key]


def execute(job: Job) -> ChunkPredictions | ItemOutput:
    """Run `job` here. Failures on one structure are part of the result; an error that escapes
    (the potential cannot be built, a bug) fails the whole job and the executor reports it."""
    with using_data_root(job.data_root), using_artifact_root(job.artifacts):
        scope = job.source if isinstance(job, PredictJob) else job.task.id
        potential, calculator = loaded(job.run_id, job.potential, scope)
        if isinstance(job, PredictJob):
            return _predict_chunk(job, potential, calculator)
        return _run_item(job, potential, calculator)


def _predict_chunk(job: PredictJob, potential: Potential, calculator: Any) -> ChunkPredictions:
    predictions = {}
    failures = {}
    for key, atoms in job.structures:
        where = f"{job.source}: structure {atoms.info.get('id')!r} with {potential.info.spec}"
        try:
            predictions[key] = evaluate.predict(calculator, atoms, label=where)
        except EvaluationError as exc:
            failures[key] = str(exc)
    return ChunkPredictions(predictions, failures)


def _run_item(job: ItemJob, potential: Potential, calculator: Any) -> ItemOutput:
    from mlip_bench.engine.kinds import KINDS

    kind = KINDS[job.task.kind]
    ctx = TaskContext(task=job.task, potential=potential, calculator=calculator, scratch=job.scratch)
    calls = evaluate.CALLS[0]
    output = kind.run_item(ctx, job.item)
    made = evaluate.CALLS[0] - calls
    return output if output.calls == made else _with_calls(output, made)


def _with_calls(output: ItemOutput, calls: int) -> ItemOutput:
    import dataclasses

    return dataclasses.replace(output, calls=calls)
