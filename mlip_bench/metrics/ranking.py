"""Energy-ranking metrics of paper 001 (Liu & Mo, Acta Mater. 268 (2024) 119742, Sec. 2.2 and Methods).

A *group* is a set of configurations (elemental orderings) of one phase: same lattice, same
composition. Energies are per atom (eV/atom); the reference is DFT, the prediction a potential.

NaN handling: a configuration whose reference or predicted energy is NaN (or inf) is dropped
from the group before anything is computed; ``n_dropped`` counts them, and indices in the results
always refer to positions in the arrays as passed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_MEV = 1000.0


@dataclass(frozen=True)
class RankingStats:
    """Ranking errors over all unordered pairs of one group.

    ``error_rate`` is NaN with fewer than two structures; the mean/max of |dE_ref| are NaN when
    there is no mismatched pair; ``kendall_tau`` (tau-b) is NaN when undefined (fewer than two
    structures, or one side constant).
    """

    n_structures: int
    n_dropped: int
    n_pairs: int
    n_errors: int
    error_rate: float
    mean_abs_dE_ref_meV_per_atom: float
    max_abs_dE_ref_meV_per_atom: float
    kendall_tau: float
    mismatched_dE_ref_meV_per_atom: tuple[float, ...]


@dataclass(frozen=True)
class LecResult:
    """Lowest-energy configuration (LEC) of one group, by the reference and by the prediction.

    ``index_ref``/``index_pred`` index the arrays as passed (first minimum on exact ties).
    ``dE_ref_meV_per_atom`` = E_ref[index_pred] - E_ref[index_ref] >= 0: what choosing the
    predicted LEC costs in reference energy. ``correct`` is True when that cost is exactly zero,
    i.e. the predicted LEC is one of the reference minima (a tie in the reference is not an error).
    """

    index_ref: int
    index_pred: int
    correct: bool
    dE_ref_meV_per_atom: float
    n_structures: int


@dataclass(frozen=True)
class GroundPhaseResult:
    """Ground-state phase (GP) at one composition: the lattice of the lowest-energy configuration.

    ``dE_ref_meV_per_atom`` = (lowest reference energy among the configurations of ``phase_pred``)
    - (lowest reference energy overall) >= 0: the reference-energy cost of the predicted lattice,
    with its best ordering. ``correct`` is True when that cost is exactly zero (as for the LEC, a
    reference tie between lattices is not an error).
    """

    phase_ref: str
    phase_pred: str
    correct: bool
    dE_ref_meV_per_atom: float


def _paired(e_ref: ArrayLike, e_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(finite ref, finite pred, their original indices); ValueError unless both are 1-D of one length."""
    ref = np.asarray(e_ref, dtype=float)
    pred = np.asarray(e_pred, dtype=float)
    if ref.ndim != 1 or ref.shape != pred.shape:
        raise ValueError(f"e_ref {ref.shape} and e_pred {pred.shape} must be 1-D arrays of the same length")
    keep = np.flatnonzero(np.isfinite(ref) & np.isfinite(pred))
    return ref[keep], pred[keep], keep


def _kendall_tau(ref: np.ndarray, pred: np.ndarray) -> float:
    from scipy.stats import kendalltau  # scipy.stats costs ~0.25 s to import: only ranking tasks pay it

    if ref.size < 2:
        return float("nan")
    with warnings.catch_warnings():
        # constant input: scipy warns and returns NaN, which is the documented answer
        warnings.simplefilter("ignore")
        return float(kendalltau(ref, pred).statistic)


def ranking_errors(e_ref: ArrayLike, e_pred: ArrayLike) -> RankingStats:
    """Rate of ranking errors and |dE_ref| of the mismatched pairs (paper 001, Methods).

    e_ref, e_pred: (n,) energies per atom in eV/atom of the configurations of one group.
    A pair (A, B) is a ranking error when (E_A_ref - E_B_ref) * (E_A_pred - E_B_pred) <= 0, the
    paper's definition taken literally: a pair degenerate in the reference, or in the prediction,
    counts as an error (a reference tie then enters the |dE_ref| statistics as 0). The rate is
    n_errors / n_pairs with n_pairs = n (n - 1) / 2; dE_ref is reported as |E_A_ref - E_B_ref| (the
    paper's E_A - E_B has an arbitrary sign). Raises ValueError on a shape mismatch.
    """
    ref, pred, _ = _paired(e_ref, e_pred)
    n = int(ref.size)
    n_dropped = int(np.asarray(e_ref).size - n)
    first, second = np.triu_indices(n, k=1)
    d_ref = ref[first] - ref[second]
    mismatched = d_ref * (pred[first] - pred[second]) <= 0.0
    abs_d = np.abs(d_ref[mismatched]) * _MEV
    n_pairs = int(first.size)
    return RankingStats(
        n_structures=n,
        n_dropped=n_dropped,
        n_pairs=n_pairs,
        n_errors=int(mismatched.sum()),
        error_rate=float(mismatched.sum() / n_pairs) if n_pairs else float("nan"),
        mean_abs_dE_ref_meV_per_atom=float(abs_d.mean()) if abs_d.size else float("nan"),
        max_abs_dE_ref_meV_per_atom=float(abs_d.max()) if abs_d.size else float("nan"),
        kendall_tau=_kendall_tau(ref, pred),
        mismatched_dE_ref_meV_per_atom=tuple(float(v) for v in abs_d),
    )


def lowest_energy_configuration(e_ref: ArrayLike, e_pred: ArrayLike) -> LecResult:
    """The LEC of one group by reference and prediction (paper 001, Sec. 2.2, Fig. 2d,e).

    e_ref, e_pred: (n,) energies per atom (eV/atom). Raises ValueError on a shape mismatch or when
    no configuration has both energies finite.
    """
    ref, pred, keep = _paired(e_ref, e_pred)
    if ref.size == 0:
        raise ValueError("lowest_energy_configuration: no configuration has finite reference and predicted energies")
    i_ref = int(np.argmin(ref))
    i_pred = int(np.argmin(pred))
    cost = float(ref[i_pred] - ref[i_ref])
    return LecResult(
        index_ref=int(keep[i_ref]),
        index_pred=int(keep[i_pred]),
        correct=cost == 0.0,
        dE_ref_meV_per_atom=cost * _MEV,
        n_structures=int(ref.size),
    )


def ground_phase(phases: Sequence[str], e_ref: ArrayLike, e_pred: ArrayLike) -> GroundPhaseResult:
    """The GP at one composition: the phase (lattice) holding the lowest-energy configuration.

    phases: (n,) the lattice/phase label of each configuration (all orderings of all lattices at
    one nominal composition, paper 001 Fig. 2c); e_ref, e_pred: (n,) energies in eV/atom. When the
    lattices' compositions differ slightly (the paper's Li2Al3 cells span 59.4-60.4 % Al), pass
    formation energies (Eq. 3, :func:`mlip_bench.metrics.hull.formation_energies`) so that a
    different Al content is not read as stability. Raises ValueError on a length mismatch or when
    no configuration has both energies finite.
    """
    labels = np.asarray([str(p) for p in phases], dtype=object)
    if labels.shape != np.shape(e_ref):
        raise ValueError(f"phases ({labels.size}) and e_ref {np.shape(e_ref)} must have the same length")
    lec = lowest_energy_configuration(e_ref, e_pred)
    ref = np.asarray(e_ref, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(np.asarray(e_pred, dtype=float))
    phase_ref, phase_pred = str(labels[lec.index_ref]), str(labels[lec.index_pred])
    cost = float(np.min(ref[ok & (labels == phase_pred)])) - float(ref[lec.index_ref])
    return GroundPhaseResult(
        phase_ref=phase_ref, phase_pred=phase_pred, correct=cost == 0.0, dE_ref_meV_per_atom=cost * _MEV
    )
