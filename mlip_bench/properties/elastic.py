"""Elastic constants by stress-strain, following paper 000 (Sec. 2.3 and its SI).

Protocol: relax the cell; apply each of the six Voigt strains (engineering shear) at the
strain set delta1 = (-1, -0.5, 0, 0.5, 1) %; fit stress vs strain by ordinary least squares
(slope = c_ij, with an intercept for residual stress) giving the standard error of each slope;
repeat with delta2 = (-0.5, 0, 0.5) % and, when any independent constant differs by more than
10 %, add +/-0.25 % and +/-0.75 % and refit on all nine strains. Average by crystal symmetry
(cubic: paper Eq. 5), then Voigt-Reuss-Hill B and G, Young's modulus E and Poisson's ratio nu
(Eqs. 6-9, general-symmetry forms), with uncertainties propagated from the slope errors, and
Born stability (all eigenvalues of C positive, and the named conditions of Mouhat & Coudert,
PRB 90 (2014) 224104, for cubic and hexagonal crystals). Ions are relaxed at each strain unless
``relax_ions=False`` (clamped-ion).

Hexagonal crystals (hcp Mg) are averaged as C11 = C22, C13 = C23, C44 = C55 and
C66 = (C11 - C12)/2, with the c axis along z. Symmetry averaging is only applied when the
crystal axes lie along x, y, z (cubic axes, or the hexagonal c axis); otherwise C is only
made symmetric, since the averaging groups would mix unrelated entries.

Sign convention: ASE stress, tensile-positive, so C = d(stress)/d(strain) is positive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms

from mlip_bench.errors import PropertyError
from mlip_bench.properties.relax import relax
from mlip_bench.units import EV_PER_A3_TO_GPA

DELTA1_PERCENT = (-1.0, -0.5, 0.0, 0.5, 1.0)
DELTA2_PERCENT = (-0.5, 0.0, 0.5)
REFINE_PERCENT = (-0.75, -0.25, 0.25, 0.75)
CONSISTENCY_TOLERANCE = 0.10

_CUBIC_GROUPS = ([(0, 0), (1, 1), (2, 2)], [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)], [(3, 3), (4, 4), (5, 5)])
_HEX_GROUPS = ([(0, 0), (1, 1)], [(0, 1), (1, 0)], [(0, 2), (1, 2), (2, 0), (2, 1)], [(2, 2)], [(3, 3), (4, 4)])

#: Born stability conditions (each "value > 0") by averaging symmetry, Mouhat & Coudert,
#: PRB 90 (2014) 224104, Eqs. 11 (cubic) and 14 (hexagonal); positive eigenvalues of C are
#: checked for every crystal.
_BORN_CONDITIONS: dict[str, tuple[tuple[str, Callable[[np.ndarray], float]], ...]] = {
    "cubic": (
        ("C11 - C12 > 0", lambda c: c[0, 0] - c[0, 1]),
        ("C11 + 2 C12 > 0", lambda c: c[0, 0] + 2 * c[0, 1]),
        ("C44 > 0", lambda c: c[3, 3]),
    ),
    "hexagonal": (
        ("C11 > |C12|", lambda c: c[0, 0] - abs(c[0, 1])),
        ("2 C13^2 < C33 (C11 + C12)", lambda c: c[2, 2] * (c[0, 0] + c[0, 1]) - 2 * c[0, 2] ** 2),
        ("C44 > 0", lambda c: c[3, 3]),
    ),
}


@dataclass(frozen=True)
class Moduli:
    """Polycrystalline moduli (GPa) and Poisson's ratio from a stiffness matrix."""

    B_voigt_GPa: float
    B_reuss_GPa: float
    B_GPa: float
    G_voigt_GPa: float
    G_reuss_GPa: float
    G_GPa: float
    E_GPa: float
    nu: float


@dataclass(frozen=True)
class ElasticResult:
    """C and its standard errors are 6x6 (GPa, Voigt order); `C_raw_GPa` is before symmetry averaging.

    `averaging` is the symmetry used to average C ("cubic", "hexagonal", or "none": only
    (C + C^T)/2); `symmetry_max_rel_dev` is max |C_raw - C| / max |C|, small when the raw fit
    already has the assumed symmetry; `born_violations` names the failed stability conditions.
    """

    C_GPa: tuple[tuple[float, ...], ...]
    C_std_GPa: tuple[tuple[float, ...], ...]
    C_raw_GPa: tuple[tuple[float, ...], ...]
    moduli: Moduli
    moduli_std: Moduli
    born_stable: bool
    spacegroup: str
    crystal_system: str
    strains_percent: tuple[float, ...]
    consistency_max_rel_diff: float
    refined: bool
    relax_ions: bool
    relax_converged: bool
    a_A: float
    volume_A3_per_atom: float
    c_A: float
    averaging: str
    symmetry_max_rel_dev: float
    born_violations: tuple[str, ...]


def crystal_system(atoms: Atoms, symprec: float = 1e-3) -> tuple[str, str]:
    """(crystal system, space-group symbol) from spglib."""
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    data = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if data is None:
        return "triclinic", "P1"
    number = int(data.number)
    bounds = (
        (2, "triclinic"),
        (15, "monoclinic"),
        (74, "orthorhombic"),
        (142, "tetragonal"),
        (167, "trigonal"),
        (194, "hexagonal"),
        (230, "cubic"),
    )
    system = next(name for top, name in bounds if number <= top)
    return system, f"{data.international} ({number})"


def axes_aligned(atoms: Atoms, system: str, symprec: float = 1e-3) -> bool:
    """Whether the crystal axes that symmetry averaging assumes lie along x, y, z: the cubic
    axes (cubic), the c axis (hexagonal). Always True for other systems (no averaging)."""
    if system not in ("cubic", "hexagonal"):
        return True
    data = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)
    if data is None:
        return False
    # rows of the rotation are the standard axes in our frame; each must be along x, y or z
    rotation = np.abs(np.asarray(data.std_rotation_matrix))
    if system == "hexagonal":
        return bool(np.isclose(rotation[2, 2], 1.0, atol=1e-6))
    return bool(np.all(np.isclose(rotation, 0.0, atol=1e-6) | np.isclose(rotation, 1.0, atol=1e-6)))


def born_violations(c: np.ndarray, averaging: str) -> tuple[str, ...]:
    """The Born stability conditions that `c` (6x6, GPa) fails; empty when it is stable."""
    checks = (*_BORN_CONDITIONS.get(averaging, ()), ("all eigenvalues of C > 0", _min_eigenvalue))
    return tuple(label for label, value in checks if not value(c) > 0)


def _min_eigenvalue(c: np.ndarray) -> float:
    return float(np.linalg.eigvalsh((c + c.T) / 2).min())


def voigt_strain(component: int, delta: float) -> np.ndarray:
    """Symmetric 3x3 strain tensor for Voigt component 0..5 of size `delta` (shear: engineering)."""
    pairs = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    i, j = pairs[component]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = delta
    else:
        eps[i, j] = eps[j, i] = delta / 2
    return eps


def _stress(atoms: Atoms, calc: object, eps: np.ndarray, relax_ions: bool, fmax: float) -> tuple[np.ndarray, bool]:
    """Stress (GPa, Voigt) of `atoms` strained by `eps`, and whether the ion relaxation converged."""
    work = atoms.copy()
    work.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    converged = True
    if relax_ions and len(work) > 1:
        relaxed = relax(work, calc, cell=False, fmax_eV_per_A=fmax)
        work, converged = relaxed.atoms, relaxed.converged
    work.calc = calc
    return np.asarray(work.get_stress(voigt=True)) * EV_PER_A3_TO_GPA, converged


def fit_stiffness(strains: np.ndarray, stresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS slopes and their standard errors (paper 000 SI).

    strains: (n,) fractional; stresses: (6 patterns, n strains, 6 components) GPa.
    Returns (c, se), both (6, 6) with c[i, j] = d stress_i / d strain_j.
    """
    x = np.asarray(strains, dtype=float)
    n = x.size
    dx = x - x.mean()
    sxx = float(np.sum(dx**2))
    c = np.zeros((6, 6))
    se = np.zeros((6, 6))
    for j in range(6):
        y = stresses[j]  # (n, 6)
        slope = dx @ (y - y.mean(axis=0)) / sxx
        resid = y - (y.mean(axis=0) + np.outer(dx, slope))
        c[:, j] = slope
        se[:, j] = np.sqrt(np.sum(resid**2, axis=0) / max(n - 2, 1) / sxx) if n > 2 else 0.0
    return c, se


def symmetrize(c: np.ndarray, se: np.ndarray, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Average entries equal by symmetry (cubic: paper Eq. 5; hexagonal likewise); others get
    (C + C^T)/2. Uncertainties follow u = sqrt(sum u_k^2)/N (paper 000 SI)."""
    groups = {"cubic": _CUBIC_GROUPS, "hexagonal": _HEX_GROUPS}.get(system)
    if groups is None:
        return (c + c.T) / 2, np.sqrt(se**2 + se.T**2) / 2
    out = np.zeros((6, 6))
    err = np.zeros((6, 6))
    for group in groups:
        value = np.mean([c[i, j] for i, j in group])
        u = np.sqrt(sum(se[i, j] ** 2 for i, j in group)) / len(group)
        for i, j in group:
            out[i, j], err[i, j] = value, u
    if system == "hexagonal":
        out[5, 5] = (out[0, 0] - out[0, 1]) / 2
        err[5, 5] = np.hypot(err[0, 0], err[0, 1]) / 2
    return out, err


def moduli(c: np.ndarray) -> Moduli:
    """Voigt, Reuss and Hill averages for any symmetry; E and nu from the Hill B and G (Eq. 9)."""
    s = np.linalg.inv(c)
    bv = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    gv = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[1, 2] + c[0, 2]) + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    br = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
    gr = 15 / (
        4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[1, 2] + s[0, 2]) + 3 * (s[3, 3] + s[4, 4] + s[5, 5])
    )
    b, g = (bv + br) / 2, (gv + gr) / 2
    return Moduli(bv, br, b, gv, gr, g, 9 * b * g / (g + 3 * b), (3 * b - 2 * g) / (2 * (3 * b + g)))


def moduli_uncertainty(c: np.ndarray, u: np.ndarray, system: str = "triclinic") -> Moduli:
    """Propagate the uncertainties `u` of the C entries to the moduli (numerical derivatives,
    paper 000 SI). Entries averaged into one constant by symmetry (C11 = C22 = C33 ...) move
    together: they are one random variable, not independent ones."""
    base = np.array(_as_tuple(moduli(c)))
    var = np.zeros_like(base)
    for group in _independent_groups(system):
        (i0, j0) = group[0]
        if u[i0, j0] == 0:
            continue
        h = max(abs(c[i0, j0]) * 1e-6, 1e-6)
        bumped = c.copy()
        for i, j in group:
            bumped[i, j] += h
            if i != j and (j, i) not in group:
                bumped[j, i] += h
        if system == "hexagonal":
            bumped[5, 5] = (bumped[0, 0] - bumped[0, 1]) / 2
        deriv = (np.array(_as_tuple(moduli(bumped))) - base) / h
        var += (deriv * u[i0, j0]) ** 2
    return Moduli(*np.sqrt(var).tolist())


def _independent_groups(system: str) -> tuple[list[tuple[int, int]], ...]:
    groups = {"cubic": _CUBIC_GROUPS, "hexagonal": _HEX_GROUPS}.get(system)
    if groups is not None:
        return groups
    return tuple([(i, j)] for i in range(6) for j in range(i, 6))


def _as_tuple(m: Moduli) -> tuple[float, ...]:
    return (m.B_voigt_GPa, m.B_reuss_GPa, m.B_GPa, m.G_voigt_GPa, m.G_reuss_GPa, m.G_GPa, m.E_GPa, m.nu)


def _fit_set(
    cache: dict[float, np.ndarray], percents: tuple[float, ...], system: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    strains = np.array(percents) / 100
    stresses = np.stack([cache[p] for p in percents], axis=1)  # (6 patterns, n, 6)
    raw, se = fit_stiffness(strains, stresses)
    sym, err = symmetrize(raw, se, system)
    return raw, sym, err


def calc_elastic(
    atoms: Atoms,
    calc: object,
    *,
    relax_cell: bool = True,
    relax_ions: bool = True,
    fmax_eV_per_A: float = 1e-4,
    tolerance: float = CONSISTENCY_TOLERANCE,
) -> ElasticResult:
    """Elastic constants of `atoms` (conventional cell, crystal axes along x, y, z).

    Raises PropertyError when C is singular or the calculator gives no stress.
    """
    relaxed = relax(atoms, calc, cell=True, fmax_eV_per_A=fmax_eV_per_A) if relax_cell else None
    start = relaxed.atoms if relaxed else atoms.copy()
    converged = [relaxed.converged if relaxed else True]
    system, spacegroup = crystal_system(start)
    averaging = system if system in ("cubic", "hexagonal") and axes_aligned(start, system) else "none"
    cache: dict[float, np.ndarray] = {}

    def measure(percents: tuple[float, ...]) -> None:
        for p in percents:
            if p not in cache:
                pairs = [_stress(start, calc, voigt_strain(j, p / 100), relax_ions, fmax_eV_per_A) for j in range(6)]
                cache[p] = np.stack([stress for stress, _ in pairs])
                converged.extend(ok for _, ok in pairs)

    measure(DELTA1_PERCENT)
    raw, c1, err = _fit_set(cache, DELTA1_PERCENT, averaging)
    _, c2, _ = _fit_set(cache, DELTA2_PERCENT, averaging)
    significant = np.abs(c1) > 0.05 * np.abs(c1).max()
    rel = float(np.max(np.abs(c1 - c2)[significant] / np.abs(c1)[significant])) if significant.any() else 0.0
    used: tuple[float, ...] = DELTA1_PERCENT
    if rel > tolerance:
        measure(REFINE_PERCENT)
        used = tuple(sorted(DELTA1_PERCENT + REFINE_PERCENT))
        raw, c1, err = _fit_set(cache, used, averaging)
    try:
        mod = moduli(c1)
        mod_u = moduli_uncertainty(c1, err, averaging)
    except np.linalg.LinAlgError as exc:
        raise PropertyError(f"stiffness matrix is singular: {exc}") from exc
    violations = born_violations(c1, averaging)
    return ElasticResult(
        C_GPa=_rows(c1),
        C_std_GPa=_rows(err),
        C_raw_GPa=_rows(raw),
        moduli=mod,
        moduli_std=mod_u,
        born_stable=not violations,
        spacegroup=spacegroup,
        crystal_system=system,
        strains_percent=used,
        consistency_max_rel_diff=rel,
        refined=used != DELTA1_PERCENT,
        relax_ions=relax_ions,
        relax_converged=all(converged),
        a_A=float(start.cell.lengths()[0]),
        volume_A3_per_atom=float(start.get_volume() / len(start)),
        c_A=float(start.cell.lengths()[2]),
        averaging=averaging,
        symmetry_max_rel_dev=float(np.abs(raw - c1).max() / np.abs(c1).max()),
        born_violations=violations,
    )


def _rows(m: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in m)
