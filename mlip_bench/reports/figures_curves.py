"""Curve figures of the HTML report: for any kind, one figure per curve its items carry (arrays
``"<name>:x"`` / ``"<name>:y"``, axis titles from the kind's ``plots`` declaration) with every
reference the record holds drawn over it in black: an item's ``"<name>:x_ref"`` / ``"<name>:y_ref"``,
a ``"<name>_reference"`` curve (phonon bands of the reference), a reference curve named by a
``*reference_curve`` parameter (the DFT Bain and trigonal paths), and for cold curves the cited
energy of each crystal's minimum (melt-curve marks: figures_melt.py; E(V) and elastic bars:
figures_crystal.py). Every string put into a figure is HTML-escaped: plotly renders
names and titles as HTML."""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from html import escape
from typing import Any

import numpy as np
import plotly.graph_objects as go

from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.errors import MlipBenchError
from mlip_bench.reports.figures_bands import BAND_CURVES, band_axes
from mlip_bench.reports.figures_style import REFERENCE, owned
from mlip_bench.reports.leaderboard import Column

#: (HTML-escaped potential label, record with status "ok"), in table row order
Labelled = Sequence[tuple[str, ResultRecord]]
DASHES = ("solid", "dot", "dashdot", "longdash", "longdashdot")
#: several reference curves in one figure (experiment, DFT): told apart by dash and marker
_REFERENCE_DASHES = ("dash", "dot", "dashdot", "longdash")
_REFERENCE_MARKERS = ("circle-open", "square-open", "diamond-open", "triangle-up-open")
_COLD_TARGET = re.compile(r"^dE_(\w+?)_(\w+)_meV_per_atom$")
#: above this many points a curve is drawn without markers
_MARKER_LIMIT = 60
#: above this many curves of one potential they are not labelled beside their ends (melt: 40 runs)
_TAG_LIMIT = 12
#: figure titles of the curves the built-in kinds declare (others: the curve's name in words)
CURVE_TITLES = {
    "band": "Phonon band structure",
    "dos": "Phonon density of states",
    "cold_curve": "Cold curves: energy against volume of each crystal",
    "bain_path": "Bain path, fcc to bcc at constant volume",
    "trigonal_path": "Trigonal path along [111], fcc to sc to bcc at constant volume",
    "gsfe": "Generalized stacking-fault energy",
    "binned_error": "Mean energy error in equal-count bins of the potential's own uncertainty",
    "density_vs_T": "Liquid density at 1 bar against temperature (reference: Assael et al. 2006)",
    "gr": "Radial distribution function g(r) of the liquid, per temperature",
    "solid_fraction_vs_time": "Solid fraction (PTM) over time",
    "solid_fraction_vs_set_T": "Solid fraction against the thermostat set point (melting, then refreezing)",
    "nve_energy": "Total energy in NVE runs (its drift)",
    "tm_vs_p": "Melting temperature against pressure",
    "uncertainty_vs_time": "The potential's own uncertainty over the MD run",
    "energy_vs_time": "Potential energy over the MD run",
    "pressure_vs_time": "Pressure over the MD run",
    "volume_vs_time": "Volume per atom over the MD run",
    "temperature_vs_time": "Temperature over the MD run",
    "min_distance_vs_time": "Smallest interatomic distance over the MD run",
}


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


def _uncertainty_plots(kind: str) -> frozenset[str]:
    from mlip_bench.engine.kinds import KINDS

    task_kind = KINDS.get(kind)
    return task_kind.uncertainty_plots if task_kind is not None else frozenset()


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


def curve_figures(scored: Labelled, kind: str, columns: Sequence[Column] = ()) -> list[go.Figure]:
    """One figure per curve present: declared curves first (in declaration order), then any other
    ``name:x``/``name:y`` pair; a ``<name>_reference`` curve is drawn in ``<name>``'s figure."""
    plots = declared_plots(kind)
    present = curve_names(scored)
    names = [n for n in plots if n in present] + [n for n in present if n not in plots]
    names = [n for n in names if not (n.endswith("_reference") and n.removesuffix("_reference") in present)]
    first = next(iter(plots), None)
    figures = []
    for name in names:
        axes = plots.get(name) or _uncertainty_axes(name, plots, scored) or (f"{name} x", f"{name} y")
        fig = curve_figure(scored, name, axes, with_parameter_curves=name == first)
        if name == "cold_curve":
            _cold_targets(fig, scored, columns)
        if name == "tm_vs_p":
            from mlip_bench.reports.figures_melt import tm_targets  # it draws on this module

            tm_targets(fig, columns)
        if name in _uncertainty_plots(kind):
            from mlip_bench.reports.figures_uncertainty import uncertainty_axis  # it draws on this module

            uncertainty_axis(fig, scored)
        figures.append(fig)
    return figures


def _uncertainty_axes(name: str, plots: dict[str, tuple[str, str]], scored: Labelled) -> tuple[str, str] | None:
    """Axes of ``<curve>_uncertainty`` (the potential's own uncertainty at each point of a declared
    curve): the curve's x axis, and the uncertainty in the unit the potentials declared."""
    base = plots.get(name.removesuffix("_uncertainty")) if name.endswith("_uncertainty") else None
    if base is None:
        return None
    declared = {r.potential.uncertainty.label for _, r in scored if r.potential.uncertainty is not None}
    return base[0], f"potential's own uncertainty: {' or '.join(sorted(declared)) or 'as declared'}"


def curve_figure(
    scored: Labelled, name: str, axes: tuple[str, str], *, with_parameter_curves: bool = False
) -> go.Figure:
    """Curve `name`: one trace per (potential, item); items whose curve is a single point (one
    composition each, say) are joined into one trace per potential, sorted by x. References in
    black over them; phonon bands get their high-symmetry points on the x axis."""
    from mlip_bench.reports.figures_melt import mark_melt_runs  # it draws on this module

    fig = go.Figure()
    keys = (f"{name}:x", f"{name}:y")
    for label, record in scored:
        items = ok_items(record, arrays=keys)
        mark_melt_runs(fig, record, name, label)
        if items and all(len(i.arrays[keys[0]]) == 1 for i in items):
            fig.add_trace(owned(_joined_line(items, keys, label), label))
            continue
        for n, item in enumerate(items):
            line = curve_line(item.arrays[keys[0]], item.arrays[keys[1]], label, dash=DASHES[n % len(DASHES)])
            if len(items) > 1:  # one legend entry per potential; the item in the hover and beside its curve
                line.update(legendgroup=label, showlegend=n == 0, hovertemplate=_hover(label, item.id))
                if len(items) <= _TAG_LIMIT:  # more labels overlap into a blot: the hover names each
                    _tag_curve(fig, item, keys)
            fig.add_trace(owned(line, label))
    for trace in _reference_traces(scored, name):
        fig.add_trace(trace)
    if with_parameter_curves:
        for trace in _parameter_curves(scored):
            fig.add_trace(trace)
    title = CURVE_TITLES.get(name, name.replace("_", " ").capitalize())
    fig.update_layout(title=escape(title), xaxis_title=escape(axes[0]), yaxis_title=escape(axes[1]))
    if name in BAND_CURVES:
        band_axes(fig, scored)
    return fig


def _hover(label: str, item_id: str) -> str:
    return f"{label} ({escape(item_id)})<br>%{{x:.4g}}, %{{y:.4g}}<extra></extra>"


def _tag_curve(fig: go.Figure, item: ItemRecord, keys: tuple[str, str]) -> None:
    """Name an item's curve (a crystal, say) once, beside the right end of the first curve drawn."""
    name = escape(item.id)
    if any(a.name == name for a in fig.layout.annotations):
        return
    points = [(x, y) for x, y in zip(item.arrays[keys[0]], item.arrays[keys[1]], strict=False) if np.isfinite(x + y)]
    if points:
        x, y = max(points)
        fig.add_annotation(x=x, y=y, text=name, name=name, showarrow=False, xanchor="left", font={"size": 11})


def _joined_line(items: list[ItemRecord], keys: tuple[str, str], label: str) -> go.Scatter:
    """Single-point curves of items as one curve sorted by x, the item ids in the hover; where every
    item carries ``<name>:y_low``/``<name>:y_high`` (a bracket: Tm's), they are its error bars."""
    low, high = (keys[1] + "_low", keys[1] + "_high")
    ordered = sorted(items, key=lambda i: (not np.isfinite(i.arrays[keys[0]][0]), i.arrays[keys[0]][0]))
    y = [i.arrays[keys[1]][0] for i in ordered]
    line = curve_line([i.arrays[keys[0]][0] for i in ordered], y, label, text=[escape(i.id) for i in ordered])
    if all(low in i.arrays and high in i.arrays for i in ordered):
        up = [i.arrays[high][0] - v for i, v in zip(ordered, y, strict=True)]
        down = [v - i.arrays[low][0] for i, v in zip(ordered, y, strict=True)]
        line.error_y = {"type": "data", "symmetric": False, "array": up, "arrayminus": down, "width": 5}
        line.hovertemplate = f"{label} (%{{text}})<br>%{{x:.4g}}, %{{y:.4g}}; error bar: the bracket<extra></extra>"
    return line


def curve_line(
    x: Sequence[float],
    y: Sequence[float],
    name: str,
    *,
    color: str | None = None,
    dash: str = "solid",
    text: list[str] | None = None,
) -> go.Scatter:
    mode = "lines" if len(x) > _MARKER_LIMIT else "lines+markers"
    return go.Scatter(x=list(x), y=list(y), mode=mode, name=name, text=text, line={"color": color, "dash": dash})


def _reference(x: Sequence[float], y: Sequence[float], name: str, **kwargs: Any) -> go.Scatter:
    trace = curve_line(x, y, name, color=REFERENCE, dash="dash", **kwargs)
    trace.marker.symbol = "circle-open"
    return trace


def _reference_traces(scored: Labelled, name: str) -> list[go.Scatter]:
    """Dashed black reference curves carried by the items (``name:x_ref``/``name:y_ref`` or a
    ``name_reference`` curve), each distinct one once, whichever potential's items carry it."""
    curves: dict[tuple[int, bytes], tuple[str, list[float], list[float]]] = {}
    for keys in ((f"{name}:x_ref", f"{name}:y_ref"), (f"{name}_reference:x", f"{name}_reference:y")):
        for _, record in scored:
            for item in ok_items(record, arrays=keys):
                x, y = list(item.arrays[keys[0]]), list(item.arrays[keys[1]])
                key = (len(x), np.asarray(x + y, float).tobytes())  # NaN-safe identity of the curve
                curves.setdefault(key, (escape(item.id), x, y))
    what = _reference_name(scored)
    if len(curves) > 1 and all(len(x) == 1 for _, x, _ in curves.values()):
        points = sorted(((x[0], y[0], i) for i, x, y in curves.values()), key=lambda p: p[0])
        xs, ys, ids = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
        return [_reference(xs, ys, what, text=ids)]
    return [_reference(x, y, what if len(curves) == 1 else f"{what} ({item_id})") for item_id, x, y in curves.values()]


def _reference_name(scored: Labelled) -> str:
    """ "reference", with the potential or file it came from where the task names one."""
    for _, record in scored:
        spec = record.parameters.get("reference_potential")
        if isinstance(spec, str) and spec:
            return f"reference: {escape(spec.rsplit('/', 1)[-1].removeprefix('eam:'))}"
        if record.parameters.get("reference_force_sets"):
            return "reference force sets"
    return "reference"


def _parameter_curves(scored: Labelled) -> list[go.Scatter]:
    """Reference curves named by the task's ``*reference_curve`` parameters (a key) and
    ``*reference_curves`` parameters (keys or fnmatch patterns, several curves: the melt curves of
    experiment and DFT) in reference_data/curves; each in black with its own dash and marker, named
    by its kind and source."""
    from mlip_bench.data.curves import reference_curve, reference_curves

    keys = dict.fromkeys(
        v for _, r in scored for k, v in r.parameters.items() if k.endswith("reference_curve") and isinstance(v, str)
    )
    patterns = [
        str(v) for _, r in scored for k, vs in r.parameters.items() if k.endswith("reference_curves")
        if isinstance(vs, list) for v in vs
    ]  # fmt: skip
    try:
        known = reference_curves() if patterns else {}
    except MlipBenchError:  # a broken curve file: the plot goes without references (the data tests name it)
        known = {}
    keys |= dict.fromkeys(k for pattern in patterns for k in sorted(known) if fnmatchcase(k, pattern))
    several = len(keys) > 1
    traces = []
    for n, key in enumerate(keys):
        try:
            curve = reference_curve(key)
        except MlipBenchError:  # a curve removed since the run: the plot goes without it
            continue
        kind = curve.kind.split(",")[0]
        tip = [escape(f"{curve.kind}: {key}")] * len(curve.x)
        name = f"{kind}: {key.rsplit('/', 1)[-1]}" if several else f"reference: {kind}"
        trace = _reference(curve.x, curve.y, escape(name), text=tip)
        if several:
            trace.line.dash = _REFERENCE_DASHES[n % len(_REFERENCE_DASHES)]
            trace.marker.symbol = _REFERENCE_MARKERS[n % len(_REFERENCE_MARKERS)]
        traces.append(trace)
    return traces


def _cold_targets(fig: go.Figure, scored: Labelled, columns: Sequence[Column]) -> None:
    """The cited energy of each crystal's minimum (``dE_<crystal>_<ref>_meV_per_atom`` targets) as a
    black bar across the volumes of that crystal's curves: each potential's minimum should touch it."""
    first = True
    for column in columns:
        match = _COLD_TARGET.match(column.name)
        if column.target is None or match is None:
            continue
        crystal = match.group(1).lower()
        xs = [
            v
            for _, record in scored
            for item in ok_items(record, arrays=("cold_curve:x",))
            if item.id.lower() == crystal or item.id.lower().endswith(f"-{crystal}")
            for v in item.arrays["cold_curve:x"]
            if np.isfinite(v)
        ]
        if not xs:
            continue
        tip = escape(f"{column.label}: {column.target:g} meV/atom ({column.reference})")
        fig.add_trace(
            go.Scatter(
                x=[min(xs), max(xs)],
                y=[column.target, column.target],
                mode="lines",
                name="cited energy of each minimum",
                legendgroup="cited-minimum",
                showlegend=first,
                line={"color": REFERENCE, "width": 3},
                hovertemplate=f"{tip}<extra></extra>",
            )
        )
        first = False
