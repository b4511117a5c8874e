"""Leaderboards: which potentials on which tasks (``tasks/leaderboards/*.yaml``), and the tables
built from result records (potentials as rows, metrics as columns, best per column marked by the
metric's direction)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlip_bench.engine.records import MetricValue, ResultRecord
from mlip_bench.errors import TaskSpecError
from mlip_bench.paths import tasks_dir


@dataclass(frozen=True)
class PotentialEntry:
    spec: str
    label: str
    optional: bool = False


@dataclass(frozen=True)
class LeaderboardSpec:
    id: str
    title: str
    description: str
    potentials: tuple[PotentialEntry, ...]
    tasks: tuple[str, ...]
    #: leaderboard-level scores (:mod:`mlip_bench.reports.scores`), computed over the rows
    scores: tuple[Any, ...] = ()

    def label_for(self, spec: str) -> str | None:
        return next((p.label for p in self.potentials if p.spec == spec), None)


def load_leaderboard(name_or_path: str) -> LeaderboardSpec:
    """A leaderboard by name (``tasks/leaderboards/NAME.yaml``) or YAML path; raises TaskSpecError."""
    path = Path(name_or_path)
    if not path.is_file():
        path = tasks_dir() / "leaderboards" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (tasks_dir() / "leaderboards").glob("*.yaml"))
        raise TaskSpecError(f"unknown leaderboard {name_or_path!r} (known: {', '.join(known)})")
    try:
        raw = yaml.safe_load(path.read_text())
        potentials = tuple(
            PotentialEntry(spec=p["spec"], label=p.get("label", p["spec"]), optional=bool(p.get("optional", False)))
            for p in raw["potentials"]
        )
        from mlip_bench.reports.scores import parse_scores

        return LeaderboardSpec(
            id=raw["id"],
            title=raw.get("title", raw["id"]),
            description=raw.get("description", ""),
            potentials=potentials,
            tasks=tuple(raw["tasks"]),
            scores=parse_scores(
                raw.get("scores"),
                source=str(path),
                tasks=tuple(raw["tasks"]),
                potentials=tuple(p.spec for p in potentials),
            ),
        )
    except (KeyError, TypeError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{path}: invalid leaderboard spec: missing or malformed field {exc}") from exc


@dataclass(frozen=True)
class TableCell:
    value: float
    text: str
    best: bool = False


@dataclass(frozen=True)
class TableRow:
    label: str
    spec: str
    status: str
    message: str
    cells: tuple[TableCell, ...]
    failures: str
    seconds: float
    #: structures scored / structures in the task ("" for reference rows)
    coverage: str = ""


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    unit: str
    direction: str
    target: float | None
    reference: str
    reference_key: str = ""


@dataclass(frozen=True)
class Table:
    task_id: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    notes: tuple[str, ...]
    records: tuple[ResultRecord, ...]


def format_value(value: float, unit: str = "") -> str:
    """Human form of a metric value: "—" for NaN, yes/no for unit "bool", else 3-4 significant digits."""
    if not math.isfinite(value):
        return "—"
    if unit == "bool":
        return "yes" if value else "no"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _score(metric: MetricValue) -> float | None:
    """Smaller is better; None when the metric has no direction or no finite value."""
    if not math.isfinite(metric.value):
        return None
    if metric.direction == "lower":
        return metric.value
    if metric.direction == "higher":
        return -metric.value
    if metric.direction == "target" and metric.target is not None:
        return abs(metric.value - metric.target)
    return None


def build_table(task_id: str, records: Sequence[ResultRecord], spec: LeaderboardSpec | None = None) -> Table:
    """One table for `task_id` from its records (one per potential), rows in leaderboard order."""
    ordered = _ordered(records, spec)
    template = next((r for r in ordered if r.status == "ok"), ordered[0])
    columns = tuple(
        Column(m.name, m.label or m.name, m.unit, m.direction, m.target, m.reference, m.reference_key)
        for m in template.metrics
        if m.listed
    )
    # best is only marked among potentials scored on the same (largest) set of structures
    scored = [r for r in ordered if r.status == "ok"]
    full = max((r.counts.ok for r in scored), default=0)
    comparable = [r for r in scored if r.counts.ok == full]
    best: dict[str, float] = {}
    for column in columns:
        scores = [s for r in comparable if (m := r.metric(column.name)) and (s := _score(m)) is not None]
        if len(scores) > 1 and max(scores) > min(scores):  # a tie everywhere marks nothing
            best[column.name] = min(scores)
    rows = []
    for record in ordered:
        cells = []
        for column in columns:
            metric = record.metric(column.name)
            value = metric.value if metric is not None and record.status == "ok" else math.nan
            score = _score(metric) if metric is not None and record in comparable else None
            is_best = (
                score is not None
                and column.name in best
                and math.isclose(score, best[column.name], rel_tol=1e-9, abs_tol=1e-12)
            )
            cells.append(TableCell(value, format_value(value, column.unit), is_best))
        c = record.counts
        failures = (
            f"{c.failed} failed, {c.skipped} skipped, {c.invalid} invalid"
            if (c.failed or c.skipped or c.invalid)
            else ""
        )
        label = (spec.label_for(record.potential.spec) if spec else None) or record.potential.name
        rows.append(
            TableRow(
                label,
                record.potential.spec,
                record.status,
                record.message,
                tuple(cells),
                failures,
                record.timings.wall_s,
                _coverage(record),
            )
        )
    rows.extend(reference_rows(columns))
    notes = tuple(dict.fromkeys(n for r in ordered for n in _labelled_notes(r, spec)))
    return Table(task_id, template.task.title, columns, tuple(rows), notes, tuple(ordered))


def _labelled_notes(record: ResultRecord, spec: LeaderboardSpec | None) -> list[str]:
    """A record's notes under its row label, so that notes of several potentials stay apart."""
    label = (spec.label_for(record.potential.spec) if spec else None) or record.potential.name
    own = f"{record.potential.name}: "
    return [f"{label}: {n.removeprefix(own)}" for n in record.notes]


def _ordered(records: Sequence[ResultRecord], spec: LeaderboardSpec | None) -> list[ResultRecord]:
    if spec is None:
        return sorted(records, key=lambda r: r.potential.spec)
    rank = {p.spec: i for i, p in enumerate(spec.potentials)}
    return sorted(records, key=lambda r: (rank.get(r.potential.spec, len(rank)), r.potential.spec))


def build_tables(records: Sequence[ResultRecord], spec: LeaderboardSpec | None = None) -> list[Table]:
    """A table per task, in the leaderboard's task order (or sorted by task id); the newest record
    of each (task, potential) when a store holds several."""
    latest: dict[tuple[str, str], ResultRecord] = {}
    for record in records:  # a store can hold older results of a cell (other code or data version)
        key = (record.task.id, record.potential.spec)
        if key not in latest or record.created_utc > latest[key].created_utc:
            latest[key] = record
    by_task: dict[str, list[ResultRecord]] = {}
    for record in latest.values():
        if spec is None or record.potential.spec in {p.spec for p in spec.potentials}:
            by_task.setdefault(record.task.id, []).append(record)
    order = list(spec.tasks) if spec else sorted(by_task)
    tables = [build_table(t, by_task[t], spec) for t in order if t in by_task]
    if spec is not None and spec.scores:
        from mlip_bench.reports.scores import score_table

        labels = {p.spec: p.label for p in spec.potentials}
        specs = [p.spec for p in spec.potentials]
        tables.extend(score_table(s, list(latest.values()), labels, specs) for s in spec.scores)
    return tables


def _coverage(record: ResultRecord) -> str:
    total = len(record.items)
    return f"{record.counts.ok}/{total}" if record.status == "ok" and total else ""


def reference_rows(columns: Sequence[Column]) -> list[TableRow]:
    """Literature rows (status "reference") for tables with target columns: every cited value in
    ``reference_data/literature`` of the same system (key prefix) whose property is a column,
    one row per source (experiment, DFT, ...), so a reader sees all references beside the potentials."""
    from mlip_bench.engine.spec import literature

    systems = {c.reference_key.split("/")[0] for c in columns if c.reference_key}
    by_source: dict[str, dict[str, tuple[float, str, str]]] = {}
    for key, value in literature().items():
        system, source = key.split("/", 1)[0], key.rsplit("/", 1)[-1]
        if system in systems:
            by_source.setdefault(source, {})[value.property] = (value.value, value.kind, value.citation)
    rows = []
    for source, props in sorted(by_source.items()):
        props = {name: v for name, v in props.items() if name in {c.name for c in columns}}
        if not props:
            continue
        cells = tuple(
            TableCell(props[c.name][0], format_value(props[c.name][0], c.unit))
            if c.name in props
            else TableCell(math.nan, "")
            for c in columns
        )
        kinds = sorted({kind for _, kind, _ in props.values()})
        citations = sorted({citation for _, _, citation in props.values()})
        rows.append(
            TableRow(f"reference: {', '.join(kinds)}", source, "reference", "; ".join(citations), cells, "", 0.0)
        )
    return rows
