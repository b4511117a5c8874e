"""Pieces of the HTML report above the task sections: the missing-cells box, the summary table
(:mod:`.summary`) and the legend for stars, colours and sorting; and the cell and header helpers
the tables share. Every string from records or specs is HTML-escaped."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape

from mlip_bench.reports.leaderboard import Column, Table, format_value
from mlip_bench.reports.summary import HEADLINE_RULE, PARTIAL_RULE, Summary

GLYPHS = {"lower": "↓", "higher": "↑", "target": "◎"}


def anchor(task_id: str) -> str:
    return "task-" + re.sub(r"[^A-Za-z0-9_-]", "-", task_id)


def first(column: Column) -> str:
    """Which way a click on the column's header sorts first: the best values on top."""
    return "desc" if column.direction == "higher" else "asc"


def unit(column: Column) -> str:
    return f" [{escape(column.unit)}]" if column.unit and column.unit != "bool" else ""


def glyph(column: Column) -> str:
    return GLYPHS.get(column.direction, "")


def v(value: float) -> str:
    """The ``data-v`` a cell sorts by ("" for no value)."""
    return repr(float(value)) if math.isfinite(value) else ""


def cell_html(text: str, best: bool, value: float, partial: str = "") -> str:
    """A number's cell (starred when best); `partial` ("14/66"): scored on part of the structures."""
    note = ""
    if partial:
        tip = escape(f"scored on {partial.replace('/', ' of ')} structures", quote=True)
        note = f" <small class=partial title='{tip}'>({escape(partial)})</small>"
    if best:
        return f"<td class='num best' data-v='{v(value)}' title='best in this column'>★ {escape(text)}{note}</td>"
    return f"<td class=num data-v='{v(value)}'>{escape(text)}{note}</td>"


def missing_box(tables: Sequence[Table], rerun: str) -> str:
    """The leaderboard's cells with no stored record, by potential, and the command computing them."""
    missing = [m for t in tables for m in t.missing]
    if not missing:
        return ""
    by_label: dict[str, list[str]] = {}
    for m in missing:
        by_label.setdefault(m.label + (" (optional)" if m.optional else ""), []).append(m.task)
    items = "".join(f"<li>{escape(label)}: {escape(', '.join(ts))}</li>" for label, ts in by_label.items())
    command = f"<p>Compute them (stored cells are reused): <code>{escape(rerun)}</code></p>" if rerun else ""
    head = f"{len(missing)} cells (potential × task) of this leaderboard have no stored result yet"
    listing = f"<details><summary>which, by potential</summary><ul>{items}</ul></details>"
    return f"<div class=missing-box><p><b>Missing results</b>: {head}.</p>{listing}{command}</div>"


def legend() -> str:
    return (
        "<div class=legend><b>How to read this page</b><ul>"
        "<li><span class='key best'>★ 1.23</span> best in its column among the potentials scored on the same "
        "structures without failures: ↓ lowest, ↑ highest, ◎ closest to the cited value under the header. "
        "Columns without an arrow are diagnostics (fit residuals, internal consistency) and are never starred.</li>"
        "<li><span class='key status-key'>n/a</span> a row that could not be scored, with the reason; "
        "<i>reference</i> rows in grey italics are cited values (experiment, DFT), not potentials.</li>"
        "<li>Click a column header to sort by it (again to reverse); rows without a value stay last.</li>"
        "<li>Plots: one colour per potential, the same in every plot (dots in the summary table); black dashed "
        "lines are references. Click a legend entry to hide it, double-click to show it alone.</li>"
        "</ul></div>"
    )


def summary_section(summary: Summary, colors: Mapping[str, str], plot: str) -> str:
    """The summary table (a row per potential, its colour dot, each task's headline, the cost),
    the rules it follows and `plot` (the accuracy-against-cost figure's HTML)."""
    if not summary.headlines or not summary.rows:
        return ""
    head = "".join(
        f"<th title='{escape(h.task_title, quote=True)}' data-first={first(h.column)}>"
        f"<a href='#{anchor(h.task_id)}'>{escape(h.task_id)}</a>"
        f"<small>{escape(h.column.label)}{unit(h.column)} {glyph(h.column)}</small></th>"
        for h in summary.headlines
    )
    rows = []
    for row in summary.rows:
        dot = f"<span class=swatch style='background:{colors.get(escape(row.label), '#ccc')}'></span>"
        cells = "".join(
            cell_html(c.text, c.best, c.value, c.partial)
            if c.status == "ok"
            else f"<td class=absent data-v=''>{escape(c.text)}</td>"
            for c in row.cells
        )
        cost = format_value(row.cost_us_per_atom) if math.isfinite(row.cost_us_per_atom) else ""
        cost_cell = f"<td class=num data-v='{v(row.cost_us_per_atom)}'>{escape(cost)}</td>" if summary.has_cost else ""
        rows.append(f"<tr><th scope=row>{dot}{escape(row.label)}</th>{cells}{cost_cell}</tr>")
    cost_head = (
        "<th title='calculator time per atom and call' data-first=asc>cost<small>µs/atom</small></th>"
        if summary.has_cost
        else ""
    )
    table = (
        "<div class=wrap><table class='sortable summary-table'>"
        f"<thead><tr><th>potential</th>{head}{cost_head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    skipped = (
        f" Tasks without a metric that ranks potentials: {escape(', '.join(summary.unranked))}."
        if summary.unranked
        else ""
    )
    partial = f" {escape(PARTIAL_RULE)}" if summary.partial else ""
    rules = f"<p class=meta>{escape(HEADLINE_RULE)} {escape(summary.cost_rule())}{partial}{skipped}</p>"
    figure = f"<div class='figs one'>{plot}</div>" if plot else ""
    return f"<section id=summary><h2>Summary</h2>{table}{rules}{figure}</section>"
