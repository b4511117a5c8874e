"""Phonon band figures: high-symmetry points (Γ, X, L, ...) on the x axis and every potential's
bands (and the reference's) drawn on the same path coordinate.

The ``phonons`` kind stores a band structure as one curve whose branches and path segments are
separated by NaN, the path coordinate in 1/Å of the potential's own crystal, and names the path in
a note (``path GXWKGLUWLK | UX (G = Gamma)``: points of one capital each, or joined by "-").
Potentials with other lattice constants reach the special points at other distances, so each
segment is mapped linearly onto the first curve's; labels are only drawn where the curve's
segments match the noted path."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from mlip_bench.reports.figures_curves import Labelled

#: curve names drawn as band structures
BAND_CURVES = frozenset({"band"})
_PATH = re.compile(r"\bpath ([A-Za-z0-9-]+(?: \| [A-Za-z0-9-]+)*) \(G = Gamma\)")
#: a special point in a path written without separators: a capital, then lower-case letters or digits
_POINT = re.compile(r"[A-Z][a-z0-9]*")
_GREEK = {"G": "Γ", "GAMMA": "Γ", "Gamma": "Γ"}
_TOL = 1e-9


def path_segments(path: str) -> list[tuple[str, str]]:
    """``"G-X-W | U-X"`` or ``"GXW | UX"`` -> [("G", "X"), ("X", "W"), ("U", "X")]."""
    out = []
    for piece in path.split("|"):
        piece = piece.strip()
        points = [p for p in piece.split("-") if p] if "-" in piece else _POINT.findall(piece)
        out += list(itertools.pairwise(points))
    return out


def noted_path(scored: Labelled) -> str | None:
    """The band path named in the first note that names one."""
    for _, record in scored:
        for note in record.notes:
            match = _PATH.search(note)
            if match:
                return match.group(1)
    return None


def segment_ranges(x: Sequence[float]) -> tuple[list[tuple[float, float]], list[int]]:
    """(start, end) of each path segment of a NaN-separated band curve, and for every NaN-separated
    piece the index of its segment (consecutive pieces over the same range are branches of one)."""
    ranges: list[tuple[float, float]] = []
    owner: list[int] = []
    piece: list[float] = []
    for v in [*x, math.nan]:
        if v is not None and math.isfinite(v):
            piece.append(float(v))
            continue
        if piece:
            span = (piece[0], piece[-1])
            if not ranges or abs(ranges[-1][0] - span[0]) > _TOL or abs(ranges[-1][1] - span[1]) > _TOL:
                ranges.append(span)
            owner.append(len(ranges) - 1)
            piece = []
    return ranges, owner


def _mapped(x: Sequence[float], target: list[tuple[float, float]]) -> list[float] | None:
    """`x` with each segment mapped linearly onto `target`'s; None when the segments do not match."""
    ranges, _ = segment_ranges(x)
    if len(ranges) != len(target):
        return None
    out: list[float] = []
    index = -1
    previous: float | None = None
    for v in x:
        if v is None or not math.isfinite(v):
            out.append(math.nan)
            previous = None
            continue
        if previous is None:  # a new piece: find its segment by its first value
            index = _segment_of(float(v), ranges, index)
        (a, b), (c, d) = ranges[index], target[index]
        out.append(c + (float(v) - a) / (b - a) * (d - c) if b - a > _TOL else c)
        previous = float(v)
    return out


def _segment_of(start: float, ranges: list[tuple[float, float]], last: int) -> int:
    for i in range(max(last, 0), len(ranges)):
        if abs(ranges[i][0] - start) <= _TOL:
            return i
    return next(i for i, r in enumerate(ranges) if abs(r[0] - start) <= _TOL)


def band_axes(fig: go.Figure, scored: Labelled) -> None:
    """Put every band trace of `fig` on the first trace's path coordinate and label the special
    points (vertical lines, Γ for G). Leaves the figure unchanged when no path is noted or the
    first curve's segments do not match it."""
    path = noted_path(scored)
    traces = [t for t in fig.data if t.type == "scatter" and t.x is not None and len(t.x) > 1]
    if path is None or not traces:
        return
    segments = path_segments(path)
    target, _ = segment_ranges(list(traces[0].x))
    if len(target) != len(segments):
        return
    for trace in traces:
        mapped = _mapped(list(trace.x), target)
        if mapped is not None:
            trace.x = mapped
    positions, labels = _ticks(target, segments)
    for x in positions:
        fig.add_vline(x=x, line={"color": "#9aa5b1", "width": 1})
    fig.update_xaxes(
        tickvals=positions,
        ticktext=labels,
        showgrid=False,
        range=[positions[0], positions[-1]],
        title_text="wave vector along the high-symmetry path (Γ: zone centre)",
    )


def _ticks(ranges: list[tuple[float, float]], segments: list[tuple[str, str]]) -> tuple[list[float], list[str]]:
    """Tick positions and labels: each segment's start, a jump in the path as "K|U", the end."""
    positions: list[float] = []
    labels: list[str] = []
    for i, ((start, end), (a, b)) in enumerate(zip(ranges, segments, strict=True)):
        name = _GREEK.get(a, a)
        if i and abs(start - ranges[i - 1][1]) <= _TOL:
            previous = labels[-1]
            labels[-1] = previous if previous == name else f"{previous}|{name}"
        else:
            positions.append(start)
            labels.append(name)
        positions.append(end)
        labels.append(_GREEK.get(b, b))
    return positions, labels
