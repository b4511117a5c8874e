"""Leaderboard-level scores: numbers that compare potentials with each other rather than with a
reference, so they are computed over the rows of a leaderboard (e.g. paper 001's validation score
V, whose criteria are standardized by their minimum and spread over the models compared).

A leaderboard declares them under ``scores:``; each criterion names a task and one of its metrics,
whose direction (lower/higher is better) comes from the task spec, and a weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mlip_bench.engine.records import ResultRecord
from mlip_bench.errors import TaskSpecError
from mlip_bench.metrics import validation_score
from mlip_bench.reports.leaderboard import Column, Table, TableCell, TableRow, format_value


@dataclass(frozen=True)
class Criterion:
    task: str
    metric: str
    weight: float = 1.0
    #: column heading (default "<metric> (<task>)")
    label: str = ""


@dataclass(frozen=True)
class ScoreSpec:
    id: str
    title: str
    method: str
    criteria: tuple[Criterion, ...]
    #: specs of the potentials compared (default: every row); paper 001 compares variants fitted
    #: to the same training set, so a family gets its own score
    potentials: tuple[str, ...] = ()


def parse_scores(
    raw: object,
    *,
    source: str,
    tasks: Sequence[str] = (),
    potentials: Sequence[str] = (),
    produces: Callable[[str, str], bool] | None = None,
) -> tuple[ScoreSpec, ...]:
    """The ``scores:`` list of a leaderboard file; raises TaskSpecError naming the file and field,
    also when a criterion's task or a listed potential is not on the leaderboard (`tasks`,
    `potentials`: what the leaderboard runs; empty skips that check) or a criterion's task cannot
    produce its metric (`produces(task id, metric)`; None skips that check)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TaskSpecError(f"{source}: field scores must be a list")
    out = []
    for i, entry in enumerate(raw):
        try:
            method = str(entry.get("method", "paper001"))
            if method not in SCORE_METHODS:
                raise TaskSpecError(f"{source}: scores[{i}].method {method!r} unknown (known: {sorted(SCORE_METHODS)})")
            criteria = tuple(
                Criterion(str(c["task"]), str(c["metric"]), float(c.get("weight", 1.0)), str(c.get("label", "")))
                for c in entry["criteria"]
            )
            among = tuple(str(p) for p in entry.get("potentials", ()))
            _check_known(source, i, "criteria[].task", [c.task for c in criteria], tasks)
            _check_known(source, i, "potentials", among, potentials)
            _check_metrics(source, i, criteria, produces)
            out.append(ScoreSpec(str(entry["id"]), str(entry.get("title", entry["id"])), method, criteria, among))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise TaskSpecError(f"{source}: scores[{i}]: missing or malformed field {exc}") from exc
    return tuple(out)


def _check_known(source: str, i: int, field: str, names: Sequence[str], known: Sequence[str]) -> None:
    unknown = [n for n in names if known and n not in known]
    if unknown:
        raise TaskSpecError(f"{source}: scores[{i}].{field}: {', '.join(unknown)} not on this leaderboard")


def _check_metrics(
    source: str, i: int, criteria: Sequence[Criterion], produces: Callable[[str, str], bool] | None
) -> None:
    """A criterion on a metric its task never produces would leave every V empty, silently."""
    for j, c in enumerate(criteria):
        if produces is not None and not produces(c.task, c.metric):
            raise TaskSpecError(
                f"{source}: scores[{i}].criteria[{j}].metric: task {c.task!r} does not produce {c.metric!r}"
            )


def _paper001(criteria: Mapping[str, Sequence[float]], higher: Mapping[str, bool], weights: Mapping[str, float]):  # type: ignore[no-untyped-def]
    return validation_score(criteria, higher_is_better=higher, weights=weights)


#: score methods by name (data, not an if/elif chain): criteria table -> one score per row
SCORE_METHODS: dict[str, Callable[..., Sequence[float]]] = {"paper001": _paper001}


def score_table(
    score: ScoreSpec, records: Sequence[ResultRecord], labels: Mapping[str, str], order: Sequence[str]
) -> Table:
    """One row per potential (in `order`) with its criterion values and the score V (lower is
    better). A potential lacking a criterion (failed task, optional package missing) gets no V;
    V is standardized over the potentials that have all criteria."""
    by_cell = {(r.task.id, r.potential.spec): r for r in records if r.status == "ok"}
    tasks = {c.task for c in score.criteria}
    # rows only for potentials run on at least one criterion's task, as in the task tables
    order = [spec for spec in order if not score.potentials or spec in score.potentials]
    order = [spec for spec in order if any(r.potential.spec == spec and r.task.id in tasks for r in records)]
    rows_data: dict[str, list[float]] = {}
    directions: dict[str, str] = {}
    for spec in order:
        values = []
        for c in score.criteria:
            record = by_cell.get((c.task, spec))
            metric = record.metric(c.metric) if record else None
            values.append(metric.value if metric else math.nan)
            if metric is not None:
                directions[f"{c.task}:{c.metric}"] = metric.direction
        rows_data[spec] = values
    complete = [s for s in order if all(math.isfinite(v) for v in rows_data[s])]
    names = [f"{c.task}:{c.metric}" for c in score.criteria]
    scores: dict[str, float] = {}
    if len(complete) >= 2:
        table = {n: [rows_data[s][i] for s in complete] for i, n in enumerate(names)}
        higher = {n: directions.get(n) == "higher" for n in names}
        weights = {n: c.weight for n, c in zip(names, score.criteria, strict=True)}
        scores = dict(zip(complete, SCORE_METHODS[score.method](table, higher, weights), strict=True))
    best = min(scores.values(), default=math.nan)
    columns = (
        *tuple(
            Column(n, f"{c.label or f'{c.metric} ({c.task})'} ×{c.weight:g}", "", directions.get(n, "none"), None, "")
            for n, c in zip(names, score.criteria, strict=True)
        ),
        Column("V", "V", "", "lower", None, ""),
    )
    rows = []
    for spec in order:
        v = scores.get(spec, math.nan)
        cells = [TableCell(x, format_value(x)) for x in rows_data[spec]]
        cells.append(TableCell(v, format_value(v), best=math.isfinite(v) and v == best and len(scores) > 1))
        missing = [n for n, x in zip(names, rows_data[spec], strict=True) if not math.isfinite(x)]
        status = "ok" if spec in scores else "not_applicable"
        message = "" if status == "ok" else f"no V: missing {', '.join(missing) or 'other potentials to compare'}"
        rows.append(TableRow(labels.get(spec, spec), spec, status, message, tuple(cells), "", 0.0))
    notes = (
        f"V = sum over criteria of (w (c - min c) / std c)^2 over the {len(scores)} potentials with every criterion "
        "(paper 001 Methods, Eqs. 1-2); lower is better; it ranks potentials against each other only",
        *_same_potential_notes(records, [s for s in order if s in scores], labels),
    )
    return Table(score.id, score.title, columns, tuple(rows), notes, ())


def _same_potential_notes(
    records: Sequence[ResultRecord], specs: Sequence[str], labels: Mapping[str, str]
) -> list[str]:
    """Rows whose potentials have the same version (same files, same package): V counts one model
    twice, which shifts every criterion's spread."""
    by_version: dict[str, list[str]] = {}
    versions = {r.potential.spec: r.potential.version for r in records}
    for spec in specs:
        by_version.setdefault(versions.get(spec, spec), []).append(labels.get(spec, spec))
    return [
        f"{' and '.join(names)} are the same potential ({version}): V counts it {len(names)} times"
        for version, names in by_version.items()
        if len(names) > 1
    ]
