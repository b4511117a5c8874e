"""Melt-curve marks on the report's curve figures (``tm_vs_p`` of the melt kind): runs that went
solid-solid (crosses, never a melting point), bounds where the trial grid did not bracket Tm
(triangles), and the cited Tm of each scored pressure (black stars). Strings are HTML-escaped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

import plotly.graph_objects as go

from mlip_bench.engine.records import ResultRecord
from mlip_bench.reports.figures_curves import ok_items
from mlip_bench.reports.figures_style import REFERENCE, owned
from mlip_bench.reports.leaderboard import Column

_TM_TARGET = re.compile(r"^tm_(\d+(?:p\d+)?)GPa_K$")


def mark_melt_runs(fig: go.Figure, record: ResultRecord, name: str, label: str) -> None:
    """Crosses at the (x, y) of runs that went solid-solid (``<name>:x_solid_solid``/``y_solid_solid``:
    the melt kind's fcc -> bcc runs at their pressure and trial temperature): where the crystal left
    its structure, never a melting point."""
    mark_bounds(fig, record, name, label)
    keys = (f"{name}:x_solid_solid", f"{name}:y_solid_solid")
    points = [(x, y) for i in ok_items(record, arrays=keys) for x, y in zip(*(i.arrays[k] for k in keys), strict=False)]
    if not points:
        return
    marks = go.Scatter(
        x=[p[0] for p in points], y=[p[1] for p in points], mode="markers", name=f"{label}: solid-solid run",
        marker={"symbol": "x-thin-open", "size": 11, "line": {"width": 2}},
        hovertemplate=f"{label}<br>solid-solid transition (not melting)<br>%{{x:.4g}}, %{{y:.4g}}<extra></extra>",
    )  # fmt: skip
    fig.add_trace(owned(marks, label))


def mark_bounds(fig: go.Figure, record: ResultRecord, name: str, label: str) -> None:
    """Triangles at the bounds where the grid did not bracket (``<name>:x_bound``/``y_bound``,
    ``bound_sign`` +1: the value lies above, -1: below): the melt kind's "every trial froze/melted";
    one legend entry per potential and direction, however many pressures."""
    keys = (f"{name}:x_bound", f"{name}:y_bound", f"{name}:bound_sign")
    bounds: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for item in ok_items(record, arrays=keys):
        x, y, sign = (item.arrays[k][0] for k in keys)
        bounds[sign > 0].append((x, y))
    for above, points in bounds.items():
        if not points:
            continue
        where = "above" if above else "below"
        marks = go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="markers",
            name=f"{label}: not bracketed, Tm {where}",
            marker={"symbol": "triangle-up-open" if above else "triangle-down-open", "size": 12},
            hovertemplate=f"{label}<br>not bracketed: Tm {where} %{{y:.4g}} at %{{x:.4g}}<extra></extra>",
        )  # fmt: skip
        fig.add_trace(owned(marks, label))


def tm_targets(fig: go.Figure, columns: Sequence[Column]) -> None:
    """The cited Tm of each ``tm_<p>GPa_K`` column with a target (experiment at 0 GPa) as a black
    star at its pressure: the point each potential's melt curve should pass through."""
    points = {}
    for column in columns:
        match = _TM_TARGET.match(column.name)
        if column.target is not None and match is not None:
            tip = escape(f"{column.label}: {column.reference}")
            points[float(match.group(1).replace("p", "."))] = (column.target, tip)
    if points:
        xs = sorted(points)
        fig.add_trace(
            go.Scatter(
                x=xs, y=[points[x][0] for x in xs], text=[points[x][1] for x in xs], mode="markers",
                name="cited Tm (scored target)", marker={"symbol": "star", "size": 13, "color": REFERENCE},
                hovertemplate="%{text}<br>%{x:.4g} GPa, %{y:.5g} K<extra></extra>",
            )
        )  # fmt: skip
