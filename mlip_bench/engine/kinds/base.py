"""What a task kind is: given a potential (and a dataset or crystal specs), produce metric
values, per-item records and per-group breakdowns. Kinds are registered by name in
:mod:`mlip_bench.engine.kinds`; a task spec picks one with ``kind:``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ase import Atoms

from mlip_bench.adapters.registry import Potential
from mlip_bench.data.frames import Dataset, Frame
from mlip_bench.engine.artifacts import ChunkPredictions, frame_key
from mlip_bench.engine.evaluate import Prediction, check_physical, predict
from mlip_bench.engine.parameters import NO_DEFAULT, Param, declared_default, produces_metric
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import StructureSpec, TaskSpec
from mlip_bench.errors import EvaluationError


@dataclass(frozen=True)
class GroupValues:
    group: str
    n_items: int
    values: dict[str, float]
    labels: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """Raw results of a kind: metric values by name (units in the name), items, groups, notes."""

    values: dict[str, float]
    items: tuple[ItemRecord, ...]
    groups: tuple[GroupValues, ...] = ()
    notes: tuple[str, ...] = ()
    n_scored: int = 0


@dataclass(frozen=True)
class ItemPlan:
    """One work item of a property kind: `id` names it in the record (a crystal, a strain, a path
    point, an MD segment); `payload` (JSON-able, part of the item's content key) says what to do."""

    id: str
    payload: Any = None


@dataclass(frozen=True)
class ItemOutput:
    """What one work item produced; stored as an artifact as soon as the item finishes.

    `record`: the item's own record (crystal kinds); `outcome`: a whole outcome (kinds that are a
    single item); `notes`; seconds inside the calculator and potential calls the item made."""

    record: ItemRecord | None = None
    outcome: Outcome | None = None
    notes: tuple[str, ...] = ()
    calculator_s: float = 0.0
    calls: int = 0


@dataclass
class TaskContext:
    """Inputs of one cell's run. `calculator` is built once per cell; `calculator_seconds`
    is added to by the kind as it calls the potential."""

    task: TaskSpec
    potential: Potential
    calculator: Any
    dataset: Dataset | None = None
    progress: bool = False
    calculator_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: the potential's stored predictions on dataset structures (work items computed them)
    predictions: ChunkPredictions = field(default_factory=lambda: ChunkPredictions({}, {}))
    #: a folder for files a work item writes while running (MD checkpoints); None: not kept
    scratch: str | None = None

    def parameter(self, name: str, default: Any = NO_DEFAULT) -> Any:
        """The task's value of parameter `name`, else the default the kind declares (`default` is
        used only for a parameter the kind does not declare). Raises KindError for a parameter
        neither set nor declared."""
        if name in self.task.parameters:
            return self.task.parameters[name]
        from mlip_bench.engine.kinds import get_kind  # the registry imports this module

        kind = get_kind(self.task.kind)
        return declared_default(kind.parameters, name, kind=kind.name, fallback=default)

    def predict(self, frame: Frame) -> Prediction:
        """The potential's prediction for a dataset structure: the stored one when a work item
        computed it (once per potential, shared by tasks), else computed now when this context has a
        calculator. Raises EvaluationError (the stored reason when the potential failed on it)."""
        key = frame_key(frame)
        where = f"{self.dataset.provenance.path if self.dataset else ''}: structure {frame.id!r}"
        label = f"{where} with {self.potential.info.spec}"
        pred = self.predictions.predictions.get(key)
        if pred is None:
            if key in self.predictions.failures:
                raise EvaluationError(self.predictions.failures[key])
            if self.calculator is None:
                raise EvaluationError(f"structure {frame.id!r}: no prediction (its work item did not finish)")
            atoms = frame.atoms.copy()
            atoms.info["id"] = frame.id  # the predictions adapter matches by id
            pred = predict(self.calculator, atoms, label=label)
            self.calculator_seconds += pred.seconds
        from mlip_bench.engine.kinds import get_kind  # the registry imports this module

        if not get_kind(self.task.kind).counts_unphysical:  # stored raw: the check is the scoring kind's
            check_physical(pred, frame.atoms, label=label)
        return pred


class TaskKind(ABC):
    """A kind of task. `requires` lists what the potential must compute (energy, forces, stress)."""

    name: ClassVar[str]
    needs_dataset: ClassVar[bool]
    requires: ClassVar[frozenset[str]] = frozenset({"energy"})
    produces: ClassVar[frozenset[str]]
    #: curves the report should draw: name -> (x axis label, y axis label), both with units.
    #: An item carries a curve as arrays ``"<name>:x"`` and ``"<name>:y"``.
    plots: ClassVar[dict[str, tuple[str, str]]] = {}
    #: declared curves whose values span decades (an extrapolation grade): drawn on a log y axis,
    #: with the potential's own thresholds (γ_select, γ_break) marked where it declares them
    uncertainty_plots: ClassVar[frozenset[str]] = frozenset()
    #: every parameter the kind reads: a task file is checked against them when it loads
    parameters: ClassVar[tuple[Param, ...]] = ()
    #: regular expressions (full match) for metric names made at run time (per facet, per band)
    produces_patterns: ClassVar[tuple[str, ...]] = ()
    #: packages (import names) that compute this kind's results beyond ASE, NumPy, SciPy and spglib:
    #: their versions are part of the cell key
    packages: ClassVar[tuple[str, ...]] = ()
    #: seconds one work item may run before its worker is stopped (task parameter ``item_timeout_s``
    #: and the CLI's ``--timeout`` override it)
    item_timeout_s: ClassVar[float] = 3600.0
    #: True for a kind that counts unphysical predictions (``irregular``): values beyond any physical
    #: scale reach it; every other kind records such a structure as failed (evaluate.check_physical)
    counts_unphysical: ClassVar[bool] = False
    #: True for a kind that scores the potential's own uncertainty (``extrapolation``): a potential
    #: without one (PotentialInfo.uncertainty None) is not applicable
    requires_uncertainty: ClassVar[bool] = False

    def accepts_metric(self, name: str, task: TaskSpec) -> bool:
        """Whether a run of `task` can produce a metric called `name` (in `produces` or matching
        `produces_patterns`); kinds that prefix names with an item id (``<id>.<name>``) override."""
        return produces_metric(name, self.produces, self.produces_patterns)

    @abstractmethod
    def run(self, ctx: TaskContext) -> Outcome:
        """Evaluate; per-item failures become item records, never exceptions. For dataset kinds this
        is the reduce step: every prediction is already in ``ctx.predictions`` (work items computed
        them in chunks), so it makes no potential call."""

    def wants_prediction(self, ctx: TaskContext, frame: Frame) -> bool:
        """Dataset kinds: does this kind score `frame` (so a work item must predict it)? The default:
        its elements are supported, it has a reference energy and no problem with it or its structure
        (such a frame is recorded invalid, never predicted). Kinds that select otherwise say so."""
        supported = not ctx.potential.info.unsupported(frame.elements)
        return supported and frame.energy_eV is not None and not frame.problem(("energy",))

    # Work items of property kinds. The default is one item, the whole run; kinds whose work splits
    # (one crystal, one strain, one MD segment) override all three so that a killed run loses at
    # most the items in flight.
    def items(self, task: TaskSpec) -> tuple[ItemPlan, ...]:
        """The work items of a cell, in order; cheap (no potential call)."""
        return (ItemPlan("all"),)

    def run_item(self, ctx: TaskContext, item: ItemPlan) -> ItemOutput:
        """Compute one item (in a worker process); per-structure failures are part of the output."""
        outcome = self.run(ctx)
        return ItemOutput(outcome=outcome, notes=tuple(ctx.notes), calculator_s=ctx.calculator_seconds)

    def reduce(self, ctx: TaskContext, outputs: dict[str, ItemOutput]) -> Outcome:
        """The outcome from every item's output (keyed by item id; an item lost to a crash or a
        timeout is absent and recorded by the runner). No potential call."""
        output = outputs.get("all")
        if output is None or output.outcome is None:
            return Outcome({}, ())
        ctx.notes.extend(output.notes)
        return output.outcome


def record_output(ctx: TaskContext, make: Callable[[], ItemRecord]) -> ItemOutput:
    """One work item's output from `make()`'s record: the notes it added to `ctx` (moved into the
    output), the calculator seconds it spent and the potential calls its record counts (MD engines
    that call the potential outside :func:`~mlip_bench.engine.evaluate.predict` count their own)."""
    first_note, seconds = len(ctx.notes), ctx.calculator_seconds
    record = make()
    notes = tuple(ctx.notes[first_note:])
    del ctx.notes[first_note:]
    calls = int(record.values.get("potential_calls", 0))
    return ItemOutput(record=record, notes=notes, calculator_s=ctx.calculator_seconds - seconds, calls=calls)


def build_crystal(spec: StructureSpec) -> Atoms:
    """Conventional cell of an ideal crystal (cubic axes along x, y, z where the lattice is cubic)."""
    from ase.build import bulk  # here: ase.build loads ase.io and scipy.integrate (0.4 s), which cached runs skip

    cubic = spec.crystal in ("fcc", "bcc", "sc", "diamond")
    kwargs: dict[str, Any] = {"a": spec.a_A}
    if spec.c_A is not None:
        kwargs["c"] = spec.c_A
    if spec.crystal == "hcp":
        return bulk(spec.element, "hcp", orthorhombic=True, **kwargs)
    return bulk(spec.element, spec.crystal, cubic=cubic, **kwargs)


def unsupported_item(ctx: TaskContext, spec: StructureSpec) -> ItemRecord | None:
    """The "skipped" record of a crystal whose element the potential does not support, else None."""
    missing = ctx.potential.info.unsupported([spec.element])
    if not missing:
        return None
    return ItemRecord(spec.id, "skipped", f"elements {sorted(missing)} not supported by {ctx.potential.info.spec}")
