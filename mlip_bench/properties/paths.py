"""Volume-conserving deformation paths of a cubic crystal (paper 003, Sec. III.C, Fig. 3a, b).

Both paths stretch the one-atom fcc primitive cell along a unit direction n at constant volume,
``F = r^(-1/3) (1 - n n^T) + r^(2/3) n n^T``, so the ratio of the length along n to the length
across it changes by the factor r. The coordinate r is the paper's:

- Bain path, n = [001]: r = c/a of the fcc conventional cell; fcc at 1, bcc at 1/sqrt(2).
- trigonal path, n = [111]: r = "stretch ratio" (L'_z/L'_x)/(L_z/L_x); fcc at 1, simple cubic at
  1/2, bcc at 1/4.

A one-atom cell has no internal coordinates, so no ionic relaxation is needed. The volume is
either the potential's own fcc equilibrium volume (found by minimising the energy of the
undistorted cell) or a given one. The path energies depend strongly on it: for ANI-Al, the
trigonal path near sc drops by about 16 meV/atom when a goes from 4.042 to 4.055 Å. A comparison
with a reference curve should use the reference's volume.
Potentials with a finite cutoff longer than the cell need periodic images: ASE calculators for
LAMMPS handle this themselves; ANI and asap3's EMT are wrapped to replicate the cell.

Each point also keeps the potential's own uncertainty of its structure (``calc.results
["uncertainty"]`` after the call, adapters/uncertainty.py; NaN where the calculator reports none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk
from scipy.optimize import minimize_scalar

from mlip_bench.adapters.uncertainty import STRUCTURE_KEY
from mlip_bench.data.curves import ReferenceCurve
from mlip_bench.errors import PropertyError
from mlip_bench.metrics.uncertainty import spearman_rho

BAIN_DIRECTION = (0.0, 0.0, 1.0)
TRIGONAL_DIRECTION = (1.0, 1.0, 1.0)
#: special points on each path: name -> coordinate
BAIN_POINTS = {"fcc": 1.0, "bcc": 1.0 / np.sqrt(2.0)}
TRIGONAL_POINTS = {"fcc": 1.0, "sc": 0.5, "bcc": 0.25}


def structure_uncertainty(calc: Any) -> float:
    """The potential's uncertainty of the structure `calc` last computed (``results["uncertainty"]``,
    in the unit its PotentialInfo.uncertainty declares); NaN when the calculator reports none."""
    value = getattr(calc, "results", {}).get(STRUCTURE_KEY)
    return float(value) if value is not None else float("nan")


@dataclass(frozen=True)
class PathResult:
    """Energies along one path, per atom, relative to the undistorted fcc cell (r = 1), and the
    potential's uncertainty of each point's structure (its own unit; NaN where it reports none)."""

    ratios: tuple[float, ...]
    energies_meV_per_atom: tuple[float, ...]
    volume_A3_per_atom: float
    e_fcc_eV_per_atom: float
    uncertainties: tuple[float, ...] = ()

    def sampled(self, ratio: float) -> bool:
        """Whether the path has an energy at coordinate `ratio` (to 1e-9)."""
        return any(abs(r - ratio) < 1e-9 for r in self.ratios)

    def numbers(self) -> tuple[dict[str, float], dict[str, list[float]]]:
        """(scalars, arrays): every number of the path, by field name (what a work item stores)."""
        scalars = {"volume_A3_per_atom": self.volume_A3_per_atom, "e_fcc_eV_per_atom": self.e_fcc_eV_per_atom}
        arrays = ("ratios", "energies_meV_per_atom", "uncertainties")
        return scalars, {k: list(getattr(self, k)) for k in arrays}

    @classmethod
    def from_numbers(cls, scalars: Mapping[str, float], arrays: Mapping[str, list[float]]) -> PathResult:
        """The path :meth:`numbers` gave (extra keys are ignored); raises KeyError for a missing one."""
        return cls(
            tuple(arrays["ratios"]),
            tuple(arrays["energies_meV_per_atom"]),
            scalars["volume_A3_per_atom"],
            scalars["e_fcc_eV_per_atom"],
            tuple(arrays["uncertainties"]),
        )

    def energy_at(self, ratio: float) -> float:
        """Energy (meV/atom) at a computed coordinate; raises PropertyError when it was not sampled."""
        hits = [e for r, e in zip(self.ratios, self.energies_meV_per_atom, strict=True) if abs(r - ratio) < 1e-9]
        if not hits:
            raise PropertyError(f"path coordinate {ratio:.6f} was not sampled")
        return hits[0]


def stretch(atoms: Atoms, direction: tuple[float, float, float], ratio: float) -> Atoms:
    """Copy of `atoms` stretched at constant volume: the length along `direction` over the length
    across it is multiplied by `ratio` (> 0)."""
    if ratio <= 0:
        raise PropertyError(f"path coordinate must be positive, got {ratio}")
    n = np.asarray(direction, float)
    n /= np.linalg.norm(n)
    nn = np.outer(n, n)
    deformation = ratio ** (-1 / 3) * (np.eye(3) - nn) + ratio ** (2 / 3) * nn
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ deformation.T, scale_atoms=True)
    return out


def _energy_per_atom(atoms: Atoms, calc: Any) -> float:
    return _evaluate(atoms, calc)[0]


def _evaluate(atoms: Atoms, calc: Any) -> tuple[float, float]:
    """(energy eV/atom, the potential's uncertainty of the structure or NaN)."""
    work = atoms.copy()
    work.calc = calc
    energy = float(work.get_potential_energy()) / len(work)
    return energy, structure_uncertainty(calc)


def equilibrium_volume(atoms: Atoms, calc: Any, *, bounds: tuple[float, float] = (0.7, 1.5)) -> tuple[Atoms, float]:
    """Isotropically scaled copy of `atoms` at the energy minimum (bounded Brent search over the
    volume factor) and its energy per atom (eV). Raises PropertyError when the minimum lies on a bound."""

    def scaled(factor: float) -> Atoms:
        out = atoms.copy()
        out.set_cell(np.asarray(atoms.cell) * factor ** (1 / 3), scale_atoms=True)
        return out

    res = minimize_scalar(
        lambda f: _energy_per_atom(scaled(f), calc), bounds=bounds, method="bounded", options={"xatol": 1e-5}
    )
    if not bounds[0] + 1e-3 < res.x < bounds[1] - 1e-3:
        raise PropertyError(f"no energy minimum between {bounds[0]} and {bounds[1]} x the starting volume")
    best = scaled(float(res.x))
    return best, _energy_per_atom(best, calc)


def calc_path(
    element: str,
    a_A: float,
    calc: Any,
    *,
    direction: tuple[float, float, float],
    ratios: tuple[float, ...],
    relax_volume: bool = True,
) -> PathResult:
    """Energies (meV/atom, relative to fcc) along a volume-conserving path starting from the fcc
    primitive cell of lattice constant `a_A` (Å): at the potential's own fcc equilibrium volume
    (`relax_volume`, `a_A` is then only the starting guess) or at the volume of `a_A` itself
    (to compare with a reference curve computed at that volume).

    Raises PropertyError when no fcc equilibrium is found; EvaluationError passes through from the
    calculator wrapper.
    """
    fcc = bulk(element, "fcc", a=a_A)
    if relax_volume:
        fcc, e_fcc = equilibrium_volume(fcc, calc)
    else:
        e_fcc = _energy_per_atom(fcc, calc)
    points = [(r, *_evaluate(stretch(fcc, direction, r), calc)) for r in ratios]
    return path_result(points, e_fcc_eV_per_atom=e_fcc, volume_A3_per_atom=float(fcc.get_volume() / len(fcc)))


def path_point(
    element: str, a_A: float, calc: Any, *, direction: tuple[float, float, float], ratio: float | None
) -> tuple[float, float]:
    """(energy eV/atom, the potential's uncertainty or NaN) of one point of a path at the volume of
    the fcc lattice constant `a_A` (Å): the fcc primitive cell stretched by `ratio`, or the undistorted
    cell itself (`ratio` None: the reference of every path energy). One potential call, the same
    structure :func:`calc_path` evaluates without `relax_volume`, so the numbers are the same.

    Raises PropertyError for a non-finite energy; EvaluationError passes through from the calculator."""
    fcc = bulk(element, "fcc", a=a_A)
    energy, uncertainty = _evaluate(fcc if ratio is None else stretch(fcc, direction, ratio), calc)
    if not np.isfinite(energy):
        where = "the undistorted fcc cell" if ratio is None else f"path coordinate {ratio}"
        raise PropertyError(f"non-finite energy at {where}")
    return energy, uncertainty


def fcc_volume_A3_per_atom(element: str, a_A: float) -> float:
    """Volume per atom (Å³) of the fcc cell of lattice constant `a_A` (Å), that of every point."""
    fcc = bulk(element, "fcc", a=a_A)
    return float(fcc.get_volume() / len(fcc))


def path_result(
    points: Iterable[tuple[float, float, float]], *, e_fcc_eV_per_atom: float, volume_A3_per_atom: float
) -> PathResult:
    """The path from its points (coordinate, energy eV/atom, uncertainty), energies relative to the
    undistorted fcc cell's `e_fcc_eV_per_atom`. Raises PropertyError when an energy is not finite."""
    points = list(points)
    energies = [(e - e_fcc_eV_per_atom) * 1000.0 for _, e, _ in points]
    if not np.all(np.isfinite(energies)):
        raise PropertyError("non-finite energy along the path")
    return PathResult(
        ratios=tuple(float(r) for r, _, _ in points),
        energies_meV_per_atom=tuple(float(e) for e in energies),
        volume_A3_per_atom=volume_A3_per_atom,
        e_fcc_eV_per_atom=e_fcc_eV_per_atom,
        uncertainties=tuple(u for _, _, u in points),
    )


def path_grid(start: float, stop: float, step: float, extra: Iterable[float] = ()) -> tuple[float, ...]:
    """Evenly spaced coordinates from `start` to `stop` (inclusive) plus the `extra` points inside
    (special points, a reference curve's coordinates), rounded to 1e-10."""
    n = round((stop - start) / step) + 1
    grid = {round(float(v), 10) for v in np.linspace(start, stop, n)}
    grid |= {round(float(v), 10) for v in extra if start - 1e-12 <= v <= stop + 1e-12}
    return tuple(sorted(grid))


def errors_against(result: PathResult, reference: ReferenceCurve) -> dict[float, float]:
    """Path energy minus reference (meV/atom) at each of the reference's own coordinates that the
    path sampled (no interpolation), by coordinate (rounded to 1e-10)."""
    computed = dict(zip(np.round(result.ratios, 10), result.energies_meV_per_atom, strict=True))
    return {
        float(x): computed[x] - y for x, y in zip(np.round(reference.x, 10), reference.y, strict=True) if x in computed
    }


def uncertainty_error_rho(result: PathResult, reference: ReferenceCurve) -> float:
    """Spearman ρ of the uncertainty at each reference point on the path and |E - E_ref| there (NaN
    with fewer than 3 points)."""
    errors = errors_against(result, reference)
    by_ratio = dict(zip(np.round(result.ratios, 10), result.uncertainties, strict=True))
    return spearman_rho([by_ratio[x] for x in errors], list(errors.values()))


def rmse_against(result: PathResult, reference: ReferenceCurve, *, min_points: int = 3) -> tuple[float, int]:
    """RMSE (meV/atom) between the path and a reference curve at the reference's own coordinates
    (those the path sampled; no interpolation) and the number of points used. Raises
    PropertyError when fewer than `min_points` of them were sampled."""
    diff = np.array(list(errors_against(result, reference).values()))
    if diff.size < min_points:
        raise PropertyError(f"only {diff.size} points of reference curve {reference.key!r} lie on the sampled path")
    return float(np.sqrt(np.mean(diff**2))), int(diff.size)
