"""Result records: typed, frozen, JSON-round-trippable. One :class:`ResultRecord` per
(potential, task) cell; its JSON form is the stable interface of ``mlip-bench run --json``.

Units live in field and metric names (``_eV``, ``_GPa``, ``_meV_per_atom``). Non-finite floats
are written to JSON as null and read back as NaN.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from mlip_bench.adapters.uncertainty import UncertaintyInfo

SCHEMA_VERSION = 1

#: item status values: scored, potential failed, element not supported, bad reference data
ITEM_STATUSES = ("ok", "failed", "skipped", "invalid")
#: cell status values
CELL_STATUSES = ("ok", "failed", "missing_data", "not_applicable", "unavailable")
DIRECTIONS = ("lower", "higher", "target", "none")


@dataclass(frozen=True)
class MetricValue:
    """One number of a result. `direction` says which way is better; for "target" the
    best value is `target` (a literature reference, cited in `reference`)."""

    name: str
    value: float
    unit: str
    direction: str
    label: str = ""
    target: float | None = None
    reference: str = ""
    n: int = 0
    #: key of the literature value in reference_data/literature (for "target" metrics)
    reference_key: str = ""
    #: False for values a kind produced beyond the task spec's metric list (kept, not tabulated)
    listed: bool = True


@dataclass(frozen=True)
class ItemRecord:
    """One structure (or one simulated crystal): status, reason, scalars and parity arrays."""

    id: str
    status: str
    reason: str = ""
    n_atoms: int = 0
    group: str = ""
    values: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of one group (a phase, a composition, ...); `labels` are facts in words (e.g. the
    lattice a potential picks), `arrays` the group's distributions (e.g. mismatched-pair ΔE)."""

    group: str
    n_items: int
    metrics: tuple[MetricValue, ...]
    labels: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Counts:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    invalid: int = 0
    #: of the failed: items lost to a worker crash or a timeout (retried by the next run)
    lost: int = 0


@dataclass(frozen=True)
class Timings:
    """Seconds: inside the potential's calculator (for the cell's results, whenever they were
    computed), in the suite around it, and wall-clock of the cell's work in the run that finished it;
    potential calls made for the cell in that run (0 when everything came from stored work items)."""

    calculator_s: float = 0.0
    suite_s: float = 0.0
    wall_s: float = 0.0
    potential_calls: int = 0


@dataclass(frozen=True)
class PotentialRecord:
    spec: str
    name: str
    family: str
    version: str
    elements: tuple[str, ...] | None
    citation: str = ""
    license: str = ""
    reference_method: str = ""
    #: the potential's own uncertainty, as declared (adapters/uncertainty.py); None: it has none
    uncertainty: UncertaintyInfo | None = None


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    path: str
    sha256: str
    n_structures: int
    citation: str = ""
    source: str = ""
    license: str = ""
    method: str = ""


@dataclass(frozen=True)
class TaskRecord:
    id: str
    version: int
    kind: str
    title: str
    sha256: str


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    mlip_bench: str
    packages: dict[str, str]
    omp_num_threads: str
    cpu_count: int


@dataclass(frozen=True)
class ResultRecord:
    """Everything one cell produced and what produced it."""

    key: str
    task: TaskRecord
    potential: PotentialRecord
    dataset: DatasetRecord | None
    status: str
    message: str
    metrics: tuple[MetricValue, ...]
    groups: tuple[GroupMetrics, ...]
    items: tuple[ItemRecord, ...]
    counts: Counts
    timings: Timings
    environment: Environment
    parameters: dict[str, Any]
    notes: tuple[str, ...] = ()
    created_utc: str = ""
    schema_version: int = SCHEMA_VERSION

    def metric(self, name: str) -> MetricValue | None:
        return next((m for m in self.metrics if m.name == name), None)


T = TypeVar("T")


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types for a record (NaN and inf become None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, frozenset | set):
        return sorted(to_jsonable(v) for v in obj)
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a record dataclass from :func:`to_jsonable` output (None -> NaN for floats)."""
    return typing.cast(T, _build(cls, data))


def _build(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        return _build(next(a for a in args if a is not type(None)), data)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        return typing.cast(Any, tp)(**{k: _build(hints[k], v) for k, v in data.items() if k in names})
    if origin is tuple:
        return tuple(_build(args[0], v) for v in data)
    if origin is list:
        return [_build(args[0], v) for v in data]
    if origin is dict:
        return {k: _build(args[1], v) for k, v in data.items()}
    if tp is float:
        return math.nan if data is None else float(data)
    return data


def pack_item_arrays(items: tuple[ItemRecord, ...]) -> dict[str, np.ndarray]:
    """The `arrays` of all `items`, packed per name for one compact file.

    For the j-th array name (first-seen order): ``names[j]``; ``values_<j>`` (float64, every item's values
    concatenated) and ``lengths_<j>`` (int64, one per item; -1 where the item lacks that array). Empty
    dict when no item has arrays. Keys are made of indices so that any array name is safe.
    """
    names = list(dict.fromkeys(name for item in items for name in item.arrays))
    if not names:
        return {}
    packed: dict[str, np.ndarray] = {"names": np.array(names, dtype=str)}
    for j, name in enumerate(names):
        parts = [np.asarray(item.arrays[name], dtype=np.float64).ravel() for item in items if name in item.arrays]
        packed[f"values_{j}"] = np.concatenate(parts) if parts else np.zeros(0)
        lengths = [len(item.arrays[name]) if name in item.arrays else -1 for item in items]
        packed[f"lengths_{j}"] = np.array(lengths, dtype=np.int64)
    return packed


def join_item_arrays(items: tuple[ItemRecord, ...], packed: Mapping[str, np.ndarray]) -> tuple[ItemRecord, ...]:
    """Inverse of :func:`pack_item_arrays`: `items` with their arrays (lists of float) re-attached.

    Raises ValueError (saying which entry) when `packed` does not fit `items`: missing entries, a length
    table of another item count, or lengths that do not add up to the values.
    """
    if not packed:
        return items
    per_item: list[dict[str, list[float]]] = [{} for _ in items]
    for j, name in enumerate(str(n) for n in packed["names"]):
        values, lengths = packed[f"values_{j}"], packed[f"lengths_{j}"]
        if lengths.shape != (len(items),):
            raise ValueError(f"array {name!r}: {lengths.shape[0]} lengths for {len(items)} items")
        present = lengths[lengths >= 0]
        if values.ndim != 1 or int(present.sum()) != values.shape[0]:
            raise ValueError(f"array {name!r}: lengths add up to {int(present.sum())}, values hold {values.size}")
        offsets = np.concatenate([[0], np.cumsum(present)])
        for k, i in enumerate(np.flatnonzero(lengths >= 0)):
            per_item[i][name] = values[offsets[k] : offsets[k + 1]].tolist()
    pairs = zip(items, per_item, strict=True)
    return tuple(dataclasses.replace(item, arrays=arrays) if arrays else item for item, arrays in pairs)
