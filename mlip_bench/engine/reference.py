"""The reference role: any potential (a DFT code through the ``gpaw:`` adapter, or any other spec)
runs a property task, and the curves its result holds are written as reference curves
(mlip_bench/data/curves.py format) with full provenance, for later tasks to compare against.

The task runs through the ordinary runner and result store, so the work is cached and resumable
item by item (a DFT path point is one work item) and parallel on any executor. The file written
holds ``curves:`` (one entry per curve of the record's scored items, arrays ``<name>:x`` /
``<name>:y``; labels from the kind's ``plots``) and ``provenance:`` (calculator spec, version and
every setting, the task with its effective parameters and structures, checksums of the task file
and of each curve's numbers, the environment, the date); the record's scalar metrics are kept in
``provenance.values``. A file written into ``reference_data/curves/`` is read by the suite like
any other curve file (keys must then be new). The dataset half of the role (an ``--out`` that
:func:`is_dataset_path` recognises: structures labelled with energy, forces and stress) is
engine/reference_dataset.py; both share engine/reference_provenance.py's provenance block.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlip_bench.adapters.base import PotentialInfo
from mlip_bench.data.curves import reference_curves
from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.engine.executors import Executor
from mlip_bench.engine.identity import resolve
from mlip_bench.engine.kinds import get_kind
from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.engine.reference_provenance import base_provenance, input_checksums
from mlip_bench.engine.runner import Cell, RunOptions, run_cells
from mlip_bench.engine.spec import TaskSpec, load_task, parse_task
from mlip_bench.engine.store import ResultStore
from mlip_bench.errors import DataError, EvaluationError, MlipBenchError, TaskSpecError
from mlip_bench.paths import reference_dir

#: arrays that accompany a curve rather than being one (the potential's own uncertainty, a reference)
_NOT_CURVES = ("_uncertainty", "_reference")
#: --out names that make `mlip-bench reference` label a dataset (engine/reference_dataset.py)
DATASET_SUFFIXES = (".extxyz", ".extxyz.gz", ".xyz", ".xyz.gz", ".parquet")


def is_dataset_path(path: str | Path) -> bool:
    """Whether `path` names a dataset file (extxyz, plain or gzip, or parquet) rather than curves."""
    return str(path).lower().endswith(DATASET_SUFFIXES)


@dataclass(frozen=True)
class ReferenceCurveOut:
    """One curve as written: key, axes, points (x increasing) and where it came from."""

    key: str
    x_label: str
    y_label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    item: str
    name: str


@dataclass(frozen=True)
class ReferenceResult:
    """What :func:`make_reference` wrote: the file, its curves, the record they came from and the
    provenance mapping stored with them."""

    out_path: Path
    curves: tuple[ReferenceCurveOut, ...]
    record: ResultRecord
    provenance: dict[str, Any]


def task_with(task: TaskSpec, overrides: Mapping[str, Any] | None) -> TaskSpec:
    """`task` with its parameters overridden (a value None removes one: the kind's default applies),
    validated as a task file; raises TaskSpecError naming the task file and the parameter."""
    if not overrides:
        return task
    try:
        raw = load_yaml(Path(task.source).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{task.source}: cannot re-read the task to override its parameters: {exc}") from exc
    parameters = dict(raw.get("parameters") or {})
    for name, value in overrides.items():
        if value is None:
            parameters.pop(name, None)
        else:
            parameters[name] = value
    raw["parameters"] = parameters
    changed = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
    return parse_task(raw, source=f"{task.source} (parameters overridden: {changed})")


def record_curves(record: ResultRecord, plots: Mapping[str, tuple[str, str]]) -> list[tuple[ItemRecord, str]]:
    """(item, curve name) of every curve in the record's ok items: arrays ``name:x`` with
    ``name:y``, except a curve's uncertainty or reference companions."""
    found = []
    for item in record.items:
        if item.status != "ok":
            continue
        for key in item.arrays:
            name, _, axis = key.rpartition(":")
            if axis == "x" and f"{name}:y" in item.arrays and not name.endswith(_NOT_CURVES):
                found.append((item, name))
    order = list(plots)
    return sorted(found, key=lambda pair: order.index(pair[1]) if pair[1] in order else len(order))


def _points(item: ItemRecord, name: str, where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The curve's finite points sorted by x; raises EvaluationError on a repeated x with two
    different y, or fewer than 2 finite points."""
    pairs: dict[float, float] = {}
    for x, y in zip(item.arrays[f"{name}:x"], item.arrays[f"{name}:y"], strict=True):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        if x in pairs and pairs[x] != y:
            raise EvaluationError(f"{where}: x = {x} appears twice with different y ({pairs[x]}, {y})")
        pairs[x] = y
    if len(pairs) < 2:
        raise EvaluationError(f"{where}: fewer than 2 finite points ({len(pairs)})")
    xs = tuple(sorted(pairs))
    return xs, tuple(pairs[x] for x in xs)


def curves_of(record: ResultRecord, *, key: str) -> tuple[ReferenceCurveOut, ...]:
    """The curves of `record` keyed `key` (one curve), else ``key/<item>/<name>`` (the item or
    the name left out where it is the only one). Raises EvaluationError when there is none."""
    plots = dict(get_kind(record.task.kind).plots)
    found = record_curves(record, plots)
    if not found:
        raise EvaluationError(f"{record.potential.spec} on {record.task.id}: the result holds no curve to write")
    items = {i.id for i, _ in found}
    names = {n for _, n in found}
    out = []
    for item, name in found:
        parts = [key, *([item.id] if len(items) > 1 else []), *([name] if len(names) > 1 else [])]
        where = f"{record.task.id}: item {item.id!r}, curve {name!r}"
        xs, ys = _points(item, name, where)
        x_label, y_label = plots.get(name, (f"{name} x", f"{name} y"))
        out.append(ReferenceCurveOut("/".join(parts), x_label, y_label, xs, ys, item.id, name))
    return tuple(out)


def _kind_text(info: PotentialInfo) -> str:
    """The curve's ``kind``: "DFT (<xc>) ..." for a calculator with an ``xc`` setting, else
    "potential: <spec>" (curves.py's convention)."""
    xc = info.options.get("xc")
    if xc:
        return f"DFT ({xc}), computed by mlip-bench reference with {info.version.split(';')[0]}"
    return f"potential: {info.spec}"


def _volume(item: ItemRecord) -> dict[str, float]:
    volume = item.values.get("volume_A3_per_atom")
    return {"volume_A3_per_atom": volume} if volume is not None else {}


def provenance(task: TaskSpec, record: ResultRecord, info: PotentialInfo, results_dir: Path) -> dict[str, Any]:
    """Everything that made the curves: :func:`base_provenance` with the record's cells, work and
    scalar values (the environment last)."""
    block = base_provenance(info, record.environment, task)
    environment = block.pop("environment")
    return block | {
        "cells": {i.id: {"atoms": i.n_atoms, "status": i.status} | _volume(i) for i in record.items},
        "record": {
            "key": record.key,
            "results_dir": str(results_dir),
            "created_utc": record.created_utc,
            "calculator_s": round(record.timings.calculator_s, 3),
            "potential_calls": record.timings.potential_calls,
        },
        "values": {m.name: {"value": m.value, "unit": m.unit} for m in record.metrics if math.isfinite(m.value)},
        "environment": environment,
    }


def _data_sha256(curve: ReferenceCurveOut) -> str:
    return hashlib.sha256(json.dumps([curve.x, curve.y]).encode()).hexdigest()


def _entry(curve: ReferenceCurveOut, info: PotentialInfo, task: TaskSpec, prov: dict[str, Any]) -> dict[str, Any]:
    settings = info.options.get("settings") or ", ".join(f"{k}={v}" for k, v in info.options.items()) or "defaults"
    note = (
        f"Computed by `mlip-bench reference --calculator {shlex.quote(info.spec)} --task {task.id}` "
        f"on {prov['created_utc']} "
        f"({info.version}): {settings}. Task parameters: "
        + ", ".join(f"{k}={v}" for k, v in sorted(prov["task"]["parameters"].items()) if v is not None)
        + f". Item {curve.item!r}, curve {curve.name!r}; provenance in this file."
    )
    return {
        "key": curve.key,
        "kind": _kind_text(info),
        "x_label": curve.x_label,
        "y_label": curve.y_label,
        "x": list(curve.x),
        "y": list(curve.y),
        "citation": f"mlip-bench reference calculation with {info.name}"
        + (f" ({info.citation})" if info.citation else ""),
        "note": note,
        "provenance": {"item": curve.item, "curve": curve.name, "data_sha256": _data_sha256(curve)},
    }


def _check_keys(curves: tuple[ReferenceCurveOut, ...], out_path: Path) -> None:
    """Raises DataError for a key used twice, or already defined by another curve file the suite
    reads (reference_data/curves/*.yaml) when `out_path` is one of them."""
    keys = [c.key for c in curves]
    if len(set(keys)) != len(keys):
        raise DataError(f"{out_path}: curve keys repeat: {keys}")
    folder = reference_dir() / "curves"
    if out_path.resolve().parent != folder.resolve():
        return
    reference_curves.cache_clear()
    for key in keys:
        known = reference_curves().get(key)
        if known is not None and Path(known.source).resolve() != out_path.resolve():
            raise DataError(f"{out_path}: curve key {key!r} is already defined in {known.source}")


class _Dumper(yaml.SafeDumper):
    """Safe YAML with lists of numbers on one line, as the hand-written curve files have them."""


def _numbers(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    flow = bool(data) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _numbers)


def write_reference_file(path: Path, entries: list[dict[str, Any]], prov: dict[str, Any]) -> None:
    """Write the curve file atomically (a temporary file renamed over `path`)."""
    header = (
        "# Reference curves written by `mlip-bench reference` (format: mlip_bench/data/curves.py);\n"
        "# generated: edit by rerunning, not by hand (provenance.data_sha256 checks each curve's numbers).\n"
    )
    document = {"curves": entries, "provenance": prov}
    text = header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def make_reference(
    task_id: str,
    potential_spec: str,
    *,
    results_dir: str | Path,
    out_path: str | Path,
    key: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
    options: RunOptions | None = None,
    data_root: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    allow_partial: bool = False,
    progress: bool = False,
) -> ReferenceResult:
    """Run task `task_id` (id or YAML file; `parameters` override its own) with `potential_spec` as
    the reference, storing the work in `results_dir`, and write its curves to `out_path` (YAML)
    under `key` (default ``<task id>/<potential family>``).

    Raises TaskSpecError (task, overrides), PotentialError (spec), EvaluationError (the cell did not
    finish "ok", holds no curve, or some of its items failed and `allow_partial` is False), DataError
    (key clash, `out_path` exists and `overwrite` is False, or names a dataset file).
    """
    out = Path(out_path)
    if is_dataset_path(out):
        raise DataError(f"{out}: a dataset file name; label structures with engine/reference_dataset.py")
    if out.exists() and not overwrite:
        raise DataError(f"{out}: exists; pass overwrite=True (--overwrite) to replace it")
    task = task_with(load_task(task_id), parameters)
    potential = resolve(potential_spec, data_root)
    if isinstance(potential, Exception):
        raise potential if isinstance(potential, MlipBenchError) else EvaluationError(f"{potential_spec}: {potential}")
    store = ResultStore(results_dir)
    cell = Cell(potential_spec, task, data_root)
    [record] = run_cells([cell], store=store, executor=executor, force=force, progress=progress, options=options)
    if record.status != "ok":
        raise EvaluationError(f"{potential_spec} on {task.id}: {record.status}: {record.message}")
    failed = [i for i in record.items if i.status != "ok"]
    if failed and not allow_partial:
        first = f"{failed[0].id}: {failed[0].reason}"
        raise EvaluationError(f"{potential_spec} on {task.id}: {len(failed)} item(s) not ok (first {first}); rerun")
    curves = curves_of(record, key=key or f"{task.id}/{potential.info.family}")
    _check_keys(curves, out)
    prov = provenance(task, record, potential.info, Path(results_dir))
    prov["inputs"] = input_checksums(potential, [s.element for s in task.structures])
    write_reference_file(out, [_entry(c, potential.info, task, prov) for c in curves], prov)
    reference_curves.cache_clear()
    return ReferenceResult(out, curves, record, prov)
