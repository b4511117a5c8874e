"""Leaderboard tables built from result records: potentials as rows, metrics as columns, the best
per column marked by the metric's direction (never on diagnostics, whose direction is ``none``),
and the leaderboard cells the store lacks. The leaderboard files themselves:
:mod:`mlip_bench.reports.leaderboard_spec`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mlip_bench.engine.records import MetricValue, ResultRecord
from mlip_bench.errors import MlipBenchError

# the leaderboard file's types are imported from here by callers that predate leaderboard_spec
from mlip_bench.reports.leaderboard_spec import LeaderboardSpec as LeaderboardSpec
from mlip_bench.reports.leaderboard_spec import MissingCell, missing_cells
from mlip_bench.reports.leaderboard_spec import PotentialEntry as PotentialEntry
from mlip_bench.reports.leaderboard_spec import load_leaderboard as load_leaderboard


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
    #: the leaderboard's cells of this task with no record in the result store, with the command
    #: that computes each (empty without a leaderboard)
    missing: tuple[MissingCell, ...] = ()


def format_value(value: float, unit: str = "") -> str:
    """Human form of a metric value: "—" for NaN, yes/no for unit "bool", a count (unit "phases", "atoms",
    ...) as an integer, else 3-4 significant digits."""
    if not math.isfinite(value):
        return "—"
    if unit == "bool":
        return "yes" if value else "no"
    counted = unit in ("phases", "compositions", "structures", "atoms", "pairs") or unit.startswith("of ")
    if counted and float(value).is_integer():
        return str(int(value))  # a count: "24", not "24.00"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _score(metric: MetricValue, direction: str) -> float | None:
    """Smaller is better; None when the metric's direction (from the task spec) ranks nothing
    (``none``: diagnostics such as fit residuals), the value is not finite, or it rests on no
    scored structure (n = 0)."""
    if not math.isfinite(metric.value) or metric.n <= 0:
        return None
    if direction == "lower":
        return metric.value
    if direction == "higher":
        return -metric.value
    if direction == "target" and metric.target is not None:
        return abs(metric.value - metric.target)
    return None


def _directions(task_id: str, template: ResultRecord) -> dict[str, str]:
    """Which way is better for each metric, as the task file says now (a record keeps the
    direction of the spec it ran with; a direction corrected since, e.g. a diagnostic set to
    ``none``, applies to stored records too). Tasks run on another dataset (``id@file``) or from
    a file keep their records' directions."""
    from mlip_bench.engine.spec import all_tasks

    stored = {m.name: m.direction for m in template.metrics}
    try:
        task = all_tasks().get(task_id)
    except MlipBenchError:  # a broken task file elsewhere must not stop a report
        task = None
    return stored | ({m.name: m.direction for m in task.metrics} if task is not None else {})


def _rankable(records: Sequence[ResultRecord]) -> list[ResultRecord]:
    """Records that may be marked best: scored on the same structures, the largest such set, with no
    failed item (a potential that returned an absurd value on one structure is never best). Equal
    counts are not enough: on the Li-Al set a Li potential scores 14 Li structures and an Al one 14
    Al structures, and their errors are not comparable."""
    scored = [r for r in records if r.status == "ok" and r.counts.failed == 0 and r.counts.ok > 0]
    by_set: dict[frozenset[str], list[ResultRecord]] = {}
    for record in scored:
        by_set.setdefault(frozenset(i.id for i in record.items if i.status == "ok"), []).append(record)
    if not by_set:
        return []
    largest = max(by_set.items(), key=lambda kv: (len(kv[0]), len(kv[1])))
    return largest[1]


def build_table(task_id: str, records: Sequence[ResultRecord], spec: LeaderboardSpec | None = None) -> Table:
    """One table for `task_id` from its records (one per potential), rows in leaderboard order."""
    ordered = _ordered(records, spec)
    template = next((r for r in ordered if r.status == "ok"), ordered[0])
    directions = _directions(task_id, template)
    columns = tuple(
        Column(m.name, m.label or m.name, m.unit, directions[m.name], m.target, m.reference, m.reference_key)
        for m in template.metrics
        if m.listed
    )
    comparable = _rankable(ordered)
    best: dict[str, float] = {}
    for column in columns:
        scores = [
            s for r in comparable if (m := r.metric(column.name)) and (s := _score(m, column.direction)) is not None
        ]
        if len(scores) > 1 and max(scores) > min(scores):  # a tie everywhere marks nothing
            best[column.name] = min(scores)
    rows = [_row(record, columns, best, record in comparable, spec) for record in ordered]
    rows.extend(reference_rows(columns))
    return Table(task_id, template.task.title, columns, tuple(rows), _grouped_notes(ordered, spec), tuple(ordered))


def _row(
    record: ResultRecord,
    columns: Sequence[Column],
    best: dict[str, float],
    rankable: bool,
    spec: LeaderboardSpec | None,
) -> TableRow:
    cells = []
    for column in columns:
        metric = record.metric(column.name)
        value = metric.value if metric is not None and record.status == "ok" else math.nan
        score = _score(metric, column.direction) if metric is not None and rankable else None
        is_best = (
            score is not None
            and column.name in best
            and math.isclose(score, best[column.name], rel_tol=1e-9, abs_tol=1e-12)
        )
        cells.append(TableCell(value, format_value(value, column.unit), is_best))
    return TableRow(
        _label(record, spec),
        record.potential.spec,
        record.status,
        record.message,
        tuple(cells),
        _failures(record),
        record.timings.wall_s,
        _coverage(record),
    )


def _failures(record: ResultRecord) -> str:
    """The non-zero item counts that were not scored, e.g. "52 skipped" ("" when none)."""
    c = record.counts
    parts = [f"{n} {what}" for n, what in ((c.failed, "failed"), (c.skipped, "skipped"), (c.invalid, "invalid")) if n]
    return ", ".join(parts)


def _label(record: ResultRecord, spec: LeaderboardSpec | None) -> str:
    return (spec.label_for(record.potential.spec) if spec else None) or record.potential.name


def _grouped_notes(records: Sequence[ResultRecord], spec: LeaderboardSpec | None) -> tuple[str, ...]:
    """Each distinct note once, after the potentials it concerns ("A and B: note"), so a note that
    several potentials share is printed once. A note that starts with its potential's own name
    has that prefix removed first."""
    by_text: dict[str, list[str]] = {}
    for record in records:
        own = f"{record.potential.name}: "
        for note in record.notes:
            labels = by_text.setdefault(note.removeprefix(own), [])
            if (label := _label(record, spec)) not in labels:
                labels.append(label)
    return tuple(f"{_and(labels)}: {text}" for text, labels in by_text.items())


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _ordered(records: Sequence[ResultRecord], spec: LeaderboardSpec | None) -> list[ResultRecord]:
    if spec is None:
        return sorted(records, key=lambda r: r.potential.spec)
    rank = {p.spec: i for i, p in enumerate(spec.potentials)}
    return sorted(records, key=lambda r: (rank.get(r.potential.spec, len(rank)), r.potential.spec))


def build_tables(
    records: Sequence[ResultRecord],
    spec: LeaderboardSpec | None = None,
    *,
    results: str = "results",
    data_root: str | None = None,
) -> list[Table]:
    """A table per task, in the leaderboard's task order (or sorted by task id); the newest record
    of each (task, potential) when a store holds several. With a leaderboard, only its potentials
    and tasks, and each table lists its cells that have no record (``Table.missing``, with the
    command that computes each into the store `results`); a task with no record at all gets an
    empty table of its spec's columns."""
    latest: dict[tuple[str, str], ResultRecord] = {}
    for record in records:  # a store can hold older results of a cell (other code or data version)
        key = (record.task.id, record.potential.spec)
        if key not in latest or record.created_utc > latest[key].created_utc:
            latest[key] = record
    if spec is not None:
        wanted = {p.spec for p in spec.potentials}
        latest = {k: r for k, r in latest.items() if k[0] in spec.tasks and k[1] in wanted}
    by_task: dict[str, list[ResultRecord]] = {}
    for record in latest.values():
        by_task.setdefault(record.task.id, []).append(record)
    if spec is None:
        return [build_table(t, by_task[t]) for t in sorted(by_task)]
    missing = missing_cells(spec, set(latest), results=results, data_root=data_root)
    tables = []
    for task in spec.tasks:
        table = build_table(task, by_task[task], spec) if task in by_task else _empty_table(task)
        tables.append(replace(table, missing=tuple(m for m in missing if m.task == task)))
    if spec.scores:
        from mlip_bench.reports.scores import score_table

        labels = {p.spec: p.label for p in spec.potentials}
        specs = [p.spec for p in spec.potentials]
        tables.extend(score_table(s, list(latest.values()), labels, specs) for s in spec.scores)
    return tables


def _empty_table(task_id: str) -> Table:
    """The table of a leaderboard task with no stored record: its spec's columns, no rows."""
    from mlip_bench.engine.spec import all_tasks

    task = all_tasks()[task_id]  # load_leaderboard checked the id
    columns = tuple(
        Column(
            m.name,
            m.label or m.name,
            m.unit,
            m.direction,
            m.reference.value if m.reference else None,
            f"{m.reference.citation} ({m.reference.kind})" if m.reference else "",
            m.reference.key if m.reference else "",
        )
        for m in task.metrics
    )
    return Table(task_id, task.title, columns, (), (), ())


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
