"""Alloy figures of the HTML report, drawn from the group breakdowns of the kinds of paper 001
(Liu & Mo, Acta Mater. 268 (2024) 119742): energy RMSE per phase as a lattice x composition map
(Fig. 1c, d), ranking-error rates and mismatched-pair ΔE (Fig. 2b), lowest-energy configurations,
ground phases (Fig. 2c), the convex hull (Fig. 5a) and the bcc/fcc transition (Fig. 5b, c).

Figures with one panel per potential use a dropdown (one potential shown at a time), so that a
leaderboard of ten potentials stays readable. Every string put into a figure is HTML-escaped."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from ase.formula import Formula

from mlip_bench.engine.records import GroupMetrics, ResultRecord
from mlip_bench.reports.figures_curves import Labelled
from mlip_bench.reports.figures_style import REFERENCE, owned


def _value(group: GroupMetrics, name: str) -> float:
    return next((m.value for m in group.metrics if m.name == name), math.nan)


def _groups(record: ResultRecord, metrics: Sequence[str], labels: Sequence[str] = ()) -> list[GroupMetrics]:
    """Groups of `record` that carry all the named metrics and labels."""
    return [
        g
        for g in record.groups
        if all(any(m.name == n for m in g.metrics) for n in metrics) and all(k in g.labels for k in labels)
    ]


def _union(names: Sequence[Sequence[str]]) -> list[str]:
    """Names in first-seen order over several lists."""
    return list(dict.fromkeys(n for row in names for n in row))


def _by_composition(formulas: Sequence[str]) -> list[str]:
    """Distinct reduced formulas ordered by the fractions of the elements (alphabetical), so a
    binary A-B runs from pure B to pure A; names that are no formula go last, sorted."""
    counts: dict[str, dict[str, int]] = {}
    for f in dict.fromkeys(formulas):
        try:
            counts[f] = Formula(f).count()
        except ValueError:
            continue
    elements = sorted({e for c in counts.values() for e in c})

    def key(f: str) -> tuple[int, tuple[float, ...], str]:
        if f not in counts:
            return (1, (), f)
        total = sum(counts[f].values()) or 1
        return (0, tuple(counts[f].get(e, 0) / total for e in elements), f)

    return sorted(dict.fromkeys(formulas), key=key)


def _dropdown(fig: go.Figure, owners: Sequence[str], title: str) -> go.Figure:
    """Show one potential's traces at a time; `owners[i]` is the (escaped) label of trace i."""
    labels = list(dict.fromkeys(owners))
    buttons = [
        {
            "label": label,
            "method": "update",
            "args": [{"visible": [o == label for o in owners]}, {"title.text": f"{title}: {label}"}],
        }
        for label in labels
    ]
    for trace, owner in zip(fig.data, owners, strict=True):
        trace.visible = owner == labels[0]
    fig.update_layout(
        title=f"{title}: {labels[0]}",
        updatemenus=[{"buttons": buttons, "active": 0, "x": 1.0, "xanchor": "right", "y": 1.02, "yanchor": "bottom"}],
    )
    return fig


def phase_rmse_figures(scored: Labelled) -> list[go.Figure]:
    """Paper 001 Fig. 1c, d: energy RMSE of each phase on a lattice x composition grid."""
    metric = "energy_rmse_meV_per_atom"
    per = [(label, _groups(r, (metric,), ("lattice", "composition"))) for label, r in scored]
    per = [(label, groups) for label, groups in per if groups]
    if not per:
        return []
    lattices = sorted({g.labels["lattice"] for _, gs in per for g in gs})
    comps = _by_composition([g.labels["composition"] for _, gs in per for g in gs])
    fig = go.Figure()
    for label, groups in per:
        z = np.full((len(comps), len(lattices)), np.nan)
        text = [[""] * len(lattices) for _ in comps]
        for g in groups:
            i, j = comps.index(g.labels["composition"]), lattices.index(g.labels["lattice"])
            z[i, j], text[i][j] = _value(g, metric), escape(g.group)
        top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
        fig.add_trace(
            go.Heatmap(
                x=[escape(x) for x in lattices],
                y=[escape(c) for c in comps],
                z=z.tolist(),
                text=text,
                zmin=0.0,
                zmax=top,  # per potential: one potential's large errors must not wash out another's map
                colorscale="Viridis",
                colorbar={"title": {"text": "energy RMSE (meV/atom)", "side": "right"}},
                name=label,
                hovertemplate="%{text}<br>%{y} in %{x}<br>RMSE %{z:.2f} meV/atom<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis={"title": "lattice", "type": "category"}, yaxis={"title": "composition", "type": "category"}
    )
    return [_dropdown(fig, [label for label, _ in per], "Energy RMSE per phase (lattice × composition)")]


def _phase_bars(scored: Labelled, metric: str, hover: Callable[[GroupMetrics], str] | None = None) -> go.Figure:
    """Grouped bars of a group metric per phase, one trace per potential, phases in first-seen order."""
    per = [(label, {g.group: g for g in _groups(r, (metric,))}) for label, r in scored]
    phases = _union([list(groups) for _, groups in per])
    fig = go.Figure()
    for label, groups in per:
        if groups:
            fig.add_trace(
                go.Bar(
                    x=[escape(p) for p in phases],
                    y=[_value(groups[p], metric) if p in groups else None for p in phases],
                    text=[hover(groups[p]) if hover and p in groups else "" for p in phases],
                    textposition="none",
                    name=label,
                    meta=label,
                )
            )
    fig.update_layout(barmode="group", xaxis={"title": "phase", "type": "category", "tickangle": -60})
    return fig


def ranking_figures(scored: Labelled) -> list[go.Figure]:
    """Paper 001 Fig. 2: ranking-error rate per phase, and the |ΔE_ref| of all mismatched pairs."""
    bars = _phase_bars(scored, "ranking_error_rate")
    bars.update_layout(
        title="Rate of ranking errors per phase", yaxis_title="share of pairs ordered unlike the reference"
    )
    box = go.Figure()
    for label, record in scored:
        groups = _groups(record, (), ())
        values = [v for g in groups for v in g.arrays.get("mismatched_dE_ref_meV_per_atom", [])]
        if values:
            box.add_trace(go.Box(y=values, name=label, boxpoints="outliers", meta=label, showlegend=False))
    box.update_layout(
        title="Reference energy gap of the mismatched pairs (all phases)",
        yaxis_title="reference energy difference |ΔE_ref| (meV/atom)",
        xaxis={"tickangle": -30},
    )
    return [f for f in (bars, box) if f.data]


def lec_figures(scored: Labelled) -> list[go.Figure]:
    """Per phase: how far (in reference energy) the predicted LEC lies above the true one."""

    def hover(g: GroupMetrics) -> str:
        return (
            f"reference LEC {escape(g.labels.get('lec_ref', '?'))}, predicted {escape(g.labels.get('lec_pred', '?'))}"
        )

    fig = _phase_bars(scored, "lec_dE_ref_meV_per_atom", hover)
    fig.update_layout(
        title="Lowest-energy configuration per phase: reference energy of the predicted one above the true one",
        yaxis_title="energy above the true LEC (meV/atom)",
    )
    return [fig] if fig.data else []


def ground_phase_figures(scored: Labelled) -> list[go.Figure]:
    """Paper 001 Fig. 2c: is the ground phase of each composition right? (cell text: predicted lattice)"""
    per = [(label, {g.group: g for g in _groups(r, ("gp_correct",))}) for label, r in scored]
    per = [(label, groups) for label, groups in per if groups]
    if not per:
        return []
    comps = _by_composition([c for _, groups in per for c in groups])
    z, text, refs = [], [], []
    for c in comps:
        row = [groups.get(c) for _, groups in per]
        z.append([_value(g, "gp_correct") if g else None for g in row])
        text.append([escape(g.labels.get("ground_phase_pred", "?")) if g else "" for g in row])
        refs.append([escape(g.labels.get("ground_phase_ref", "?")) if g else "" for g in row])
    fig = go.Figure(
        go.Heatmap(
            x=[label for label, _ in per],
            y=[escape(c) for c in comps],
            z=z,
            text=text,
            customdata=refs,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            colorscale=[[0.0, "#f8b4b4"], [1.0, "#a3e4a9"]],
            showscale=False,
            hovertemplate="%{y}, %{x}<br>reference: %{customdata}<br>predicted: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Ground phase per composition (green right, red wrong; text: predicted)",
        xaxis={"type": "category", "title": "potential", "tickangle": -30},
        yaxis={"title": "composition", "type": "category"},
    )
    return [fig]


def _hull_line(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The lower hull through the stable points, closed by the elements at x = 0 and 1 (E_f = 0)."""
    line = {0.0: 0.0, 1.0: 0.0} | dict(points)
    xs = sorted(line)
    return xs, [line[x] for x in xs]


def convex_hull_figures(scored: Labelled) -> list[go.Figure]:
    """Paper 001 Fig. 5a: lowest formation energy per composition, reference and predicted, with
    both hulls; one potential at a time."""
    names = ("x", "ef_ref_meV_per_atom", "ef_pred_meV_per_atom")
    fig, owners = go.Figure(), []
    for label, record in scored:
        groups = sorted(_groups(record, names), key=lambda g: _value(g, "x"))
        if not groups:
            continue
        x = [_value(g, "x") for g in groups]
        ids = [escape(g.group) for g in groups]
        for tag, name, style in (
            ("ref", "reference", {"color": REFERENCE, "symbol": "circle-open", "size": 9}),
            ("pred", label, {"symbol": "x", "size": 8}),
        ):
            y = [_value(g, f"ef_{tag}_meV_per_atom") for g in groups]
            owner = label if tag == "pred" else None
            fig.add_trace(go.Scatter(x=x, y=y, text=ids, mode="markers", name=name, marker=style, meta=owner))
            stable = [
                (xi, yi) for g, xi, yi in zip(groups, x, y, strict=True) if g.labels.get(f"stable_{tag}") == "True"
            ]
            hx, hy = _hull_line(stable)
            line = {"color": style.get("color"), "dash": "dash" if tag == "ref" else "solid"}
            hull = go.Scatter(x=hx, y=hy, mode="lines", name=f"{name} hull", line=line, hoverinfo="skip", meta=owner)
            fig.add_trace(hull)
        owners += [label] * 4
    if not owners:
        return []
    fig.update_layout(
        xaxis_title="composition x (fraction of the second element)", yaxis_title="formation energy E_f (meV/atom)"
    )
    return [_dropdown(fig, owners, "Convex hull")]


def phase_transition_figures(scored: Labelled) -> list[go.Figure]:
    """Paper 001 Fig. 5b, c: E'_f(A) - E'_f(B) against composition; the transition is where it
    crosses zero. Reference dashed black (from the first potential's groups), potentials solid."""
    keys = ("x_percent", *(f"ef_{ab}_{tag}_meV_per_atom" for ab in "ab" for tag in ("ref", "pred")))
    fig = go.Figure()
    per = [(label, sorted(_groups(r, keys), key=lambda g: _value(g, "x_percent"))) for label, r in scored]
    per = [row for row in per if row[1]]
    if not per:
        return []

    def diff(groups: list[GroupMetrics], tag: str) -> list[float]:
        return [_value(g, f"ef_a_{tag}_meV_per_atom") - _value(g, f"ef_b_{tag}_meV_per_atom") for g in groups]

    first = per[0][1]
    x_ref = [_value(g, "x_percent") for g in first]
    fig.add_trace(
        go.Scatter(
            x=x_ref,
            y=diff(first, "ref"),
            mode="lines+markers",
            name="reference",
            line={"color": REFERENCE, "dash": "dash"},
        )
    )
    for label, groups in per:
        x = [_value(g, "x_percent") for g in groups]
        fig.add_trace(owned(go.Scatter(x=x, y=diff(groups, "pred"), mode="lines+markers", name=label), label))
    fig.add_hline(y=0.0, line={"color": "#7b8794", "width": 1})
    fig.update_layout(
        title="Lattice transition: E'_f(A) − E'_f(B) against composition (A below B where negative)",
        xaxis_title="composition x (% of the second element)",
        yaxis_title="formation energy difference E'_f(A) − E'_f(B) (meV/atom)",
    )
    return [fig]


#: figure builders of the alloy kinds, by kind name
ALLOY_FIGURES: dict[str, Callable[[Labelled], list[go.Figure]]] = {
    "phase_rmse": phase_rmse_figures,
    "ranking": ranking_figures,
    "lec": lec_figures,
    "ground_phase": ground_phase_figures,
    "convex_hull": convex_hull_figures,
    "phase_transition": phase_transition_figures,
}
