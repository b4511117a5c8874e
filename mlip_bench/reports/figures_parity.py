"""Figures of the HTML report for dataset errors (kind ``rmse``): energy and force parity plots and
the energy RMSE per structure group. Traces are tagged with their potential
(:func:`.figures_style.owned`) for the page's colours. Every string put into a figure is HTML-escaped."""

from __future__ import annotations

from html import escape

import numpy as np
import plotly.graph_objects as go

from mlip_bench.reports.figures_curves import Labelled, ok_items
from mlip_bench.reports.figures_style import owned

MAX_PARITY_POINTS = 4000
_SEED = 0
_E_ALIGNED = "Predicted against reference energy per atom (per-element offsets removed)"
_E_RAW = "Predicted against reference energy per atom (raw, offsets kept)"


def _points(
    x: np.ndarray, y: np.ndarray, label: str, *, ids: list[str] | None = None, visible: bool = True
) -> go.Scatter:
    trace = go.Scatter(
        x=x, y=y, mode="markers", name=label, text=ids, visible=visible, marker={"size": 5, "opacity": 0.6}
    )
    return owned(trace, label)


def _diagonal(traces: list[go.Scatter], visible: bool = True) -> go.Scatter | None:
    """Dashed y = x over the range of `traces`; None when they hold no finite value."""
    values = np.concatenate([np.concatenate([np.asarray(t.x, float), np.asarray(t.y, float)]) for t in traces])
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = float(values.min()), float(values.max())
    return go.Scatter(
        x=[lo, hi],
        y=[lo, hi],
        mode="lines",
        name="y = x",
        visible=visible,
        line={"dash": "dash", "color": "#7b8794"},
        hoverinfo="skip",
    )


def energy_parity(scored: Labelled) -> go.Figure | None:
    """Aligned energies (per-element offsets removed) shown, raw energies one click away (buttons)."""
    aligned: list[go.Scatter] = []
    raw: list[go.Scatter] = []
    for label, record in scored:
        items = ok_items(record, values=("e_ref_eV_per_atom", "e_pred_eV_per_atom"))
        if not items:
            continue
        ref = np.array([i.values["e_ref_eV_per_atom"] for i in items])
        pred = np.array([i.values["e_pred_eV_per_atom"] for i in items])
        error = np.array([i.values.get("e_err_aligned_meV_per_atom", np.nan) for i in items]) / 1000
        ids = [escape(i.id) for i in items]
        aligned.append(_points(ref, ref + error, label, ids=ids))
        raw.append(_points(ref, pred, label, ids=ids, visible=False))
    if not aligned:
        return None
    fig = go.Figure()
    groups = []
    for traces, visible in ((aligned, True), (raw, False)):
        line = _diagonal(traces, visible)
        members = [*traces, *([line] if line is not None else [])]
        groups.append(len(members))
        for trace in members:
            fig.add_trace(trace)
    mask = [True] * groups[0] + [False] * groups[1]
    buttons = [
        {"label": "offsets removed", "method": "update", "args": [{"visible": mask}, {"title.text": _E_ALIGNED}]},
        {
            "label": "raw energies",
            "method": "update",
            "args": [{"visible": [not v for v in mask]}, {"title.text": _E_RAW}],
        },
    ]
    fig.update_layout(
        title=_E_ALIGNED,
        xaxis_title="reference energy (eV/atom)",
        yaxis_title="predicted energy (eV/atom)",
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "active": 0,
                "x": 1.0,
                "xanchor": "right",
                "y": 1.0,
                "yanchor": "bottom",
                "pad": {"b": 4},
            }
        ],
    )
    return fig


def force_parity(scored: Labelled) -> go.Figure | None:
    traces: list[go.Scatter] = []
    for label, record in scored:
        items = ok_items(record, arrays=("forces_ref_eV_per_A", "forces_pred_eV_per_A"))
        if not items:
            continue
        ref = np.concatenate([np.asarray(i.arrays["forces_ref_eV_per_A"], float) for i in items])
        pred = np.concatenate([np.asarray(i.arrays["forces_pred_eV_per_A"], float) for i in items])
        if ref.size > MAX_PARITY_POINTS:
            keep = np.sort(np.random.default_rng(_SEED).choice(ref.size, MAX_PARITY_POINTS, replace=False))
            ref, pred = ref[keep], pred[keep]
        traces.append(_points(ref, pred, label))
    if not traces:
        return None
    fig = go.Figure(traces)
    line = _diagonal(traces)
    if line is not None:
        fig.add_trace(line)
    fig.update_layout(
        title=f"Predicted against reference force components (at most {MAX_PARITY_POINTS} per potential)",
        xaxis_title="reference force component (eV/Å)",
        yaxis_title="predicted force component (eV/Å)",
    )
    return fig


def group_bars(scored: Labelled) -> go.Figure | None:
    name = "energy_aligned_rmse_meV_per_atom"
    fig = go.Figure()
    for label, record in scored:
        groups = [(g.group, m.value) for g in record.groups for m in g.metrics if m.name == name]
        if groups:
            names = [escape(g or "(none)") for g, _ in groups]
            fig.add_trace(owned(go.Bar(x=names, y=[v for _, v in groups], name=label), label))
    if not fig.data:
        return None
    fig.update_layout(
        title="Energy RMSE per structure group (per-element offsets removed)",
        barmode="group",
        xaxis_title="structure group",
        yaxis_title="energy RMSE (meV/atom)",
    )
    return fig
