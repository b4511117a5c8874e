"""Figures of the HTML report for crystal properties: the E(V) curves of ``eos`` and the elastic
constants against their targets. Strings are HTML-escaped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go

from mlip_bench.reports.figures_curves import DASHES, Labelled, curve_line, ok_items
from mlip_bench.reports.figures_style import REFERENCE, owned
from mlip_bench.reports.leaderboard import Column

_ELASTIC = re.compile(r"^C\d\d_GPa$")


def eos_curves(scored: Labelled) -> go.Figure:
    """E(V) of every potential and crystal, relative to each curve's own E0 (meV/atom)."""
    fig = go.Figure()
    for label, record in scored:
        items = ok_items(record, arrays=("volumes_A3_per_atom", "energies_eV_per_atom"))
        for n, item in enumerate(items):
            energies = np.asarray(item.arrays["energies_eV_per_atom"], float)
            zero = item.values.get("e0_eV_per_atom", float(np.nanmin(energies)) if energies.size else 0.0)
            name = label if len(items) == 1 else f"{label} ({escape(item.id)})"
            relative = ((energies - zero) * 1000).tolist()
            curve = curve_line(item.arrays["volumes_A3_per_atom"], relative, name, dash=DASHES[n % 5])
            fig.add_trace(owned(curve, label))
    fig.update_layout(
        title="Equation of state: energy against volume, each potential relative to its own minimum",
        xaxis_title="volume (Å³/atom)",
        yaxis_title="energy above the minimum (meV/atom)",
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
        fig.add_trace(owned(go.Bar(x=positions, y=values, name=label), label))
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
                name="cited value",
                line={"color": REFERENCE, "width": 3},
                hovertemplate="%{y} GPa<br>%{text}<extra>cited value</extra>",
            )
        )
    fig.update_layout(
        title="Elastic constants against the cited values",
        barmode="group",
        yaxis_title="elastic constant (GPa)",
        xaxis={"title": "component", "tickvals": positions, "ticktext": [escape(c.label) for c in chosen]},
    )
    return fig
