"""Per-element energy offsets. Potentials trained on other DFT settings differ from a
dataset's reference by a constant energy per atom of each element; fitting those constants by
least squares and removing them ("offset-aligned") separates that from real errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def fit_elemental_offsets(counts: ArrayLike, delta_energy: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Fit mu (eV/atom per element) so that delta_E_i ~ sum_el counts_i,el * mu_el.

    counts: (n_structures, n_elements) atom counts; delta_energy: (n_structures,) predicted
    minus reference total energy (eV). Each structure is weighted equally (the fit is on
    per-atom differences). NaN rows are ignored. Returns (mu, aligned per-atom residuals in eV/atom,
    NaN where the input was NaN).
    """
    counts = np.asarray(counts, dtype=float)
    delta = np.asarray(delta_energy, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != delta.shape[0]:
        raise ValueError(f"counts {counts.shape} and delta_energy {delta.shape} do not match")
    n_atoms = counts.sum(axis=1)
    fractions = counts / np.where(n_atoms > 0, n_atoms, 1.0)[:, None]
    per_atom = delta / np.where(n_atoms > 0, n_atoms, np.nan)
    ok = np.isfinite(per_atom)
    mu: np.ndarray = np.zeros(counts.shape[1])
    if ok.any():
        mu, *_ = np.linalg.lstsq(fractions[ok], per_atom[ok], rcond=None)
    return mu, per_atom - fractions @ mu
