"""The Pareto front of (cost, error) points: those no other point beats on both (lower is better).

Pure and NaN-aware: a point whose cost or error is NaN (or inf) is never on the front and never
dominates another; indices always refer to positions in the sequence as passed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of the (cost, error) points that no other point beats on both (lower is better).
    Ties on cost keep only the lower error; of identical points only the first is on the front.
    Non-finite points are left out."""
    finite = [i for i, (cost, error) in enumerate(points) if math.isfinite(cost) and math.isfinite(error)]
    order = sorted(finite, key=lambda i: (points[i][0], points[i][1], i))
    front: set[int] = set()
    best = math.inf
    for i in order:
        if points[i][1] < best:
            front.add(i)
            best = points[i][1]
    return front
