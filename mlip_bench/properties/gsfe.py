"""Generalised stacking-fault energy (GSFE) of close-packed planes: the fcc {111}<112> slip and
twinning paths and the hcp (0001)<10-10> basal slip path.

Method ("tilted cell", no free surfaces): a periodic stack of `n_layers` close-packed planes
(``ase.build.fcc111``/``hcp0001``, z normal to the planes, y along the partial-slip direction
<112> / <10-10>) whose c vector is shifted in-plane by the fault displacement, so the one fault
sits at the cell boundary and nothing but that fault differs from the bulk. Slip of `x` partial
Burgers vectors b_p (|b_p| = a/sqrt(6) in fcc, a/sqrt(3) in hcp) shifts c by x b_p; the twinning
path (x > 1) also shears the planes below the boundary one by one, so that at x = n the n planes
next to the boundary are faulted (n-layer fault: x = 1 intrinsic fault, 2 extrinsic fault, 3 a
three-layer twin, i.e. two twin boundaries). γ(x) = (E(x) - E(0)) / A.

Why a tilted cell rather than a slab with vacuum: no surfaces, so no surface-fault interaction and
nothing to cancel between E(x) and E(0); the fault only meets its own periodic image, and the
result is converged at a few nm (checked by the caller with a second thickness).

Relaxation: atoms move along z only (in-plane positions fixed, ``FixCartesian``); by default the
cell height relaxes too (zero normal stress, ``UnitCellFilter`` masked to zz; in-plane cell and
tilt fixed). With a fixed height the fault's normal expansion compresses the rest of the cell and
γ converges only as 1/N: Mishin Al EAM γ_isf = 151.7, 148.9, 147.9, 147.3 mJ/m² for 6, 12, 18,
24 planes, against 145.5 for all four with the height relaxed.

Each point also keeps the potential's own uncertainty of its relaxed cell (``calc.results
["uncertainty"]``, adapters/uncertainty.py; NaN where the calculator reports none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import fcc111, hcp0001
from ase.constraints import FixCartesian
from ase.filters import UnitCellFilter
from ase.optimize import BFGS

from mlip_bench.errors import PropertyError
from mlip_bench.properties.paths import structure_uncertainty
from mlip_bench.units import EV_PER_A2_TO_MJ_PER_M2

_BUILDERS: dict[str, Callable[..., Atoms]] = {"fcc": fcc111, "hcp": hcp0001}


@dataclass(frozen=True)
class FaultCell:
    """A perfect stack of close-packed planes, ready to be faulted.

    `atoms`: orthogonal periodic cell, z normal to the planes, atoms sorted by plane;
    `plane_of_atom` (N,) plane index from 0 (bottom); `burgers_A` (3,) the partial Burgers
    vector whose slip across the cell boundary makes the low-energy fault (the other sense
    puts a plane on top of its neighbour); `area_A2` the fault area of the cell.
    """

    atoms: Atoms
    plane_of_atom: np.ndarray
    burgers_A: np.ndarray
    area_A2: float

    @property
    def n_planes(self) -> int:
        return int(self.plane_of_atom.max()) + 1


def fault_cell(element: str, crystal: str, *, a_A: float, c_A: float | None = None, n_layers: int) -> FaultCell:
    """A stack of `n_layers` planes of fcc {111} or hcp (0001); raises PropertyError for another
    crystal, or a layer count that does not repeat the stacking (3n for fcc, 2n for hcp)."""
    if crystal not in _BUILDERS:
        raise PropertyError(f"GSFE needs an fcc or hcp crystal, got {crystal!r}")
    period = 3 if crystal == "fcc" else 2
    if n_layers < 2 * period or n_layers % period:
        raise PropertyError(f"{crystal}: n_layers must be a multiple of {period} and >= {2 * period}, got {n_layers}")
    kwargs = {"a": a_A} if crystal == "fcc" else {"a": a_A, "c": c_A}
    atoms = _BUILDERS[crystal](element, size=(1, 2, n_layers), orthogonal=True, periodic=True, **kwargs)
    atoms.wrap()
    z = atoms.positions[:, 2]
    order = np.argsort(z, kind="stable")
    atoms = atoms[order]
    spacing = atoms.cell[2, 2] / n_layers
    plane = np.rint(atoms.positions[:, 2] / spacing).astype(int) % n_layers
    length_y = atoms.cell[1, 1]
    return FaultCell(
        atoms=atoms,
        plane_of_atom=plane,
        burgers_A=_easy_sense(atoms, plane, np.array([0.0, length_y / 3, 0.0])),
        area_A2=float(atoms.cell[0, 0] * length_y),
    )


def _easy_sense(atoms: Atoms, plane: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+b or -b: the sense in which slipping the bottom plane's periodic image (above the top
    plane) does not put its atoms right above the top plane's atoms."""
    top = atoms.positions[plane == plane.max()]
    image = atoms.positions[plane == 0][0] + atoms.cell[2]
    lengths = np.array([atoms.cell[0, 0], atoms.cell[1, 1]])
    for sense in (b, -b):
        delta = (top[:, :2] - (image + sense)[:2]) / lengths
        delta -= np.rint(delta)
        if np.min(np.linalg.norm(delta * lengths, axis=1)) > 0.1:
            return sense
    raise PropertyError("cannot find the slip sense of the partial Burgers vector")  # pragma: no cover


def faulted(cell: FaultCell, x: float) -> Atoms:
    """The cell displaced by `x` partial Burgers vectors (0 <= x): the c vector shifts by x b_p and
    plane N-j (j >= 1) by max(x - j, 0) b_p, so each slip step faults the plane below the previous
    one. The c shift is reduced modulo the in-plane period (the same lattice, a small tilt)."""
    atoms = cell.atoms.copy()
    n = cell.n_planes
    shift = np.maximum(x - (n - cell.plane_of_atom), 0.0)
    atoms.positions += shift[:, None] * cell.burgers_A[None, :]
    c = atoms.cell[2] + x * cell.burgers_A
    c[1] -= np.rint(c[1] / atoms.cell[1, 1]) * atoms.cell[1, 1]
    atoms.set_cell([atoms.cell[0], atoms.cell[1], c], scale_atoms=False)
    atoms.wrap()
    return atoms


@dataclass(frozen=True)
class RelaxedFault:
    """Relaxed energy (eV), whether fmax was reached, steps, and the potential's uncertainty of the
    relaxed cell (its own unit; NaN: none reported)."""

    energy_eV: float
    converged: bool
    steps: int
    uncertainty: float = float("nan")


def relaxed_fault(
    cell: FaultCell,
    x: float,
    calc: object,
    *,
    relax_height: bool = True,
    fmax_eV_per_A: float = 1e-3,
    steps: int = 200,
) -> RelaxedFault:
    """Energy (eV) of the cell faulted by `x` b_p after relaxing the atoms along z only; with
    `relax_height` also the cell height (zero normal stress; in-plane cell and tilt fixed)."""
    atoms = faulted(cell, x)
    atoms.set_constraint(FixCartesian(range(len(atoms)), mask=(True, True, False)))
    atoms.calc = calc
    target: Any = UnitCellFilter(atoms, mask=[False, False, True, False, False, False]) if relax_height else atoms
    optimizer = BFGS(target, logfile=None)
    converged = bool(optimizer.run(fmax=fmax_eV_per_A, steps=steps))
    energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        raise PropertyError(f"non-finite energy at x = {x} b_p")
    return RelaxedFault(energy, converged, int(optimizer.nsteps), structure_uncertainty(calc))


@dataclass(frozen=True)
class GSFEPath:
    """Fault energy γ (mJ/m²) against displacement x in partial Burgers vectors b_p, and the
    potential's uncertainty of each relaxed cell (its own unit; NaN where it reports none)."""

    x_bp: tuple[float, ...]
    gamma_mJ_per_m2: tuple[float, ...]
    converged: bool
    max_steps: int
    uncertainties: tuple[float, ...] = ()

    def peak(self, lo: float, hi: float) -> float:
        """Maximum of γ on lo < x < hi: the grid maximum refined by a parabola through it and
        its two neighbours (a grid of 0.05 b_p leaves the saddle a few tenths of mJ/m² off)."""
        x, y = np.asarray(self.x_bp), np.asarray(self.gamma_mJ_per_m2)
        inside = np.flatnonzero((x > lo + 1e-9) & (x < hi - 1e-9))
        if inside.size == 0:
            raise PropertyError(f"no GSFE points between {lo} and {hi} b_p")
        i = int(inside[np.argmax(y[inside])])
        if i in (inside[0], inside[-1]):
            return float(y[i])
        (x0, x1, x2), (y0, y1, y2) = x[i - 1 : i + 2], y[i - 1 : i + 2]
        coeffs = np.polyfit([x0, x1, x2], [y0, y1, y2], 2)
        if coeffs[0] >= 0:
            return float(y1)
        return float(max(y1, np.polyval(coeffs, -coeffs[1] / (2 * coeffs[0]))))

    def at(self, x: float) -> float:
        i = int(np.argmin(np.abs(np.asarray(self.x_bp) - x)))
        if abs(self.x_bp[i] - x) > 1e-6:
            raise PropertyError(f"GSFE path has no point at x = {x} b_p")
        return self.gamma_mJ_per_m2[i]


def gsfe_path(
    cell: FaultCell, calc: object, xs: Iterable[float], *, relax_height: bool = True, fmax_eV_per_A: float = 1e-3
) -> GSFEPath:
    """γ(x) = (E(x) - E(0)) / A in mJ/m² at each x of `xs`, E(0) the perfect cell relaxed the same
    way (so a lattice constant slightly off the potential's own does not shift the curve)."""

    def relaxed(x: float) -> RelaxedFault:
        return relaxed_fault(cell, x, calc, relax_height=relax_height, fmax_eV_per_A=fmax_eV_per_A)

    perfect = relaxed(0.0)
    results = [perfect if x == 0 else relaxed(float(x)) for x in xs]
    to_mj = EV_PER_A2_TO_MJ_PER_M2 / cell.area_A2
    return GSFEPath(
        x_bp=tuple(float(x) for x in xs),
        gamma_mJ_per_m2=tuple((r.energy_eV - perfect.energy_eV) * to_mj for r in results),
        converged=all(r.converged for r in results),
        max_steps=max(r.steps for r in results),
        uncertainties=tuple(r.uncertainty for r in results),
    )


@dataclass(frozen=True)
class GSFEResult:
    """Fault energies in mJ/m². Twinning values are NaN when no twinning path was computed
    (hcp, or `twin_layers` < 2). `gamma_tb` is half the `twin_layers`-layer fault energy (two
    twin boundaries), only for `twin_layers` >= 3. `thickness_change` is the largest change of
    γ_usf and γ_isf from `check_layers` planes to `n_layers` planes (NaN without a check)."""

    a_A: float
    c_A: float
    n_layers: int
    burgers_A: float
    gamma_usf_mJ_per_m2: float
    gamma_isf_mJ_per_m2: float
    gamma_utf_mJ_per_m2: float
    gamma_esf_mJ_per_m2: float
    gamma_tb_mJ_per_m2: float
    thickness_change_mJ_per_m2: float
    relax_converged: bool
    path: GSFEPath


def calc_gsfe(
    element: str,
    crystal: str,
    calc: object,
    *,
    a_A: float,
    c_A: float | None = None,
    n_layers: int = 24,
    twin_layers: int = 3,
    points_per_bp: int = 20,
    check_layers: int | None = None,
    relax_height: bool = True,
    fmax_eV_per_A: float = 1e-3,
    extra_x_bp: Sequence[float] = (),
) -> GSFEResult:
    """GSFE of `element` at the given lattice constants (Å): slip path 0..1 b_p and, for fcc with
    `twin_layers` >= 2, the twinning path up to `twin_layers` b_p, `points_per_bp` steps per b_p
    plus the points of `extra_x_bp` on that range (a reference curve's own coordinates).

    Raises PropertyError for a crystal other than fcc/hcp or a bad layer count; EvaluationError
    (from a guarded calculator) when the potential fails.
    """
    n_steps = twin_layers if crystal == "fcc" and twin_layers >= 2 else 1
    cell = fault_cell(element, crystal, a_A=a_A, c_A=c_A, n_layers=n_layers)
    if n_steps >= n_layers // 2:
        raise PropertyError(f"{n_layers} planes are too few for a {n_steps}-layer fault")
    grid = np.linspace(0.0, n_steps, n_steps * points_per_bp + 1)
    extra = [x for x in extra_x_bp if 0.0 <= x <= n_steps]
    xs = np.unique(np.round(np.concatenate([grid, extra]), 8))
    path = gsfe_path(cell, calc, xs, relax_height=relax_height, fmax_eV_per_A=fmax_eV_per_A)
    usf, isf = path.peak(0.0, 1.0), path.at(1.0)
    change = float("nan")
    if check_layers is not None:
        other = fault_cell(element, crystal, a_A=a_A, c_A=c_A, n_layers=check_layers)
        slip = [i for i, x in enumerate(path.x_bp) if x <= 1.0]
        x_usf = path.x_bp[max(slip, key=lambda i: path.gamma_mJ_per_m2[i])]
        check = gsfe_path(other, calc, [0.0, x_usf, 1.0], relax_height=relax_height, fmax_eV_per_A=fmax_eV_per_A)
        change = max(abs(check.gamma_mJ_per_m2[1] - path.at(x_usf)), abs(check.gamma_mJ_per_m2[2] - isf))
    nan = float("nan")
    return GSFEResult(
        a_A=a_A,
        c_A=float(c_A) if c_A is not None else nan,
        n_layers=n_layers,
        burgers_A=float(np.linalg.norm(cell.burgers_A)),
        gamma_usf_mJ_per_m2=usf,
        gamma_isf_mJ_per_m2=isf,
        gamma_utf_mJ_per_m2=path.peak(1.0, 2.0) if n_steps >= 2 else nan,
        gamma_esf_mJ_per_m2=path.at(2.0) if n_steps >= 2 else nan,
        gamma_tb_mJ_per_m2=path.at(float(n_steps)) / 2 if n_steps >= 3 else nan,
        thickness_change_mJ_per_m2=change,
        relax_converged=path.converged,
        path=path,
    )
