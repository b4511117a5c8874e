"""What a task kind is: given a potential (and a dataset or crystal specs), produce metric
values, per-item records and per-group breakdowns. Kinds are registered by name in
:mod:`mlip_bench.engine.kinds`; a task spec picks one with ``kind:``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ase import Atoms
from ase.build import bulk

from mlip_bench.adapters.registry import Potential
from mlip_bench.data.frames import Dataset, Frame
from mlip_bench.engine.evaluate import Prediction, predict
from mlip_bench.engine.prediction_cache import PredictionCache
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import StructureSpec, TaskSpec


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
    cache: PredictionCache = field(default_factory=lambda: PredictionCache(None))

    def parameter(self, name: str, default: Any) -> Any:
        return self.task.parameters.get(name, default)

    def predict(self, frame: Frame) -> Prediction:
        """The potential's prediction for a dataset structure (from the prediction cache when this
        potential already evaluated it). Raises EvaluationError."""
        cached = self.cache.get(frame)
        if cached is not None:
            return cached
        atoms = frame.atoms.copy()
        atoms.info["id"] = frame.id  # the predictions adapter matches by id
        where = f"{self.dataset.provenance.path if self.dataset else ''}: structure {frame.id!r}"
        pred = predict(self.calculator, atoms, label=f"{where} with {self.potential.info.spec}")
        self.calculator_seconds += pred.seconds
        self.cache.put(frame, pred)
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

    @abstractmethod
    def run(self, ctx: TaskContext) -> Outcome:
        """Evaluate; per-item failures become item records, never exceptions."""


def build_crystal(spec: StructureSpec) -> Atoms:
    """Conventional cell of an ideal crystal (cubic axes along x, y, z where the lattice is cubic)."""
    cubic = spec.crystal in ("fcc", "bcc", "sc", "diamond")
    kwargs: dict[str, Any] = {"a": spec.a_A}
    if spec.c_A is not None:
        kwargs["c"] = spec.c_A
    if spec.crystal == "hcp":
        return bulk(spec.element, "hcp", orthorhombic=True, **kwargs)
    return bulk(spec.element, spec.crystal, cubic=cubic, **kwargs)
