"""What every figure of a report page shares: one colour (and marker) per potential, the same in
every plot; a legend below the plot with room of its own (twenty potentials never squeeze the
plot); and axis ranges that do not blow numerical noise up into structure.

Figure builders tag the traces that belong to a potential with ``meta=<escaped label>``
(:func:`owned`); :func:`paint` colours them from the page's mapping, traces without a tag
(references, y = x) keep their own look (black or grey)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

#: distinct colours for potentials; black and grey are kept for references
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#750d86",
    "#00a08b",
    "#b68100",
    "#1616a7",
    "#862a16",
    "#6c7c32",
    "#fb00d1",
    "#778aae",
    "#620042",
    "#511cfb",
)
#: markers cycle once per round of the palette, so potential 1 and potential 20 still differ
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "cross")
REFERENCE = "black"
#: plot area height (px) and the space under it for the x axis' tick labels and title
PLOT_HEIGHT, AXIS_BLOCK, TOP = 380, 60, 80
#: figures with more categories along x than this take the page's full width
WIDE_CATEGORIES = 12
#: legend geometry: row height, character width and symbol width (px, 12 px font)
_ROW, _CHAR, _SYMBOL, _LEGEND_WIDTH = 20, 6.6, 46, 500
#: the smallest difference that means anything, per unit of an axis title; a flatter range is widened
SPAN_FLOOR: dict[str, float] = {
    "meV/atom": 0.1,
    "eV/atom": 1e-4,
    "eV": 1e-3,
    "mJ/m²": 1.0,
    "J/m²": 1e-3,
    "THz": 0.05,
    "GPa": 0.5,
    "eV/Å": 1e-3,
    "Å": 1e-3,
    "Å³/atom": 0.01,
    "%": 0.1,
}
#: a range narrower than this fraction of the values' magnitude is widened too
_RELATIVE_SPAN = 1e-3
_UNIT = re.compile(r"[(\[]([^()\[\]]+)[)\]]\s*$")


def potential_colors(labels: Sequence[str]) -> dict[str, str]:
    """One colour per distinct label, in order (the same label gets the same colour on the page)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def symbol(index: int) -> str:
    return SYMBOLS[(index // len(PALETTE)) % len(SYMBOLS)]


def owned(trace: Any, label: str) -> Any:
    """Mark `trace` as drawn for the potential labelled `label` (escaped); returns the trace."""
    trace.meta = label
    return trace


def paint(fig: go.Figure, colors: Mapping[str, str]) -> go.Figure:
    """Colour every trace tagged by :func:`owned` with its potential's colour (markers: the
    potential's symbol unless the builder chose one)."""
    order = {label: i for i, label in enumerate(colors)}
    for trace in fig.data:
        owner = trace.meta if isinstance(trace.meta, str) else None
        if owner is None or owner not in colors:
            continue
        color = colors[owner]
        if trace.type == "scatter":
            trace.line.color = color
            trace.marker.color = color
            if trace.marker.symbol is None:
                trace.marker.symbol = symbol(order[owner])
        elif trace.type == "bar":
            trace.marker.color = color
        elif trace.type == "box":
            trace.marker.color = color
            trace.line.color = color
    return fig


def legend_entries(fig: go.Figure) -> list[str]:
    """Names the legend shows (one per legend group)."""
    names: list[str] = []
    groups: set[str] = set()
    for trace in fig.data:
        if trace.type in ("heatmap",) or trace.showlegend is False or trace.visible is False or not trace.name:
            continue
        if trace.legendgroup:
            if trace.legendgroup in groups:
                continue
            groups.add(trace.legendgroup)
        names.append(str(trace.name))
    return names


def _has_colour_bar(trace: Any) -> bool:
    """A heatmap's scale, or markers coloured by a value with their scale shown."""
    if trace.type == "heatmap":
        return trace.showscale is not False
    marker = getattr(trace, "marker", None)  # bar and pie markers have no colour scale
    return bool(getattr(marker, "showscale", None) and getattr(marker, "colorbar", None) is not None)


def layout(fig: go.Figure) -> go.Figure:
    """Fixed plot area, x-axis block sized for its tick labels, and the legend below both in rows
    of equal columns, its height added to the figure's (the plot never shrinks for it)."""
    names = legend_entries(fig)
    axis = _axis_block(fig)
    legend_height = 0
    legend: dict[str, Any] = {}
    if names:
        widest = max(len(_plain(n)) for n in names)
        entry = min(_LEGEND_WIDTH, _SYMBOL + _CHAR * widest)
        columns = max(1, int(_LEGEND_WIDTH // entry))
        legend_height = _ROW * math.ceil(len(names) / columns) + 10
        legend = {
            "orientation": "h",
            "yref": "container",
            "y": 0.0,
            "yanchor": "bottom",
            "x": 0.0,
            "xanchor": "left",
            "entrywidth": int(_LEGEND_WIDTH / columns),
            "entrywidthmode": "pixels",
            "font": {"size": 12},
            "tracegroupgap": 0,
            "itemclick": "toggle",
            "itemdoubleclick": "toggleothers",
        }
    top = TOP + (30 if fig.layout.updatemenus else 0)  # the title above, a menu under it
    right = 110 if any(_has_colour_bar(t) for t in fig.data) else 20
    fig.update_layout(
        template="plotly_white",
        height=top + PLOT_HEIGHT + axis + legend_height,
        margin={"l": 70, "r": right, "t": top, "b": axis + legend_height, "autoexpand": False},
        # the title under the mode bar (top right, shown on hover), a menu under the title
        title={"x": 0.01, "xanchor": "left", "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 30}},
        title_font_size=15,
        showlegend=bool(names),
        legend=legend,
    )
    return fig


def is_wide(fig: go.Figure) -> bool:
    """Whether `fig` needs the page's full width: many categories along x (phases, groups)."""
    categories = {str(x) for t in fig.data if t.type in ("bar", "heatmap") and t.x is not None for x in t.x}
    return len(categories) > WIDE_CATEGORIES


def _plain(name: str) -> str:
    """Visible text of an escaped legend name (an entity counts as one character)."""
    return re.sub(r"&[#\w]+;", "x", re.sub(r"<[^>]*>", "", name))


def _axis_block(fig: go.Figure) -> int:
    """Pixels under the plot for the x tick labels and title: more for labels turned on their side."""
    angle = fig.layout.xaxis.tickangle
    if angle is None or angle == 0:
        return AXIS_BLOCK
    ticks = [_plain(str(x)) for t in fig.data if t.type in ("bar", "box", "heatmap") and t.x is not None for x in t.x]
    ticks += [_plain(str(t.name)) for t in fig.data if t.type == "box" and t.x is None and t.name]  # one box per name
    ticks += [_plain(str(x)) for x in (fig.layout.xaxis.ticktext or ())]
    widest = max((len(t) for t in ticks), default=4)
    return AXIS_BLOCK + int(_CHAR * widest * abs(math.sin(math.radians(float(angle)))))


def readable_range(fig: go.Figure) -> go.Figure:
    """Widen a y range flatter than the unit's floor (:data:`SPAN_FLOOR`, from the unit in
    parentheses or brackets at the end of the axis title) or than 0.1 % of the values' magnitude,
    about its centre: a curve flat to 1e-5 mJ/m² is drawn flat, not as a landscape."""
    values = [_finite(t.y) for t in fig.data if t.type in ("scatter", "bar", "box") and t.y is not None]
    values = [v for v in values if v.size]
    if not values or fig.layout.yaxis.range is not None:
        return fig
    y = np.concatenate(values)
    lo, hi = float(y.min()), float(y.max())
    if any(t.type == "bar" for t in fig.data):
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # bars start at zero
    title = fig.layout.yaxis.title.text or ""
    match = _UNIT.search(title)
    floor = SPAN_FLOOR.get(match.group(1).strip(), 0.0) if match else 0.0
    need = max(floor, _RELATIVE_SPAN * max(abs(lo), abs(hi)))
    if hi - lo < need:
        centre = lo + need / 2 if any(t.type == "bar" for t in fig.data) and lo >= 0 else (lo + hi) / 2
        fig.update_yaxes(range=[centre - need / 2 - 0.05 * need, centre + need / 2 + 0.05 * need])
    return fig


def _finite(values: Any) -> np.ndarray:
    out = np.array([v for v in values if isinstance(v, int | float) and not isinstance(v, bool)], dtype=float)
    return out[np.isfinite(out)]
