"""The leaderboard as one self-contained HTML page: a summary (headline metric per task, accuracy
against cost: :mod:`.summary`), a legend for stars, colours and sorting, a sortable table per task
(best cells starred, status messages for rows that could not be scored, the cells not computed yet
with their command), plotly figures where a picture says more than a number (parity, per-group
errors, E(V) curves, elastic constants against experiment, every curve a kind declares in
``plots``, the alloy maps of paper 001: :mod:`.figures_curves`, :mod:`.figures_alloy`), one colour
per potential in every figure (:mod:`.figures_style`), and a provenance footer.
Works offline: plotly.js is embedded once, nothing is fetched. Every string from records or specs
is HTML-escaped."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from html import escape
from itertools import count
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from mlip_bench.engine.records import to_jsonable
from mlip_bench.reports.figures_alloy import ALLOY_FIGURES
from mlip_bench.reports.figures_crystal import elastic_bars, eos_curves
from mlip_bench.reports.figures_curves import Labelled, curve_figures
from mlip_bench.reports.figures_parity import MAX_PARITY_POINTS, energy_parity, force_parity, group_bars
from mlip_bench.reports.figures_style import is_wide, layout, paint, potential_colors, readable_range
from mlip_bench.reports.figures_summary import pareto_figure
from mlip_bench.reports.figures_uncertainty import uncertainty_figures
from mlip_bench.reports.html_assets import CSS, SORT_JS
from mlip_bench.reports.html_parts import (
    GLYPHS,
    anchor,
    cell_html,
    first,
    glyph,
    legend,
    missing_box,
    summary_section,
    unit,
    v,
)
from mlip_bench.reports.leaderboard import Column, Table, TableRow
from mlip_bench.reports.provenance import dataset_sources, potential_sources
from mlip_bench.reports.summary import Summary, build_summary

__all__ = ["MAX_PARITY_POINTS", "write_html"]

_ARROWS = {"lower": "↓ lower is better", "higher": "↑ higher is better", "target": "◎ closest to the cited value"}
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
#: statuses that say why a potential does not apply, not that something went wrong
_ROUTINE = ("not_applicable",)


def write_html(
    tables: Sequence[Table],
    path: str | Path,
    *,
    title: str,
    description: str = "",
    generated_utc: str = "",
    rerun: str = "",
) -> Path:
    """Write the page for `tables` to `path` (parent folders created); returns the path. `rerun`:
    the command that computes the leaderboard's missing cells. Raises OSError when the file cannot
    be written."""
    counter = count(1)
    summary = build_summary(tables)
    colors = potential_colors([escape(r.label) for r in summary.rows])
    sections = "\n".join(_section(t, counter, colors) for t in tables)
    top = summary_section(summary, colors, _pareto_html(summary, colors, counter))
    zone = "" if generated_utc.endswith(("Z", "+00:00")) else " UTC"
    stamp = f"<p class=meta>Generated {escape(generated_utc)}{zone}</p>" if generated_utc else ""
    desc = f"<p>{escape(description)}</p>" if description else ""
    page = (
        f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head>\n<body><h1>{escape(title)}</h1>{desc}{stamp}\n"
        f"{_contents(tables)}\n{missing_box(tables, rerun)}{top}{legend()}\n"
        f"{sections}\n{_provenance(tables)}\n<script>{SORT_JS}</script></body></html>\n"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _contents(tables: Sequence[Table]) -> str:
    links = "".join(f"<li><a href='#{anchor(t.task_id)}'>{escape(t.title)}</a></li>" for t in tables)
    return f"<nav><ul><li><a href='#summary'>Summary</a></li>{links}</ul></nav>" if len(tables) > 1 else ""


def _pareto_html(summary: Summary, colors: Mapping[str, str], counter: Iterator[int]) -> str:
    fig = pareto_figure(summary)
    return _figure_html(fig, next(counter), colors) if fig is not None else ""


def _section(table: Table, counter: Iterator[int], colors: Mapping[str, str]) -> str:
    notes = "".join(f"<li>{escape(n)}</li>" for n in table.notes)
    figures = "".join(_figure_html(fig, next(counter), colors) for fig in _figures(table, colors))
    heading = f"<h2>{escape(table.title)} <code>{escape(table.task_id)}</code></h2>"
    scored = any(r.status == "ok" for r in table.rows) or not table.columns
    body = _table_html(table) if scored else _unscored(table)  # nothing scored: a few lines, not empty rows
    commands = "".join(f"<li>{escape(m.label)}: <code>{escape(m.command)}</code></li>" for m in table.missing)
    if commands:
        what = f"Commands computing the {len(table.missing)} missing cell{'s' * (len(table.missing) > 1)}"
        body += f"<details class=notes><summary>{what}</summary><ul class=commands>{commands}</ul></details>"
    note_block = ""
    if notes:
        state = " open" if len(table.notes) <= 4 else ""
        count_ = len(table.notes)
        note_block = f"<details class=notes{state}><summary>Notes ({count_})</summary><ul>{notes}</ul></details>"
    return (
        f"<section id='{anchor(table.task_id)}'>{heading}<div class=wrap>{body}</div>{note_block}"
        + (f"<div class=figs>{figures}</div>" if figures else "")
        + "</section>"
    )


def _unscored(table: Table) -> str:
    """What a task measures and why no potential has a number yet (status and reason per potential)."""
    what = ", ".join(c.label + (f" [{c.unit}]" if c.unit and c.unit != "bool" else "") for c in table.columns)
    rows = [r for r in table.rows if r.status != "reference"]
    reasons = "".join(
        f"<li><b>{escape(r.label)}</b>: {escape(r.status.replace('_', ' '))}: "
        f"{escape(r.message.partition(chr(10))[0])}</li>"
        for r in rows
    )
    if table.missing:
        labels = ", ".join(m.label for m in table.missing)
        reasons += f"<li><b>not computed yet</b> (commands below): {escape(labels)}</li>"
    return f"<p class=meta>No potential has a result here yet. It reports: {escape(what)}.</p><ul>{reasons}</ul>"


def _table_html(table: Table) -> str:
    head = "".join(_header_cell(c) for c in table.columns) or "<th></th>"
    body = "".join(_row_html(r, len(table.columns)) for r in table.rows if r.status != "reference")
    body += "".join(
        f"<tr><th scope=row>{escape(m.label)}<span class=spec title='{escape(m.potential, quote=True)}'>"
        f"{escape(m.potential)}</span></th><td class=missing colspan={max(len(table.columns), 1)}>"
        "not computed yet (command below)</td><td></td><td></td><td></td></tr>"
        for m in table.missing
    )
    body += "".join(_row_html(r, len(table.columns)) for r in table.rows if r.status == "reference")  # cited: last
    return (
        f"<table class=sortable><thead><tr><th>potential</th>{head}"
        "<th title='structures scored / in the task' data-first=desc>scored</th>"
        "<th title='structures not scored' data-first=asc>not scored</th><th data-first=asc>wall [s]</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
    )


def _header_cell(column: Column) -> str:
    units = unit(column)
    tip = _ARROWS.get(column.direction, "diagnostic: not ranked")
    line = f"<small>{glyph(column)}</small>" if column.direction in GLYPHS else ""
    if column.target is not None:
        line = f"<small>◎ {column.target:g}</small>" if column.direction == "target" else line
        tip = f"{tip}; cited: {column.target:g} {column.unit}: {column.reference}"
    return f"<th title='{escape(tip, quote=True)}' data-first={first(column)}>{escape(column.label)}{units}{line}</th>"


def _row_html(row: TableRow, n_columns: int) -> str:
    spec = f"<span class=spec title='{escape(row.spec, quote=True)}'>{escape(row.spec)}</span>"
    name = f"<th scope=row>{escape(row.label)}{spec}</th>"
    if row.status == "reference":
        name = f"<th scope=row class=ref title='{escape(row.message, quote=True)}'>{escape(row.label)}</th>"
        cells = "".join(f"<td class='num ref' data-v='{v(c.value)}'>{escape(c.text)}</td>" for c in row.cells)
        return f"<tr class=ref>{name}{cells}<td></td><td></td><td></td></tr>"
    if row.status == "ok":
        cells = "".join(cell_html(c.text, c.best, c.value) for c in row.cells) or "<td></td>"
    else:
        first, _, rest = row.message.partition("\n")
        detail = f"<details><summary>more</summary><pre>{escape(rest)}</pre></details>" * bool(rest.strip())
        status = escape(row.status.replace("_", " "))
        # expected absences (another element, a package not installed) take one line; failures show in full
        clip = " clip" if row.status in _ROUTINE else ""
        tip = f" title='{escape(first, quote=True)}'" if clip else ""
        cells = (
            f"<td class='status{clip}' colspan={max(n_columns, 1)}{tip}><b>{status}</b>: {escape(first)}{detail}</td>"
        )
    return (
        f"<tr>{name}{cells}<td class=num data-v='{v(_fraction(row.coverage))}'>{escape(row.coverage)}</td>"
        f"<td class=nw data-v='{v(_total(row.failures))}'>{escape(row.failures)}</td>"
        f"<td class=num data-v='{v(row.seconds)}'>{row.seconds:.1f}</td></tr>"
    )


def _fraction(coverage: str) -> float:
    """ "14/66" -> 14/66 (NaN for anything else)."""
    done, _, total = coverage.partition("/")
    try:
        return int(done) / int(total)
    except (ValueError, ZeroDivisionError):
        return math.nan


def _total(failures: str) -> float:
    """ "3 failed, 52 skipped" -> 55; "" -> 0."""
    return float(sum(int(n) for n in re.findall(r"\d+", failures)))


def _figure_html(fig: go.Figure, number: int, colors: Mapping[str, str]) -> str:
    layout(readable_range(paint(fig, colors)))
    html = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{number}", config=_PLOT_CONFIG)
    return f"<div class=wide>{html}</div>" if is_wide(fig) else f"<div>{html}</div>"


def _figures(table: Table, colors: Mapping[str, str] | None = None) -> list[go.Figure]:
    """The plots for one table, coloured by `colors` (escaped label -> colour; default: the
    table's rows in order): those of the task's kind, then every curve its items carry (none for
    a table without records, such as a leaderboard-level score)."""
    labels = {r.spec: r.label for r in table.rows}
    scored = [(escape(labels.get(r.potential.spec, r.potential.name)), r) for r in table.records if r.status == "ok"]
    if not scored:
        return []
    if colors is None:
        colors = potential_colors([escape(r.label) for r in table.rows if r.status != "reference"])
    kind = scored[0][1].task.kind
    builders: dict[str, Callable[[Labelled], Sequence[go.Figure | None]]] = {
        "rmse": lambda s: (energy_parity(s), force_parity(s), group_bars(s), *uncertainty_figures(s)),
        "extrapolation": uncertainty_figures,
        "eos": lambda s: (eos_curves(s),),
        "elastic": lambda s: (elastic_bars(s, table.columns),),
        **ALLOY_FIGURES,
    }
    figures = list(builders.get(kind, lambda _: ())(scored)) + curve_figures(scored, kind, table.columns)
    return [paint(f, colors) for f in figures if f is not None]


def _provenance(tables: Sequence[Table]) -> str:
    """Datasets (paths under the data root), potentials, environments and literature behind `tables`."""
    records = [r for t in tables for r in t.records]
    envs = {json.dumps(to_jsonable(r.environment), sort_keys=True): r.environment for r in records}
    columns = [c for t in tables for c in t.columns if c.target is not None]
    refs = sorted({(c.label, c.target, c.unit, c.reference) for c in columns}, key=str)
    parts = ["<footer><h2>Provenance</h2>"]
    datasets = [
        [d.id, d.path, d.sha256[:16] + "…", str(d.n_structures), d.citation, d.source, d.license, d.method]
        for d in dataset_sources(tables)
    ]
    if datasets:
        head = ["id", "path (under the data root)", "sha256", "structures", "citation", "source", "license", "method"]
        parts.append("<h3>Datasets</h3>" + _grid(head, datasets))
    potentials = [
        [p.label, p.spec, p.version, p.citation, p.license, p.reference_method] for p in potential_sources(tables)
    ]
    if potentials:
        head = ["potential", "spec", "version", "citation", "license", "trained on"]
        parts.append("<h3>Potentials</h3>" + _grid(head, potentials))
    rows = [
        [
            e.python,
            e.platform,
            e.mlip_bench,
            ", ".join(f"{k} {v}" for k, v in sorted(e.packages.items())),
            e.omp_num_threads,
            str(e.cpu_count),
        ]
        for e in envs.values()
    ]
    if rows:
        parts.append(
            "<h3>Environment</h3>"
            + _grid(["python", "platform", "mlip-bench", "packages", "OMP_NUM_THREADS", "CPUs"], rows)
        )
    if refs:
        items = "".join(
            f"<li>{escape(label)} = {target:g} {escape(unit)}: {escape(ref)}</li>" for label, target, unit, ref in refs
        )
        parts.append(f"<h3>Literature references</h3><ul>{items}</ul>")
    return "".join(parts) + "</footer>"


def _grid(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<div class=wrap><table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>"
