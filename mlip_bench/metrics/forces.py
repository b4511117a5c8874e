"""Per-atom force errors, NAC and the force performance score P(D) of paper 001 (Liu & Mo, Acta Mater.
268 (2024) 119742, Sec. 2.4.3 and Methods), after Liu, He & Mo, npj Comput. Mater. 9 (2023) 174.

Forces in eV/Å, angles in degrees. Which atoms enter is the caller's choice and matters: the
paper's P(D) uses only the *migrating* atoms of AIMD snapshots (an atom whose distances to its
1st and 2nd nearest static sites differ by less than 0.9 Å), pooled over 200 snapshots; its
validation criteria (5)-(8) use the NACs over whole datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

F_MAX_EV_PER_A = 1.5  # paper 001: CDF range of the magnitude errors
THETA_MAX_DEG = 180.0  # paper 001: CDF range of the direction errors


def force_errors_on_atoms(f_ref: ArrayLike, f_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(|dF| in eV/Å, d_theta in degrees), each of shape (n_atoms,).

    f_ref, f_pred: (n_atoms, 3). |dF| = | |F_pred| - |F_ref| |, the error of the force magnitude
    (paper 001: "errors of force magnitudes and force directions"; npj 2023 Fig. 5a splits the
    error into a magnitude part and a direction part); d_theta is the angle between F_pred and
    F_ref, in [0, 180]. d_theta is NaN where either force is exactly zero (no direction), and both
    are NaN where an input row has a NaN. Raises ValueError unless both are (n, 3) of one shape.
    """
    ref = np.asarray(f_ref, dtype=float)
    pred = np.asarray(f_pred, dtype=float)
    if ref.ndim != 2 or ref.shape[1:] != (3,) or ref.shape != pred.shape:
        raise ValueError(f"f_ref {ref.shape} and f_pred {pred.shape} must both be (n_atoms, 3)")
    norm_ref = np.linalg.norm(ref, axis=1)
    norm_pred = np.linalg.norm(pred, axis=1)
    # atan2(|a x b|, a.b) keeps its precision for nearly parallel forces, unlike arccos
    cross = np.linalg.norm(np.cross(ref, pred), axis=1)
    dot = np.einsum("ij,ij->i", ref, pred)
    angle = np.degrees(np.arctan2(cross, dot))
    angle[(norm_ref == 0.0) | (norm_pred == 0.0)] = np.nan
    return np.abs(norm_pred - norm_ref), angle


def nac(values: ArrayLike, *, upper: float) -> float:
    """Normalized area under the empirical CDF of the errors over [0, upper] (1 = all errors zero).

    NAC = (1 / upper) * integral_0^upper CDF(e) de = mean_i(1 - min(e_i, upper) / upper), exact for
    the step CDF (the paper divides the area under its CDF curve by the box 0-100 % x 0-upper).
    Errors beyond ``upper`` count as CDF 0 inside the range, so all errors >= upper give 0.
    values: errors >= 0 of any shape (eV/Å or degrees, matching ``upper``); NaN entries are dropped;
    NaN when none is left. Raises ValueError for upper <= 0 or a negative error.
    """
    if not upper > 0.0:
        raise ValueError(f"nac: upper must be > 0, got {upper}")
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[~np.isnan(arr)]
    if np.any(arr < 0.0):
        raise ValueError("nac: errors must be >= 0 (pass magnitudes |dF| and angles, not signed values)")
    if arr.size == 0:
        return float("nan")
    return float(np.mean(1.0 - np.minimum(arr, upper) / upper))


@dataclass(frozen=True)
class ForceNac:
    """NACs of the magnitude and direction errors and their product P(D) over the atoms passed.

    ``n_atoms_no_direction``: atoms left out of the direction NAC because a force is exactly zero.
    """

    nac_magnitude: float
    nac_direction: float
    p_d: float
    n_atoms: int
    n_atoms_no_direction: int
    f_max_eV_per_A: float
    theta_max_deg: float


def force_nac(
    f_ref: ArrayLike,
    f_pred: ArrayLike,
    *,
    f_max_eV_per_A: float = F_MAX_EV_PER_A,
    theta_max_deg: float = THETA_MAX_DEG,
) -> ForceNac:
    """NAC(|dF|) over [0, f_max], NAC(d_theta) over [0, theta_max] and P(D) = their product.

    f_ref, f_pred: (n_atoms, 3) in eV/Å, the atoms the score is about, stacked over snapshots
    (migrating atoms for the paper's P(D)). Rows with a NaN are dropped from both NACs.
    """
    magnitude, angle = force_errors_on_atoms(f_ref, f_pred)
    finite = ~np.isnan(magnitude)
    nac_f = nac(magnitude[finite], upper=f_max_eV_per_A)
    nac_theta = nac(angle[finite], upper=theta_max_deg)
    return ForceNac(
        nac_magnitude=nac_f,
        nac_direction=nac_theta,
        p_d=nac_f * nac_theta,
        n_atoms=int(finite.sum()),
        n_atoms_no_direction=int(np.isnan(angle[finite]).sum()),
        f_max_eV_per_A=float(f_max_eV_per_A),
        theta_max_deg=float(theta_max_deg),
    )


def p_d(f_ref: ArrayLike, f_pred: ArrayLike, *, f_max_eV_per_A: float = F_MAX_EV_PER_A) -> float:
    """Force performance score P(D) = NAC(|dF|, 0-f_max) x NAC(d_theta, 0-180 deg); 1 = perfect.

    Pass the forces (n_atoms, 3) of the atoms the score is about: for the paper's P(D_Li3Al2) =
    0.69 (MTP_Train), the migrating atoms of 200 AIMD snapshots. NaN when no atom is left.
    """
    return force_nac(f_ref, f_pred, f_max_eV_per_A=f_max_eV_per_A).p_d
