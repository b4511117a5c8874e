"""The accuracy-against-cost figure of the summary (paper 002, Fig. 5): one point per potential at
(calculator time per atom and call, headline error of a task), the Pareto front dotted; a menu
switches between the tasks whose headline is an error (lower or closest to a cited value)."""

from __future__ import annotations

from html import escape

import plotly.graph_objects as go

from mlip_bench.reports.figures_style import REFERENCE, owned
from mlip_bench.reports.summary import ParetoView, Summary

COST_TITLE = "calculator time per atom and call (µs, log scale)"


def pareto_figure(summary: Summary) -> go.Figure | None:
    """The figure, or None when no potential has both a cost and an error."""
    if not summary.views:
        return None
    fig = go.Figure()
    owners: list[int] = []
    for v, view in enumerate(summary.views):
        for trace in _traces(view):
            trace.visible = v == 0
            fig.add_trace(trace)
            owners.append(v)
    first = summary.views[0]
    fig.update_layout(
        title=_title(first),
        xaxis={"title": COST_TITLE, "type": "log", "dtick": "D2"},
        yaxis={"title": escape(first.error_title), "type": _y_type(first)},
    )
    if len(summary.views) > 1:
        buttons = [
            {
                "label": escape(f"{view.headline.task_id}: {view.headline.column.label}"),
                "method": "update",
                "args": [
                    {"visible": [o == v for o in owners]},
                    {
                        "title.text": _title(view),
                        "yaxis.title.text": escape(view.error_title),
                        "yaxis.type": _y_type(view),
                    },
                ],
            }
            for v, view in enumerate(summary.views)
        ]
        fig.update_layout(
            updatemenus=[{"buttons": buttons, "active": 0, "x": 1.0, "xanchor": "right", "y": 1.0, "yanchor": "bottom"}]
        )
    return fig


def _title(view: ParetoView) -> str:
    return escape(f"Accuracy against cost: {view.headline.task_id}")


def _y_type(view: ParetoView) -> str:
    """Log where every error is positive and they span more than a factor 10 (paper 002's axes)."""
    errors = [p.error for p in view.points]
    return "log" if min(errors) > 0 and max(errors) > 10 * min(errors) else "linear"


def _traces(view: ParetoView) -> list[go.Scatter]:
    traces = []
    for point in view.points:
        label = escape(point.label)
        part = f" (scored on {escape(point.partial)} structures)" if point.partial else ""
        tip = f"{label}<br>%{{x:.3g}} µs per atom and call<br>{escape(view.headline.column.label)}: %{{y:.4g}}{part}"
        trace = go.Scatter(
            x=[point.cost_us_per_atom],
            y=[point.error],
            mode="markers",
            name=label,
            marker={"size": 12, "line": {"width": 1, "color": "white"}},
            hovertemplate=f"{tip}<extra></extra>",
        )
        traces.append(owned(trace, label))
    front = sorted((p for p in view.points if p.on_front), key=lambda p: p.cost_us_per_atom)
    if len(front) > 1:
        traces.append(
            go.Scatter(
                x=[p.cost_us_per_atom for p in front],
                y=[p.error for p in front],
                mode="lines",
                name="Pareto front",
                line={"color": REFERENCE, "dash": "dot", "width": 1.5},
                hoverinfo="skip",
            )
        )
    return traces
