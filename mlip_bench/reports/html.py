"""The leaderboard as one self-contained HTML page: a table per task (best cells starred, status
messages for rows that could not be scored), plotly figures where a picture says more than a
number (parity, per-group errors, E(V) curves, elastic constants against experiment, every curve
a kind declares in ``plots``, the alloy maps of paper 001: :mod:`.figures_curves`,
:mod:`.figures_alloy`) and a provenance footer (datasets, potentials, environment, literature).
Works offline: plotly.js is embedded once, nothing is fetched. Every string from records or specs is HTML-escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from html import escape
from itertools import count
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from mlip_bench.engine.records import to_jsonable
from mlip_bench.reports.figures_alloy import ALLOY_FIGURES
from mlip_bench.reports.figures_curves import Labelled, curve_figures, elastic_bars, eos_curves, ok_items
from mlip_bench.reports.leaderboard import Column, Table, TableRow

MAX_PARITY_POINTS = 4000
_SEED = 0
_ARROWS = {"lower": "↓ lower is better", "higher": "↑ higher is better", "target": "◎ closest to target"}
#: parity trace: legend name, reference, prediction, hover text per point, visible at first
_Trace = tuple[str, np.ndarray, np.ndarray, list[str] | None, bool]
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;
 padding:1rem 2rem;color:#1f2933;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:2px solid #d9e2ec;padding-bottom:.3rem}
code,.spec{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;color:#52606d}
.meta{color:#52606d}.wrap{overflow-x:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #d9e2ec;padding:.3rem .55rem;vertical-align:top}
thead th{position:sticky;top:0;background:#f0f4f8;text-align:center}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{font-weight:700;background:#e3f9e5}th small{display:block;font-weight:400;color:#52606d}
tbody tr:nth-child(even){background:#fafbfc}
td.status{color:#8d2b0b;background:#fff8f1}tr.ref{font-style:italic;color:#555;background:#f4f6fa}
td.status b{text-transform:uppercase;font-size:.8em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:1rem}.figs>div{min-width:0}
footer{margin-top:3rem;border-top:2px solid #d9e2ec;font-size:.9rem}footer td{max-width:60ch}
pre{white-space:pre-wrap;font-size:.8rem}
"""


def write_html(
    tables: Sequence[Table], path: str | Path, *, title: str, description: str = "", generated_utc: str = ""
) -> Path:
    """Write the page for `tables` to `path` (parent folders created); returns the path.
    Raises OSError when the file cannot be written."""
    counter = count(1)
    sections = "\n".join(_section(t, counter) for t in tables)
    zone = "" if generated_utc.endswith(("Z", "+00:00")) else " UTC"
    stamp = f"<p class=meta>Generated {escape(generated_utc)}{zone}</p>" if generated_utc else ""
    desc = f"<p>{escape(description)}</p>" if description else ""
    page = (
        f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head>\n<body><h1>{escape(title)}</h1>{desc}{stamp}\n"
        f"{_contents(tables)}\n{sections}\n{_provenance(tables)}\n</body></html>\n"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _contents(tables: Sequence[Table]) -> str:
    links = "".join(f"<li><a href='#{_anchor(t.task_id)}'>{escape(t.title)}</a></li>" for t in tables)
    return f"<nav><ul>{links}</ul></nav>" if len(tables) > 1 else ""


def _anchor(task_id: str) -> str:
    return "task-" + re.sub(r"[^A-Za-z0-9_-]", "-", task_id)


def _section(table: Table, counter: Iterator[int]) -> str:
    notes = "".join(f"<li>{escape(n)}</li>" for n in table.notes)
    figures = "".join(_figure_html(fig, next(counter)) for fig in _figures(table))
    heading = f"<h2>{escape(table.title)} <code>{escape(table.task_id)}</code></h2>"
    return (
        f"<section id='{_anchor(table.task_id)}'>{heading}<div class=wrap>{_table_html(table)}</div>"
        + (f"<ul class=notes>{notes}</ul>" if notes else "")
        + (f"<div class=figs>{figures}</div>" if figures else "")
        + "</section>"
    )


def _table_html(table: Table) -> str:
    head = "".join(_header_cell(c) for c in table.columns) or "<th></th>"
    body = "".join(_row_html(r, len(table.columns)) for r in table.rows)
    return (
        f"<table><thead><tr><th>potential</th>{head}<th title='structures scored / in the task'>scored</th>"
        "<th>failures</th><th>wall [s]</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _header_cell(column: Column) -> str:
    unit = f" [{escape(column.unit)}]" if column.unit and column.unit != "bool" else ""
    tip = escape(_ARROWS.get(column.direction, ""), quote=True)
    lines = ""
    if column.target is not None:
        lines = f"<small>target {column.target:g}{unit}</small>"
        tip = escape(f"target {column.target:g} {column.unit}: {column.reference}", quote=True)
    return f"<th title='{tip}'>{escape(column.label)}{unit}{lines}</th>"


def _row_html(row: TableRow, n_columns: int) -> str:
    name = f"<th scope=row>{escape(row.label)}<br><span class=spec>{escape(row.spec)}</span></th>"
    if row.status == "reference":
        name = f"<th scope=row class=ref title='{escape(row.message, quote=True)}'>{escape(row.label)}</th>"
        cells = "".join(f"<td class='num ref'>{escape(c.text)}</td>" for c in row.cells)
        return f"<tr class=ref>{name}{cells}<td></td><td></td><td></td></tr>"
    if row.status == "ok":
        cells = "".join(_cell_html(c.text, c.best) for c in row.cells) or "<td></td>"
    else:
        first, _, rest = row.message.partition("\n")
        detail = f"<details><summary>more</summary><pre>{escape(rest)}</pre></details>" * bool(rest.strip())
        status = escape(row.status.replace("_", " "))
        cells = f"<td class=status colspan={max(n_columns, 1)}><b>{status}</b>: {escape(first)}{detail}</td>"
    return (
        f"<tr>{name}{cells}<td class=num>{escape(row.coverage)}</td><td>{escape(row.failures)}</td>"
        f"<td class=num>{row.seconds:.1f}</td></tr>"
    )


def _cell_html(text: str, best: bool) -> str:
    return f"<td class='num best'>★ {escape(text)}</td>" if best else f"<td class=num>{escape(text)}</td>"


def _figure_html(fig: go.Figure, number: int) -> str:
    fig.update_layout(
        template="plotly_white",
        height=480,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        title_x=0.01,
        # below the plot unless the figure placed its legend itself (beside long rotated tick labels)
        legend={"orientation": "h", "y": -0.15, "yanchor": "top"} | fig.layout.legend.to_plotly_json(),
    )
    return f"<div>{fig.to_html(full_html=False, include_plotlyjs=False, div_id=f'fig-{number}')}</div>"


def _figures(table: Table) -> list[go.Figure]:
    """The plots for one table: those of the task's kind, then every curve its items carry (none
    for a table without records, such as a leaderboard-level score)."""
    labels = {r.spec: r.label for r in table.rows}
    scored = [(escape(labels.get(r.potential.spec, r.potential.name)), r) for r in table.records if r.status == "ok"]
    if not scored:
        return []
    kind = scored[0][1].task.kind
    builders: dict[str, Callable[[Labelled], Sequence[go.Figure | None]]] = {
        "rmse": lambda s: (_energy_parity(s), _force_parity(s), _group_bars(s)),
        "eos": lambda s: (eos_curves(s),),
        "elastic": lambda s: (elastic_bars(s, table.columns),),
        **ALLOY_FIGURES,
    }
    figures = list(builders.get(kind, lambda _: ())(scored)) + curve_figures(scored, kind)
    return [f for f in figures if f is not None]


def _energy_parity(scored: Labelled) -> go.Figure | None:
    traces: list[_Trace] = []
    for label, record in scored:
        items = ok_items(record, values=("e_ref_eV_per_atom", "e_pred_eV_per_atom"))
        if not items:
            continue
        ref = np.array([i.values["e_ref_eV_per_atom"] for i in items])
        raw = np.array([i.values["e_pred_eV_per_atom"] for i in items])
        aligned = ref + np.array([i.values.get("e_err_aligned_meV_per_atom", np.nan) for i in items]) / 1000
        ids = [escape(i.id) for i in items]
        traces.append((label, ref, aligned, ids, True))
        traces.append((f"{label} (raw)", ref, raw, ids, False))
    return _parity(traces, "Energy per atom (offsets removed)", "reference E [eV/atom]", "predicted E [eV/atom]")


def _force_parity(scored: Labelled) -> go.Figure | None:
    traces: list[_Trace] = []
    for label, record in scored:
        items = ok_items(record, arrays=("forces_ref_eV_per_A", "forces_pred_eV_per_A"))
        if not items:
            continue
        ref = np.concatenate([np.asarray(i.arrays["forces_ref_eV_per_A"], float) for i in items])
        pred = np.concatenate([np.asarray(i.arrays["forces_pred_eV_per_A"], float) for i in items])
        if ref.size > MAX_PARITY_POINTS:
            keep = np.sort(np.random.default_rng(_SEED).choice(ref.size, MAX_PARITY_POINTS, replace=False))
            ref, pred = ref[keep], pred[keep]
        traces.append((label, ref, pred, None, True))
    return _parity(
        traces, f"Force components (≤ {MAX_PARITY_POINTS} per potential)", "reference F [eV/Å]", "predicted F [eV/Å]"
    )


def _parity(traces: list[_Trace], title: str, x_title: str, y_title: str) -> go.Figure | None:
    """Scatter of (label, x, y, hover ids, visible) traces with a dashed y = x line; None if empty."""
    if not traces:
        return None
    fig = go.Figure()
    for label, x, y, ids, visible in traces:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=label,
                text=ids,
                visible=visible or "legendonly",
                marker={"size": 5, "opacity": 0.6},
            )
        )
    values = np.concatenate([np.concatenate([t[1], t[2]]) for t in traces if t[4]])
    values = values[np.isfinite(values)]
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                name="y = x",
                line={"dash": "dash", "color": "#7b8794"},
                hoverinfo="skip",
            )
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def _group_bars(scored: Labelled) -> go.Figure | None:
    name = "energy_aligned_rmse_meV_per_atom"
    fig = go.Figure()
    for label, record in scored:
        groups = [(g.group, m.value) for g in record.groups for m in g.metrics if m.name == name]
        if groups:
            names = [escape(g or "(none)") for g, _ in groups]
            fig.add_trace(go.Bar(x=names, y=[v for _, v in groups], name=label))
    if not fig.data:
        return None
    fig.update_layout(
        title="Energy RMSE per group (offsets removed)", barmode="group", yaxis_title="E RMSE (aligned) [meV/atom]"
    )
    return fig


def _provenance(tables: Sequence[Table]) -> str:
    """Datasets, potentials, environments and literature targets behind `tables`."""
    records = [r for t in tables for r in t.records]
    labels = {row.spec: row.label for t in tables for row in t.rows}
    datasets = {(d.id, d.sha256): d for r in records if (d := r.dataset) is not None}
    potentials = {r.potential.spec: r.potential for r in records}
    envs = {json.dumps(to_jsonable(r.environment), sort_keys=True): r.environment for r in records}
    columns = [c for t in tables for c in t.columns if c.target is not None]
    refs = sorted({(c.label, c.target, c.unit, c.reference) for c in columns}, key=str)
    parts = ["<footer><h2>Provenance</h2>"]
    if datasets:
        rows = [
            [d.id, d.path, d.sha256, str(d.n_structures), d.citation, d.source, d.license, d.method]
            for d in datasets.values()
        ]
        header = ["id", "path", "sha256", "structures", "citation", "source", "license", "method"]
        parts.append("<h3>Datasets</h3>" + _grid(header, rows))
    rows = [
        [labels.get(p.spec, p.name), p.spec, p.version, p.citation, p.license, p.reference_method]
        for p in potentials.values()
    ]
    header = ["potential", "spec", "version", "citation", "license", "trained on"]
    parts.append("<h3>Potentials</h3>" + _grid(header, rows) if rows else "")
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
    header = ["python", "platform", "mlip-bench", "packages", "OMP_NUM_THREADS", "CPUs"]
    parts.append("<h3>Environment</h3>" + _grid(header, rows) if rows else "")
    if refs:
        items = "".join(
            f"<li>{escape(label)} = {target:g} {escape(unit)}: {escape(ref)}</li>" for label, target, unit, ref in refs
        )
        parts.append(f"<h3>Literature references</h3><ul>{items}</ul>")
    return "".join(parts) + "</footer>"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<div class=wrap><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
