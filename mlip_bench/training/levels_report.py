"""How the levels view is shown: the plotly figure (held-out and training energy RMSE against cost,
both fronts), ``pareto.json`` and a plain-text table, from :class:`~mlip_bench.training.levels.LevelPoint`s."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlip_bench.engine.integrity import write_atomic
from mlip_bench.engine.records import to_jsonable
from mlip_bench.metrics.pareto import pareto_front
from mlip_bench.training.levels import LevelPoint, LevelsSettings


def figure(points: Sequence[LevelPoint], *, title: str = "") -> Any:
    """A plotly figure: held-out energy RMSE (meV/atom) against cost (µs/atom/call), both log axes,
    each point labelled by its level, the Pareto front dashed; the training RMSE (what paper 002's
    Fig. 5 plots) as open markers with its own front dotted."""
    import plotly.graph_objects as go

    fig = go.Figure()
    hover = [
        f"level {p.level}<br>{p.n_parameters} coefficients<br>test E {p.test_energy_rmse_meV_per_atom:.3g} meV/atom"
        f"<br>median |E error| {p.test_energy_median_abs_meV_per_atom:.3g} meV/atom"
        f"<br>test F {p.test_force_rmse_eV_per_A:.3g} eV/Å<br>train E {p.train_energy_rmse_meV_per_atom:.3g} meV/atom"
        f"<br>{p.cost_us_per_atom_call:.3g} µs/atom/call<br>fit {p.fit_seconds:.0f} s"
        for p in points
    ]
    fig.add_scatter(
        x=[p.cost_us_per_atom_call for p in points], y=[p.test_energy_rmse_meV_per_atom for p in points],
        mode="markers+text", text=[f"L{p.level}" for p in points], textposition="top center",
        name="held-out energy RMSE", hovertext=hover, hoverinfo="text", marker={"size": 10},
    )  # fmt: skip
    front = sorted((p for p in points if p.on_front), key=lambda p: p.cost_us_per_atom_call)
    fig.add_scatter(
        x=[p.cost_us_per_atom_call for p in front], y=[p.test_energy_rmse_meV_per_atom for p in front],
        mode="lines", line={"dash": "dash"}, name="Pareto front (held-out)", hoverinfo="skip",
    )  # fmt: skip
    train = [(p.cost_us_per_atom_call, p.train_energy_rmse_meV_per_atom) for p in points]
    fig.add_scatter(
        x=[c for c, _ in train], y=[e for _, e in train], mode="markers", name="training RMSE (paper 002's axis)",
        text=[f"L{p.level}" for p in points], marker={"size": 8, "symbol": "circle-open"}, hoverinfo="text+y",
    )  # fmt: skip
    train_front = sorted((train[i] for i in _train_front(points)), key=lambda point: point[0])
    fig.add_scatter(
        x=[c for c, _ in train_front], y=[e for _, e in train_front], mode="lines", line={"dash": "dot"},
        name="Pareto front (training)", hoverinfo="skip",
    )  # fmt: skip
    fig.update_xaxes(title_text="cost (µs per atom per energy+forces call, one core)", type="log")
    fig.update_yaxes(title_text="energy RMSE (meV/atom)", type="log")
    fig.update_layout(title=title or "MTP levels: error against cost", template="plotly_white")
    return fig


def _train_front(points: Sequence[LevelPoint]) -> set[int]:
    return pareto_front([(p.cost_us_per_atom_call, p.train_energy_rmse_meV_per_atom) for p in points])


def write_pareto_figure(points: Sequence[LevelPoint], path: Path, *, title: str = "") -> Path:
    """The figure as a self-contained HTML file (plotly.js inlined, opens without a network);
    returns `path`."""
    html = figure(points, title=title).to_html(include_plotlyjs=True, full_html=True)
    write_atomic(Path(path), html.encode())
    return Path(path)


def write_pareto_json(
    points: Sequence[LevelPoint], path: Path, *, settings: LevelsSettings, provenance: dict[str, Any]
) -> Path:
    """``pareto.json``: the points, the settings and `provenance` (oracle, set checksum, motep
    version, date, ...); returns `path`."""
    document = {
        "format": "mlip-bench MTP levels pareto v1",
        "provenance": provenance,
        "settings": to_jsonable(settings),
        "points": to_jsonable(list(points)),
        "front_levels": [p.level for p in points if p.on_front],
        "train_front_levels": [points[i].level for i in sorted(_train_front(points))],
    }
    write_atomic(Path(path), json.dumps(document, indent=1).encode())
    return Path(path)


def table(points: Sequence[LevelPoint]) -> str:
    """A plain-text table of the points."""
    lines = [
        f"{'level':>5} {'params':>7} {'test E meV/at':>14} {'med|E| meV/at':>14} {'test F eV/A':>12} "
        f"{'train E meV/at':>15} {'cost us/at':>11} {'fit s':>7} front"
    ]
    for p in points:
        lines.append(
            f"{p.level:>5} {p.n_parameters:>7} {p.test_energy_rmse_meV_per_atom:>14.3f} "
            f"{p.test_energy_median_abs_meV_per_atom:>14.3f} "
            f"{p.test_force_rmse_eV_per_A:>12.4f} {p.train_energy_rmse_meV_per_atom:>15.3f} "
            f"{p.cost_us_per_atom_call:>11.2f} {p.fit_seconds:>7.0f} {'*' if p.on_front else ''}"
        )
    return "\n".join(lines)
