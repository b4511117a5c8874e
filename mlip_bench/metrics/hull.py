"""Formation energies, convex hull and the bcc/fcc transition of paper 001 (Liu & Mo, Acta Mater. 268
(2024) 119742, Sec. 2.4.2, Methods Eq. (3) and (4)).

Compositions are the Al atomic fraction x_Al = n_Al / (n_Li + n_Al) of the Li-Al system; energies
are per atom (eV/atom) unless a field name says meV/atom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # pymatgen's phase diagram costs ~0.5 s to import: loaded only when a hull is built
    from pymatgen.core import Composition

_MEV = 1000.0
# e_above_hull from pymatgen carries ~1e-15 eV/atom of round-off for entries on the hull
_ROUND_OFF_MEV = 1e-6


def _fractions(x_al: ArrayLike) -> np.ndarray:
    x = np.asarray(x_al, dtype=float)
    if np.any((x < 0.0) | (x > 1.0)):
        raise ValueError(f"x_al must lie in [0, 1], got {x[(x < 0.0) | (x > 1.0)][:3]}")
    return x


def formation_energies(
    x_al: ArrayLike, e_per_atom: ArrayLike, *, e_li_eV_per_atom: float, e_al_eV_per_atom: float
) -> np.ndarray:
    """Eq. (3): E_f = E - (1 - x_Al) E(Li, Im-3m) - x_Al E(Al, Fm-3m), eV/atom.

    x_al, e_per_atom: arrays of one shape; NaN energies give NaN. Raises ValueError on a shape
    mismatch or an x_Al outside [0, 1].
    """
    x = _fractions(x_al)
    e = np.asarray(e_per_atom, dtype=float)
    if x.shape != e.shape:
        raise ValueError(f"x_al {x.shape} and e_per_atom {e.shape} must have the same shape")
    return e - (1.0 - x) * e_li_eV_per_atom - x * e_al_eV_per_atom


def interphase_formation_energies(
    x_al: ArrayLike, e_per_atom: ArrayLike, *, e_lial_eV_per_atom: float, e_lial3_eV_per_atom: float
) -> np.ndarray:
    """Eq. (4): E'_f relative to LiAl (Fd-3m, x_Al = 1/2) and LiAl3 (Pm-3m, x_Al = 3/4), eV/atom.

    For Li_xAl_y the paper's weights (3x - y)/(x + y) and 2(y - x)/(x + y) are 3 - 4 x_Al and
    4 x_Al - 2; outside 0.5 <= x_Al <= 0.75 this is an extrapolation. NaN energies give NaN.
    """
    x = _fractions(x_al)
    e = np.asarray(e_per_atom, dtype=float)
    if x.shape != e.shape:
        raise ValueError(f"x_al {x.shape} and e_per_atom {e.shape} must have the same shape")
    return e - (3.0 - 4.0 * x) * e_lial_eV_per_atom - (4.0 * x - 2.0) * e_lial3_eV_per_atom


@dataclass(frozen=True)
class HullComparison:
    """Reference and predicted convex hulls of the same phases, compared.

    ``names`` are the phases compared (in input order, NaN ones removed and listed in ``dropped``);
    the two e_above_hull tuples follow ``names``. Stable = e_above_hull <= ``tol_meV_per_atom``.
    precision = |stable_ref & stable_pred| / |stable_pred| (NaN if nothing is predicted stable),
    recall = ... / |stable_ref| (NaN if nothing is stable in the reference), f1 = 2 TP / (|pred| + |ref|)
    (NaN only when both sets are empty). ``lowest_ef_ref``/``lowest_ef_pred``: the phase with the
    most negative formation energy (paper: LiAl by DFT, Li5Al3 by MTP_Train).
    """

    names: tuple[str, ...]
    dropped: tuple[str, ...]
    tol_meV_per_atom: float
    stable_ref: tuple[str, ...]
    stable_pred: tuple[str, ...]
    wrongly_stable: tuple[str, ...]
    missed_stable: tuple[str, ...]
    precision: float
    recall: float
    f1: float
    e_above_hull_ref_meV_per_atom: tuple[float, ...]
    e_above_hull_pred_meV_per_atom: tuple[float, ...]
    e_above_hull_mae_meV_per_atom: float
    lowest_ef_ref: str
    lowest_ef_pred: str


def _composition(x: float) -> Composition:
    from pymatgen.core import Composition

    # zero amounts are left out so that x = 0 and x = 1 are the pure elements
    return Composition({el: amount for el, amount in (("Li", 1.0 - x), ("Al", x)) if amount > 0.0})


def _e_above_hull_meV(x: np.ndarray, ef: np.ndarray) -> np.ndarray:
    """e_above_hull (meV/atom) of each (x_Al, E_f in eV/atom) against the hull of these points plus Li and Al at 0."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    entries = [PDEntry(_composition(float(xi)), float(ei)) for xi, ei in zip(x, ef, strict=True)]
    diagram = PhaseDiagram([*entries, PDEntry(Composition("Li"), 0.0), PDEntry(Composition("Al"), 0.0)])
    return np.array([diagram.get_e_above_hull(entry) for entry in entries], dtype=float) * _MEV


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def hull_comparison(
    names: Sequence[str],
    x_al: ArrayLike,
    ef_ref: ArrayLike,
    ef_pred: ArrayLike,
    *,
    tol_meV_per_atom: float = 0.0,
) -> HullComparison:
    """Build both hulls with pymatgen's PhaseDiagram and compare the stable sets (paper 001, Fig. 5a).

    names: (n,) distinct phase names, one energy per name: the caller passes each phase's LEC
    (its lowest-energy ordering), not every ordering. x_al: (n,) Al fractions; ef_ref, ef_pred: (n,)
    formation energies (Eq. 3, eV/atom). Li and Al enter each hull at E_f = 0, so a name at x_Al = 0
    or 1 is on the hull when its E_f <= 0 (passing them adds trivially stable names; pass only the
    intermediate phases to score the intermediates). A name whose ref or pred E_f is NaN is dropped
    from both hulls. Raises ValueError on length mismatches, repeated names or x_Al outside [0, 1].
    """
    labels = [str(name) for name in names]
    x = _fractions(x_al)
    ref = np.asarray(ef_ref, dtype=float)
    pred = np.asarray(ef_pred, dtype=float)
    if not (x.ndim == 1 and x.shape == ref.shape == pred.shape == (len(labels),)):
        raise ValueError(f"names ({len(labels)}), x_al {x.shape}, ef_ref {ref.shape}, ef_pred {pred.shape} differ")
    if len(set(labels)) != len(labels):
        raise ValueError("hull_comparison: names must be distinct (pass one energy, the LEC, per phase)")
    ok = np.isfinite(ref) & np.isfinite(pred)
    kept = [name for name, good in zip(labels, ok, strict=True) if good]
    if not kept:
        raise ValueError("hull_comparison: no phase has finite reference and predicted formation energies")
    above_ref = _e_above_hull_meV(x[ok], ref[ok])
    above_pred = _e_above_hull_meV(x[ok], pred[ok])
    limit = tol_meV_per_atom + _ROUND_OFF_MEV
    stable_ref = {name for name, above in zip(kept, above_ref, strict=True) if above <= limit}
    stable_pred = {name for name, above in zip(kept, above_pred, strict=True) if above <= limit}
    hits = len(stable_ref & stable_pred)
    return HullComparison(
        names=tuple(kept),
        dropped=tuple(name for name, good in zip(labels, ok, strict=True) if not good),
        tol_meV_per_atom=float(tol_meV_per_atom),
        stable_ref=tuple(name for name in kept if name in stable_ref),
        stable_pred=tuple(name for name in kept if name in stable_pred),
        wrongly_stable=tuple(name for name in kept if name in stable_pred - stable_ref),
        missed_stable=tuple(name for name in kept if name in stable_ref - stable_pred),
        precision=_ratio(hits, len(stable_pred)),
        recall=_ratio(hits, len(stable_ref)),
        f1=_ratio(2 * hits, len(stable_pred) + len(stable_ref)),
        e_above_hull_ref_meV_per_atom=tuple(float(v) for v in above_ref),
        e_above_hull_pred_meV_per_atom=tuple(float(v) for v in above_pred),
        e_above_hull_mae_meV_per_atom=float(np.mean(np.abs(above_pred - above_ref))),
        lowest_ef_ref=kept[int(np.argmin(ref[ok]))],
        lowest_ef_pred=kept[int(np.argmin(pred[ok]))],
    )


def _lowest_per_composition(x_al: ArrayLike, energies: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct x, lowest finite energy at each x): repeated compositions reduce to their LEC."""
    x = _fractions(x_al)
    e = np.asarray(energies, dtype=float)
    if x.ndim != 1 or x.shape != e.shape:
        raise ValueError(f"{what}: x_al {x.shape} and energies {e.shape} must be 1-D of the same length")
    ok = np.isfinite(x) & np.isfinite(e)
    grid, inverse = np.unique(x[ok], return_inverse=True)
    lowest = np.full(grid.size, np.inf)
    np.minimum.at(lowest, inverse, e[ok])
    return grid, lowest


def transition_composition(
    x_al: ArrayLike,
    e_bcc: ArrayLike,
    e_fcc: ArrayLike,
    *,
    x_al_fcc: ArrayLike | None = None,
    interpolate: bool = True,
) -> float:
    """x_Al of the bcc -> fcc transition (paper 001, Sec. 2.4.2, Fig. 5b,c), NaN if none is sampled.

    x_al, e_bcc: (n,) compositions and energies (eV/atom) of the bcc-lattice configurations;
    e_fcc: the fcc ones, at ``x_al_fcc`` when given (the paper's bcc and fcc cells have slightly
    different Al contents, e.g. 0.5208 vs 0.5185 at nominal 52 %), else at ``x_al``. Entries sharing
    a composition reduce to their minimum (the LEC); NaN entries are dropped. Each lattice's LEC
    curve is interpolated linearly in x_Al, and d(x) = E_fcc(x) - E_bcc(x) is scanned upwards over
    the range both lattices cover; the transition is the first change from bcc lower (d > 0) to fcc
    lower (d <= 0). ``interpolate=True`` returns the root of the linear d(x) between the two
    compositions that bracket it; ``interpolate=False`` returns the first sampled composition where
    fcc is lower, as the paper reports it ("57 %", "62 %" are compositions of its grid).

    Energies may be raw energies per atom, Eq. (3) or Eq. (4) formation energies, as long as both
    lattices use the same references: these subtract the same linear function of x_Al from both
    curves, so d(x) and the result do not depend on them (Eq. (4) only makes the plot readable).
    NaN when fcc is lower over the whole common range, never lower, or the ranges do not overlap.
    """
    xb, eb = _lowest_per_composition(x_al, e_bcc, "bcc")
    xf, ef = _lowest_per_composition(x_al if x_al_fcc is None else x_al_fcc, e_fcc, "fcc")
    if xb.size == 0 or xf.size == 0:
        return float("nan")
    low, high = max(xb[0], xf[0]), min(xb[-1], xf[-1])
    grid = np.union1d(xb, xf)
    grid = grid[(grid >= low) & (grid <= high)]
    d = np.interp(grid, xf, ef) - np.interp(grid, xb, eb)
    crossings = np.flatnonzero((d[:-1] > 0.0) & (d[1:] <= 0.0))
    if crossings.size == 0:
        return float("nan")
    i = int(crossings[0])
    if not interpolate:
        return float(grid[i + 1])
    return float(grid[i] + (grid[i + 1] - grid[i]) * d[i] / (d[i] - d[i + 1]))
