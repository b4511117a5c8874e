"""Task specs: ``tasks/*.yaml`` files validated against ``task.schema.json``, then against their
kind (a registered kind; parameters as the kind declares them; metrics the kind can produce), and
turned into frozen :class:`TaskSpec` objects. Literature targets are looked up by key in
``reference_data/literature/*.yaml``."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.errors import TaskSpecError, UnknownKindError
from mlip_bench.paths import reference_dir, tasks_dir

if TYPE_CHECKING:
    from mlip_bench.engine.kinds.base import TaskKind

_SCHEMA_FILE = Path(__file__).with_name("task.schema.json")


@dataclass(frozen=True)
class StructureSpec:
    """An ideal crystal to build with ``ase.build.bulk`` (lattice constants in Å)."""

    id: str
    element: str
    crystal: str
    a_A: float
    c_A: float | None = None


@dataclass(frozen=True)
class LiteratureValue:
    key: str
    property: str
    value: float
    unit: str
    kind: str
    citation: str
    note: str = ""


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    direction: str
    label: str = ""
    reference: LiteratureValue | None = None


@dataclass(frozen=True)
class TaskSpec:
    id: str
    version: int
    kind: str
    title: str
    description: str
    metrics: tuple[MetricSpec, ...]
    dataset: str | None = None
    structures: tuple[StructureSpec, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    sha256: str = ""

    def with_dataset(self, dataset: str) -> TaskSpec:
        """The same task pointed at another dataset (``--dataset``): its id becomes
        ``<id>@<file name>`` so that its results never pass for the registered benchmark's."""
        sha = hashlib.sha256(f"{self.sha256}|dataset={dataset}".encode()).hexdigest()
        task_id = f"{self.id}@{Path(dataset).name}"
        return TaskSpec(**{**self.__dict__, "id": task_id, "dataset": dataset, "sha256": sha})


@cache
def _schema() -> dict[str, Any]:
    return dict(json.loads(_SCHEMA_FILE.read_text()))


@cache
def _schema_validator() -> Any:
    """The task-file validator, built once: ``jsonschema.validate`` re-checks the schema itself
    against its metaschema on every call (0.02 s a task file, every run parses them all)."""
    schema = _schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@cache
def literature() -> dict[str, LiteratureValue]:
    """Every cited literature value by key, from ``reference_data/literature/*.yaml``."""
    out: dict[str, LiteratureValue] = {}
    for path in sorted((reference_dir() / "literature").glob("*.yaml")):
        try:
            raw = load_yaml(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise TaskSpecError(f"{path}: not valid YAML: {exc}") from exc
        for entry in raw.get("values", []):
            missing = {"key", "property", "value", "unit", "kind", "citation"} - set(entry)
            if missing:
                raise TaskSpecError(f"{path}: entry {entry.get('key', '?')!r}: missing {sorted(missing)}")
            if entry["key"] in out:
                raise TaskSpecError(f"{path}: duplicate literature key {entry['key']!r}")
            out[entry["key"]] = LiteratureValue(**{**entry, "value": float(entry["value"])})
    return out


def _reference_curves(parameters: dict[str, Any], source: str, kind: TaskKind) -> dict[str, object]:
    """The data of every curve a parameter declared with ``input="curve"`` names: like cited
    targets, a changed reference curve changes results (RMSE), so it is part of the task's identity."""
    from mlip_bench.data.curves import reference_curves

    curve_parameters = {p.name for p in kind.parameters if p.input == "curve"}
    known = reference_curves()
    out: dict[str, object] = {}
    for name, key in sorted(parameters.items()):
        if name not in curve_parameters or key is None:
            continue
        curve = known.get(str(key))
        if curve is None:
            raise TaskSpecError(
                f"{source}: field parameters/{name}: unknown reference curve {key!r} "
                f"(known: {', '.join(sorted(known)) or 'none'}; reference_data/curves/*.yaml)"
            )
        out[name] = [curve.x, curve.y, curve.kind, curve.citation]
    return out


def _kind(raw: dict[str, Any], source: str) -> TaskKind:
    """The task's kind, its parameters checked against the kind's declarations."""
    from mlip_bench.engine.kinds import get_kind  # kinds import this module
    from mlip_bench.engine.parameters import ENGINE_PARAMETERS, check_parameters

    try:
        kind = get_kind(raw["kind"])
    except UnknownKindError as exc:
        raise TaskSpecError(f"{source}: field kind: {exc}") from exc
    declared = (*kind.parameters, *ENGINE_PARAMETERS)
    check_parameters(declared, raw.get("parameters") or {}, source=source, kind=kind.name)
    return kind


def _check_metrics(spec: TaskSpec, kind: TaskKind) -> None:
    from mlip_bench.engine.parameters import close_metrics

    for i, metric in enumerate(spec.metrics):
        if kind.accepts_metric(metric.name, spec):
            continue
        close = close_metrics(metric.name.rsplit(".", 1)[-1], kind.produces)
        hint = f"; close: {', '.join(close)}" if close else ""
        prefixed = "" if "." not in metric.name else " (is the part before '.' one of the task's item ids?)"
        raise TaskSpecError(
            f"{spec.source}: field metrics/{i}/name: kind {kind.name!r} does not produce {metric.name!r}"
            f"{prefixed}{hint} (its metrics: {', '.join(sorted(kind.produces))})"
        )


def check_plain(node: Any, source: str, where: str) -> None:
    """Task specs are JSON-like: string keys and finite numbers (YAML also allows integer keys and
    .nan/.inf, which the schema cannot see and the spec's hash cannot sort). TaskSpecError otherwise."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise TaskSpecError(f"{source}: field {where or '(top level)'}: key {key!r} is not a string")
            check_plain(value, source, f"{where}/{key}" if where else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_plain(value, source, f"{where}/{index}")
    elif isinstance(node, float) and not math.isfinite(node):
        raise TaskSpecError(f"{source}: field {where}: {node} is not a finite number")


def parse_task(raw: Any, *, source: str) -> TaskSpec:
    """Validate a loaded YAML mapping; raises TaskSpecError naming `source` and the field (an
    unknown kind, a parameter its kind does not declare or of the wrong type, a metric its kind
    cannot produce). The mapping is hashed as written: validation adds no defaults."""
    check_plain(raw, source, "")
    error = jsonschema.exceptions.best_match(_schema_validator().iter_errors(raw))  # as jsonschema.validate
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise TaskSpecError(f"{source}: field {where}: {error.message}")
    kind = _kind(raw, source)
    refs = literature()
    metrics = []
    for m in raw["metrics"]:
        ref = m.get("reference")
        if ref is not None and ref not in refs:
            raise TaskSpecError(f"{source}: metric {m['name']!r}: unknown literature key {ref!r}")
        if m["direction"] == "target" and ref is None:
            raise TaskSpecError(f"{source}: metric {m['name']!r}: direction 'target' needs a reference")
        metrics.append(MetricSpec(**{**m, "reference": refs[ref] if ref else None}))
    # cited targets change results (best marks): they are part of the task's identity
    cited = {m.name: [m.reference.value, m.reference.citation] for m in metrics if m.reference}
    curves = _reference_curves(raw.get("parameters") or {}, source, kind)
    canonical = json.dumps({"spec": raw, "targets": cited, "curves": curves}, sort_keys=True)
    spec = TaskSpec(
        id=raw["id"],
        version=raw["version"],
        kind=raw["kind"],
        title=raw["title"],
        description=raw.get("description", ""),
        metrics=tuple(metrics),
        dataset=raw.get("dataset"),
        structures=tuple(StructureSpec(**s) for s in raw.get("structures", [])),
        parameters=dict(raw.get("parameters", {})),
        source=source,
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )
    _check_metrics(spec, kind)
    return spec


def load_task_file(path: str | Path) -> TaskSpec:
    path = Path(path)
    try:
        raw = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{path}: cannot read task spec: {exc}") from exc
    return parse_task(raw, source=str(path))


@cache
def all_tasks() -> dict[str, TaskSpec]:
    """Every task in ``tasks/*.yaml`` by id; raises TaskSpecError on a bad file or duplicate id."""
    out: dict[str, TaskSpec] = {}
    for path in sorted(tasks_dir().glob("*.yaml")):
        spec = load_task_file(path)
        if spec.id in out:
            raise TaskSpecError(f"{path}: task id {spec.id!r} already defined in {out[spec.id].source}")
        out[spec.id] = spec
    return out


def load_task(name_or_path: str) -> TaskSpec:
    """A task by id, or from a YAML file path."""
    if Path(name_or_path).suffix in (".yaml", ".yml") and Path(name_or_path).is_file():
        return load_task_file(name_or_path)
    direct = tasks_dir() / f"{name_or_path}.yaml"
    if direct.is_file():  # the usual layout (file named by id): no need to parse every spec
        spec = load_task_file(direct)
        if spec.id == name_or_path:
            return spec
    tasks = all_tasks()
    if name_or_path not in tasks:
        raise TaskSpecError(f"unknown task {name_or_path!r} (known: {', '.join(sorted(tasks))})")
    return tasks[name_or_path]
