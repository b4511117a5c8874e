"""Task specs: ``tasks/*.yaml`` files validated against ``task.schema.json`` and turned into
frozen :class:`TaskSpec` objects. Literature targets are looked up by key in
``reference_data/literature/*.yaml``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mlip_bench.errors import TaskSpecError
from mlip_bench.paths import reference_dir, tasks_dir

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
def literature() -> dict[str, LiteratureValue]:
    """Every cited literature value by key, from ``reference_data/literature/*.yaml``."""
    out: dict[str, LiteratureValue] = {}
    for path in sorted((reference_dir() / "literature").glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text()) or {}
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


def _reference_curves(parameters: dict[str, Any], source: str) -> dict[str, object]:
    """The data of every curve a parameter ``*reference_curve`` names: like cited targets, a
    changed reference curve changes results (RMSE), so it is part of the task's identity."""
    from mlip_bench.data.curves import reference_curves

    known = reference_curves()
    out: dict[str, object] = {}
    for name, key in sorted(parameters.items()):
        if not name.endswith("reference_curve"):
            continue
        curve = known.get(str(key))
        if curve is None:
            raise TaskSpecError(
                f"{source}: field parameters/{name}: unknown reference curve {key!r} "
                f"(known: {', '.join(sorted(known)) or 'none'}; reference_data/curves/*.yaml)"
            )
        out[name] = [curve.x, curve.y, curve.kind, curve.citation]
    return out


def parse_task(raw: Any, *, source: str) -> TaskSpec:
    """Validate a loaded YAML mapping; raises TaskSpecError naming `source` and the field."""
    try:
        jsonschema.validate(raw, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise TaskSpecError(f"{source}: field {where}: {exc.message}") from exc
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
    curves = _reference_curves(raw.get("parameters") or {}, source)
    canonical = json.dumps({"spec": raw, "targets": cited, "curves": curves}, sort_keys=True)
    return TaskSpec(
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


def load_task_file(path: str | Path) -> TaskSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
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
