"""Figures of the HTML report for crystal properties: the E(V) curves of ``eos``, the elastic
constants against their targets, and, for any kind, one figure per
curve its items carry (arrays ``"<name>:x"`` / ``"<name>:y"``, axis titles from the kind's ``plots``
declaration), with a literature curve where an item has ``"<name>:x_ref"`` / ``"<name>:y_ref"``.
Every string put into a figure is HTML-escaped: plotly renders names and titles as HTML."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.reports.leaderboard import Column

#: (HTML-escaped potential label, record with status "ok"), in table row order
Labelled = Sequence[tuple[str, ResultRecord]]
#: one colour per potential, in row order, shared by the curve figures
PALETTE = tuple(qualitative.Plotly) + tuple(qualitative.Dark24)
_DASHES = ("solid", "dot", "dashdot", "longdash", "longdashdot")
_ELASTIC = re.compile(r"^C\d\d_GPa$")
#: above this many points a curve is drawn without markers
_MARKER_LIMIT = 60


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def ok_items(record: ResultRecord, *, values: Sequence[str] = (), arrays: Sequence[str] = ()) -> list[ItemRecord]:
    """Scored items of `record` that have all the named values and arrays."""
    return [
        i
        for i in record.items
        if i.status == "ok" and all(k in i.values for k in values) and all(k in i.arrays for k in arrays)
    ]


def declared_plots(kind: str) -> dict[str, tuple[str, str]]:
    """The ``plots`` declaration of task kind `kind` ({} for a kind not registered)."""
    from mlip_bench.engine.kinds import KINDS  # the registry imports every kind: only when a report is drawn

    task_kind = KINDS.get(kind)
    return dict(task_kind.plots) if task_kind is not None else {}


def curve_names(scored: Labelled) -> list[str]:
    """Names of the curves (``name:x`` with ``name:y``) in the scored items, in first-seen order."""
    names: dict[str, None] = {}
    for _, record in scored:
        for item in ok_items(record):
            for key in item.arrays:
                name, _, axis = key.rpartition(":")
                if axis == "x" and name and f"{name}:y" in item.arrays:
                    names[name] = None
    return list(names)


def curve_figures(scored: Labelled, kind: str) -> list[go.Figure]:
    """One figure per curve present: declared curves first (in declaration order), then any other
    ``name:x``/``name:y`` pair, titled by its name."""
    plots = declared_plots(kind)
    present = curve_names(scored)
    names = [n for n in plots if n in present] + [n for n in present if n not in plots]
    return [curve_figure(scored, n, plots.get(n, (f"{n} x", f"{n} y"))) for n in names]


def curve_figure(scored: Labelled, name: str, axes: tuple[str, str]) -> go.Figure:
    """Curve `name`: one trace per (potential, item); items whose curve is a single point (one
    composition each, say) are joined into one trace per potential, sorted by x."""
    fig = go.Figure()
    keys = (f"{name}:x", f"{name}:y")
    for p, (label, record) in enumerate(scored):
        items = ok_items(record, arrays=keys)
        if len(items) > 1 and all(len(i.arrays[keys[0]]) == 1 for i in items):
            x, y, ids = _joined(items, keys)
            fig.add_trace(_line(x, y, label, color(p), text=ids))
            continue
        for n, item in enumerate(items):
            trace_name = label if len(items) == 1 else f"{label} ({escape(item.id)})"
            dash = _DASHES[n % len(_DASHES)]
            fig.add_trace(_line(item.arrays[keys[0]], item.arrays[keys[1]], trace_name, color(p), dash=dash))
    for trace in _reference_traces(scored, name):
        fig.add_trace(trace)
    fig.update_layout(title=escape(name.replace("_", " ")), xaxis_title=escape(axes[0]), yaxis_title=escape(axes[1]))
    return fig


def _joined(items: list[ItemRecord], keys: tuple[str, str]) -> tuple[list[float], list[float], list[str]]:
    """Single-point curves of several items as one curve sorted by x, with the item ids."""
    points = sorted(
        ((i.arrays[keys[0]][0], i.arrays[keys[1]][0], escape(i.id)) for i in items),
        key=lambda p: (not np.isfinite(p[0]), p[0]),
    )
    return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]


def _line(
    x: Sequence[float],
    y: Sequence[float],
    name: str,
    line_color: str,
    *,
    dash: str = "solid",
    text: list[str] | None = None,
) -> go.Scatter:
    mode = "lines" if len(x) > _MARKER_LIMIT else "lines+markers"
    return go.Scatter(x=list(x), y=list(y), mode=mode, name=name, text=text, line={"color": line_color, "dash": dash})


def _reference_traces(scored: Labelled, name: str) -> list[go.Scatter]:
    """Dashed black literature curves (each distinct one once, whichever potential's items carry it)."""
    keys = (f"{name}:x_ref", f"{name}:y_ref")
    curves: dict[tuple[int, bytes], tuple[str, list[float], list[float]]] = {}
    for _, record in scored:
        for item in ok_items(record, arrays=keys):
            x, y = list(item.arrays[keys[0]]), list(item.arrays[keys[1]])
            key = (len(x), np.asarray(x + y, float).tobytes())  # NaN-safe identity of the curve
            curves.setdefault(key, (escape(item.id), x, y))
    if len(curves) > 1 and all(len(x) == 1 for _, x, _ in curves.values()):
        points = sorted(((x[0], y[0], i) for i, x, y in curves.values()), key=lambda p: p[0])
        xs, ys, ids = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
        return [_line(xs, ys, "reference", "black", dash="dash", text=ids)]
    return [
        _line(x, y, "reference" if len(curves) == 1 else f"reference ({item_id})", "black", dash="dash")
        for item_id, x, y in curves.values()
    ]


def eos_curves(scored: Labelled) -> go.Figure:
    """E(V) of every potential and crystal, relative to each curve's own E0 (meV/atom)."""
    fig = go.Figure()
    for label, record in scored:
        items = ok_items(record, arrays=("volumes_A3_per_atom", "energies_eV_per_atom"))
        for item in items:
            energies = np.asarray(item.arrays["energies_eV_per_atom"], float)
            zero = item.values.get("e0_eV_per_atom", float(np.nanmin(energies)) if energies.size else 0.0)
            name = label if len(items) == 1 else f"{label} ({escape(item.id)})"
            fig.add_trace(
                go.Scatter(
                    x=item.arrays["volumes_A3_per_atom"], y=(energies - zero) * 1000, mode="lines+markers", name=name
                )
            )
    fig.update_layout(
        title="Equation of state (relative to each potential's E0)",
        xaxis_title="V [Å³/atom]",
        yaxis_title="E − E0 [meV/atom]",
    )
    return fig


def elastic_bars(scored: Labelled, columns: Sequence[Column]) -> go.Figure | None:
    """Grouped bars of the C_ij columns, the targets as a black line across each group."""
    chosen = [c for c in columns if _ELASTIC.match(c.name)]
    if not chosen:
        return None
    fig = go.Figure()
    positions = list(range(len(chosen)))
    for label, record in scored:
        values = [m.value if (m := record.metric(c.name)) is not None else np.nan for c in chosen]
        fig.add_trace(go.Bar(x=positions, y=values, name=label))
    x: list[float | None] = []
    y: list[float | None] = []
    tips: list[str | None] = []
    for i, c in enumerate(chosen):
        if c.target is not None:
            x += [i - 0.45, i + 0.45, None]
            y += [c.target, c.target, None]
            tips += [escape(c.reference)] * 2 + [None]
    if x:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                text=tips,
                mode="lines",
                name="target",
                line={"color": "#1f2933", "width": 3},
                hovertemplate="%{y} GPa<br>%{text}<extra>target</extra>",
            )
        )
    fig.update_layout(
        title="Elastic constants vs target",
        barmode="group",
        yaxis_title="GPa",
        xaxis={"tickvals": positions, "ticktext": [escape(c.label) for c in chosen]},
    )
    return fig
