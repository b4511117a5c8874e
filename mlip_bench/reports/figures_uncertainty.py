"""Figures that put a potential's own uncertainty (γ, or an ensemble's σ_E) next to its error, for
every dataset task whose records carry one (kinds ``rmse`` and ``extrapolation``):

- per structure group: the group's energy RMSE against its median uncertainty, so "this phase is
  off by 40 meV/atom, and γ said so" reads at a glance;
- per structure: |ΔE| against the uncertainty, with paper 002's γ_select and γ_break marked;
- the energy parity plot coloured by the uncertainty.

Only potentials that declared an uncertainty (``PotentialRecord.uncertainty``) appear; a grade and a
standard deviation never share an axis (grades are drawn when any potential has one)."""

from __future__ import annotations

from html import escape

import numpy as np
import plotly.graph_objects as go

from mlip_bench.adapters.uncertainty import GAMMA_BREAK, GAMMA_SELECT
from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.reports.figures_curves import Labelled, ok_items
from mlip_bench.reports.figures_style import owned

#: per-structure |ΔE| (meV/atom) by kind: the offset-aligned error where the kind has one
_ERROR = {"rmse": "e_err_aligned_meV_per_atom", "extrapolation": "e_abs_err_meV_per_atom"}
_GROUP_RMSE = {"rmse": "energy_aligned_rmse_meV_per_atom", "extrapolation": "energy_rmse_meV_per_atom"}
#: a group's median uncertainty, (name, factor to the axis unit): the rmse kind's names carry the
#: measure (σ already in meV/atom); the extrapolation kind's is in the declared unit
_GROUP_U = {
    "rmse": {True: ("gamma_median", 1.0), False: ("sigma_median_meV_per_atom", 1.0)},
    "extrapolation": {True: ("uncertainty_median", 1.0), False: ("uncertainty_median", 1000.0)},
}


def _with_uncertainty(scored: Labelled) -> tuple[Labelled, bool]:
    """The records whose potential declared an uncertainty, all grades or all standard deviations
    (grades first), and whether they are grades."""
    declared = [(label, r) for label, r in scored if r.potential.uncertainty is not None]
    grades = [(label, r) for label, r in declared if not r.potential.uncertainty.is_std]  # type: ignore[union-attr]
    return (grades, True) if grades else (declared, False)


def _axis(grade: bool) -> tuple[str, float]:
    """Axis title and the factor from the stored value (γ, or σ_E in eV/atom) to the axis unit."""
    return ("extrapolation grade γ (MaxVol)", 1.0) if grade else ("spread σ_E (meV/atom)", 1000.0)


def _thresholds(fig: go.Figure, grade: bool) -> None:
    """Paper 002's γ_select and γ_break as dotted vertical lines on the log γ axis (plotly takes a
    shape's x on a log axis as the value, an annotation's as its log10)."""
    if grade:
        for value, name in ((GAMMA_SELECT, "γ_select"), (GAMMA_BREAK, "γ_break")):
            line = {"dash": "dot", "color": "#7b8794"}
            fig.add_shape(type="line", x0=value, x1=value, y0=0, y1=1, xref="x", yref="paper", line=line)
            x = float(np.log10(value))
            fig.add_annotation(x=x, y=1, xref="x", yref="paper", text=name, showarrow=False, yanchor="bottom")


def uncertainty_axis(fig: go.Figure, scored: Labelled) -> None:
    """A curve of the potential's own uncertainty (against time, say): a log y axis with γ_select and
    γ_break as dotted horizontal lines when every potential drawn reports a grade."""
    declared = [r.potential.uncertainty for _, r in scored if r.potential.uncertainty is not None]
    if not declared or any(u.is_std for u in declared):
        return
    fig.update_yaxes(type="log")
    for value, name in ((GAMMA_SELECT, "γ_select"), (GAMMA_BREAK, "γ_break")):
        line = {"dash": "dot", "color": "#7b8794"}
        fig.add_shape(type="line", y0=value, y1=value, x0=0, x1=1, yref="y", xref="paper", line=line)
        y = float(np.log10(value))  # annotations on a log axis take log10
        fig.add_annotation(
            y=y, x=1, yref="y", xref="paper", text=name, showarrow=False, xanchor="right", yanchor="bottom"
        )


def _structures(record: ResultRecord) -> list[ItemRecord]:
    error = _ERROR.get(record.task.kind, "")
    return ok_items(record, values=("uncertainty", error)) if error else []


def group_error_vs_uncertainty(scored: Labelled) -> go.Figure | None:
    """One point per structure group and potential: energy RMSE against median uncertainty."""
    chosen, grade = _with_uncertainty(scored)
    title, _ = _axis(grade)
    fig = go.Figure()
    for label, record in chosen:
        (u_name, factor), e_name = _GROUP_U[record.task.kind][grade], _GROUP_RMSE[record.task.kind]
        points = []
        for g in record.groups:
            values = {m.name: m.value for m in g.metrics}
            if np.isfinite(values.get(u_name, np.nan)) and np.isfinite(values.get(e_name, np.nan)):
                points.append((values[u_name] * factor, values[e_name], f"{escape(g.group or '(none)')} ({g.n_items})"))
        if points:
            x, y, text = zip(*points, strict=True)
            trace = go.Scatter(x=x, y=y, text=text, mode="markers", name=label, marker={"size": 9})
            fig.add_trace(owned(trace, label))
    if not fig.data:
        return None
    _thresholds(fig, grade)
    fig.update_layout(
        title="Energy RMSE per structure group against the group's median uncertainty",
        xaxis={
            "title": f"median {title}",
            "type": "log" if grade else "linear",
        },
        yaxis_title="energy RMSE (meV/atom)",
    )
    return fig


def error_vs_uncertainty(scored: Labelled) -> go.Figure | None:
    """One point per structure: |ΔE| against the potential's uncertainty."""
    chosen, grade = _with_uncertainty(scored)
    title, scale = _axis(grade)
    fig = go.Figure()
    for label, record in chosen:
        items = _structures(record)
        if items:
            u = np.array([i.values["uncertainty"] for i in items]) * scale
            e = np.abs([i.values[_ERROR[record.task.kind]] for i in items])
            text = [f"{escape(i.id)} ({escape(i.group)})" if i.group else escape(i.id) for i in items]
            trace = go.Scatter(x=u, y=e, text=text, mode="markers", name=label, marker={"size": 5, "opacity": 0.6})
            fig.add_trace(owned(trace, label))
    if not fig.data:
        return None
    _thresholds(fig, grade)
    fig.update_layout(
        title="Energy error of each structure against the potential's own uncertainty",
        xaxis={"title": title, "type": "log" if grade else "linear"},
        yaxis={"title": "|ΔE| (meV/atom)", "type": "log"},
    )
    return fig


def parity_by_uncertainty(scored: Labelled) -> go.Figure | None:
    """Energy parity (offsets removed), coloured by the uncertainty (log10 γ for a grade); one trace
    per potential, the first shown, the others a legend click away (one colour scale for all)."""
    chosen, grade = _with_uncertainty(scored)
    title, scale = _axis(grade)
    traces: list[go.Scatter] = []
    for label, record in chosen:
        items = ok_items(record, values=("uncertainty", "e_ref_eV_per_atom", "e_err_aligned_meV_per_atom"))
        if not items:
            continue
        ref = np.array([i.values["e_ref_eV_per_atom"] for i in items])
        pred = ref + np.array([i.values["e_err_aligned_meV_per_atom"] for i in items]) / 1000
        u = np.array([i.values["uncertainty"] for i in items]) * scale
        colour = np.log10(np.maximum(u, 1e-3)) if grade else u
        bar = {"title": "log10 γ" if grade else "σ_E (meV/atom)", "thickness": 12, "len": 0.75}
        marker = {"size": 6, "color": colour, "colorscale": "Viridis", "colorbar": bar, "showscale": not traces}
        hover = [f"{escape(i.id)}: {title.split(' (')[0]} = {v:.3g}" for i, v in zip(items, u, strict=True)]
        traces.append(
            go.Scatter(
                x=ref,
                y=pred,
                mode="markers",
                name=label,
                text=hover,
                marker=marker,
                visible="legendonly" if traces else True,
            )
        )
    if not traces:
        return None
    fig = go.Figure(traces)
    fig.update_layout(
        title="Energy parity (offsets removed), coloured by the potential's uncertainty",
        xaxis_title="reference energy (eV/atom)",
        yaxis_title="predicted energy (eV/atom)",
    )
    return fig


def uncertainty_figures(scored: Labelled) -> list[go.Figure | None]:
    """The three figures above, for a dataset task's table (None where no potential has an uncertainty)."""
    return [group_error_vs_uncertainty(scored), error_vs_uncertainty(scored), parity_by_uncertainty(scored)]
