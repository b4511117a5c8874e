"""The summary at the top of a leaderboard: potentials as rows, one headline metric per task, the
calculator cost per atom, and the accuracy-against-cost view of paper 002 (Poul et al., Fig. 5:
time per force call per atom against the energy RMSE, Pareto front dotted).

Headline of a task (:data:`HEADLINE_RULE`): its first listed metric that ranks potentials (lower,
higher or closest to a cited target), except that an energy error is replaced by its offset-aligned
variant when the table lists one. Cost (:data:`COST_RULE`): calculator seconds per atom evaluated,
pooled over the potential's cells of kind ``rmse`` (one calculator call per structure), in µs.
Built from the tables alone (pure); rendered here for the terminal and Markdown, in
:mod:`mlip_bench.reports.html` for the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from mlip_bench.metrics.pareto import pareto_front
from mlip_bench.reports.leaderboard import Column, Table, format_value

HEADLINE_RULE = (
    "Each task's headline is its first listed metric that ranks potentials (↓ lower, ↑ higher or ◎ closest to "
    "a cited value); for an energy error the offset-aligned variant when the task lists it, since potentials "
    "fitted to other DFT settings differ from the reference by a constant per element."
)
COST_RULE = (
    "Cost: calculator time per atom and call (µs), pooled over the potential's dataset tasks (one call per "
    "structure), as recorded with the results, so it depends on the machine that computed them."
)
NO_COST_RULE = (
    "No cost column: no dataset task here times calculator calls; MD tasks give their cost in their own "
    "tables (µs per atom and step)."
)
PARTIAL_RULE = (
    "A value followed by (14/66) rests on 14 of the task's 66 structures only (the others hold elements the "
    "potential lacks, or failed)."
)
#: item statuses whose structures were handed to the calculator
_EVALUATED = ("ok", "failed")
_STATUS_WORDS = {
    "missing_data": "no data",
    "not_applicable": "n/a",
    "unavailable": "not installed",
    "failed": "failed",
    "missing": "not run",
}
_RANKED = ("lower", "higher", "target")


@dataclass(frozen=True)
class Headline:
    task_id: str
    task_title: str
    column: Column


@dataclass(frozen=True)
class SummaryCell:
    #: the metric's value (NaN when not scored)
    value: float
    #: the value as the task's table prints it, or a status word ("n/a", "not run", ...); "" when
    #: the task does not concern the potential (a score over other potentials)
    text: str
    best: bool
    status: str
    #: "14/66" where the potential was scored on part of the task's structures only ("" otherwise)
    partial: str = ""


@dataclass(frozen=True)
class SummaryRow:
    label: str
    spec: str
    cells: tuple[SummaryCell, ...]
    #: calculator time per atom and call in µs (NaN without a timed dataset task)
    cost_us_per_atom: float
    #: atoms evaluated behind the cost
    cost_atoms: int


@dataclass(frozen=True)
class ParetoPoint:
    label: str
    cost_us_per_atom: float
    #: the headline's error: the value for "lower", |value - target| for "target"
    error: float
    on_front: bool
    #: "14/66" where the error rests on part of the task's structures ("" otherwise)
    partial: str = ""


@dataclass(frozen=True)
class ParetoView:
    headline: Headline
    #: y-axis title in words with unit
    error_title: str
    points: tuple[ParetoPoint, ...]


@dataclass(frozen=True)
class Summary:
    headlines: tuple[Headline, ...]
    rows: tuple[SummaryRow, ...]
    #: accuracy-against-cost views, the default (most points, dataset errors first) first
    views: tuple[ParetoView, ...]
    #: tasks whose table has no metric that ranks potentials (left out of the summary)
    unranked: tuple[str, ...]

    @property
    def has_cost(self) -> bool:
        """Whether any potential has a cost (a timed dataset task): else the cost column is left out."""
        return any(math.isfinite(r.cost_us_per_atom) for r in self.rows)

    def cost_rule(self) -> str:
        return COST_RULE if self.has_cost else NO_COST_RULE

    @property
    def partial(self) -> bool:
        """Whether some value rests on part of its task's structures only."""
        return any(c.partial for r in self.rows for c in r.cells)


def headline(table: Table) -> Column | None:
    """The column summarising `table` (:data:`HEADLINE_RULE`), or None when no column ranks."""
    ranked = [c for c in table.columns if c.direction in _RANKED and (c.direction != "target" or c.target is not None)]
    if not ranked:
        return None
    first = ranked[0]
    if first.name.startswith("energy_") and not first.name.startswith("energy_aligned_"):
        aligned = first.name.replace("energy_", "energy_aligned_", 1)
        return next((c for c in ranked if c.name == aligned), first)
    return first


def build_summary(tables: Sequence[Table]) -> Summary:
    """The summary of `tables` (task tables and leaderboard scores, in page order)."""
    pairs = [(t, c) for t in tables if (c := headline(t)) is not None and (t.rows or t.missing)]
    headlines = tuple(Headline(t.task_id, t.title, c) for t, c in pairs)
    unranked = tuple(t.task_id for t in tables if headline(t) is None)
    potentials = _potentials(tables)
    costs = {spec: _cost(tables, spec) for spec in potentials}
    rows = tuple(
        SummaryRow(label, spec, tuple(_cell(t, c, spec) for t, c in pairs), *costs[spec])
        for spec, label in potentials.items()
    )
    return Summary(headlines, rows, _views(headlines, rows), unranked)


def _potentials(tables: Sequence[Table]) -> dict[str, str]:
    """spec -> label of every potential of the tables (rows and missing cells), in first-seen order."""
    out: dict[str, str] = {}
    for table in tables:
        for row in table.rows:
            if row.status != "reference":
                out.setdefault(row.spec, row.label)
        for missing in table.missing:
            out.setdefault(missing.potential, missing.label)
    return out


def _cell(table: Table, column: Column, spec: str) -> SummaryCell:
    index = table.columns.index(column)
    row = next((r for r in table.rows if r.spec == spec and r.status != "reference"), None)
    if row is None:
        missing = any(m.potential == spec for m in table.missing)
        return SummaryCell(math.nan, _STATUS_WORDS["missing"] if missing else "", False, "missing")
    if row.status != "ok":
        return SummaryCell(math.nan, _STATUS_WORDS.get(row.status, row.status), False, row.status)
    cell = row.cells[index]
    done, _, total = row.coverage.partition("/")
    return SummaryCell(cell.value, cell.text, cell.best, "ok", row.coverage if done != total else "")


def _cost(tables: Sequence[Table], spec: str) -> tuple[float, int]:
    """(µs per atom and call, atoms) over the potential's scored cells of kind ``rmse``."""
    seconds, atoms = 0.0, 0
    seen: set[int] = set()
    for record in (r for t in tables for r in t.records):
        if record.potential.spec != spec or record.task.kind != "rmse" or record.status != "ok" or id(record) in seen:
            continue
        seen.add(id(record))
        n = sum(i.n_atoms for i in record.items if i.status in _EVALUATED)
        if n > 0 and math.isfinite(record.timings.calculator_s) and record.timings.calculator_s > 0:
            seconds += record.timings.calculator_s
            atoms += n
    return (seconds / atoms * 1e6, atoms) if atoms else (math.nan, 0)


def _error(cell: SummaryCell, column: Column) -> float:
    if cell.status != "ok" or not math.isfinite(cell.value):
        return math.nan
    if column.direction == "target" and column.target is not None:
        return abs(cell.value - column.target)
    return cell.value if column.direction == "lower" else math.nan


def _views(headlines: Sequence[Headline], rows: Sequence[SummaryRow]) -> tuple[ParetoView, ...]:
    views = []
    for k, h in enumerate(headlines):
        if h.column.direction not in ("lower", "target"):
            continue
        raw = [(r.label, r.cost_us_per_atom, _error(r.cells[k], h.column), r.cells[k].partial) for r in rows]
        raw = [p for p in raw if math.isfinite(p[1]) and math.isfinite(p[2])]
        if not raw:
            continue
        front = pareto_front([(c, e) for _, c, e, _ in raw])
        points = tuple(ParetoPoint(label, c, e, i in front, part) for i, (label, c, e, part) in enumerate(raw))
        views.append(ParetoView(h, _error_title(h.column), points))
    rmse_first = sorted(views, key=lambda v: (-len(v.points), not _is_dataset_error(v.headline)))
    return tuple(rmse_first)


def _is_dataset_error(h: Headline) -> bool:
    return h.column.name.startswith("energy_") and "rmse" in h.column.name


def _error_title(column: Column) -> str:
    unit = f" ({column.unit})" if column.unit and column.unit != "bool" else ""
    if column.direction == "target" and column.target is not None:
        return f"|{column.label} − {column.target:g}|{unit}, distance from the cited value"
    return f"{column.label}{unit}"


def header(h: Headline) -> str:
    """Column header of a headline: task id, metric label and unit."""
    unit = f" [{h.column.unit}]" if h.column.unit and h.column.unit != "bool" else ""
    return f"{h.task_id}: {h.column.label}{unit}"


def summary_blocks(tables: Sequence[Table], *, markdown: bool = False) -> list[str]:
    """The summary as text blocks to print before the task tables: a grid (terminal: at most 120
    columns, cut into blocks of columns) and the rules. Empty for fewer than two summarised tasks."""
    summary = build_summary(tables)
    if len(summary.headlines) < 2 or not summary.rows:
        return []
    cost = ["cost [µs/atom]"] if summary.has_cost else []
    head = ["potential", *(header(h) for h in summary.headlines), *cost]
    body = [
        [
            r.label,
            *(_marked(c, markdown) for c in r.cells),
            *([format_value(r.cost_us_per_atom) if math.isfinite(r.cost_us_per_atom) else ""] if cost else []),
        ]
        for r in summary.rows
    ]
    partial = f" {PARTIAL_RULE}" if summary.partial else ""
    rules = f"{HEADLINE_RULE} {summary.cost_rule()}{partial} Best per task: {'bold' if markdown else '*'}."
    if markdown:
        from tabulate import tabulate

        grid = tabulate(
            [[_md(c) if i == 0 else c for i, c in enumerate(row)] for row in body],
            headers=[_md(h) for h in head],
            tablefmt="github",
            disable_numparse=True,
        )
        return [f"## Summary\n\n{grid}\n\n{rules}"]
    from mlip_bench.reports.text_layout import fit_grid, wrap_line

    return [f"Summary\n\n{fit_grid(head, body)}\n\n{wrap_line(rules)}"]


def _marked(cell: SummaryCell, markdown: bool) -> str:
    partial = f" ({cell.partial})" if cell.partial else ""
    if not cell.best:
        return cell.text + partial
    return f"**{cell.text}**{partial}" if markdown else f"{cell.text} *{partial}"


def _md(text: str) -> str:
    """`text` safe in a Markdown table cell: HTML escaped, Markdown punctuation backslash-escaped."""
    out = escape(text, quote=False)
    for char in "\\`*_[]|#":
        out = out.replace(char, "\\" + char)
    return out
