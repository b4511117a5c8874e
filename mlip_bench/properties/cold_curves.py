"""Cold curves (0 K energy-volume curves) of competing crystal structures (paper 003, Sec. III.A,
Fig. 2): for each structure, the energy minimum over volume and an E(V) curve around it, with
energies per atom relative to a reference structure's minimum (the fcc ground state for Al).

Cells are primitive (fcc, bcc, sc: one atom; hcp, diamond: two), whose atomic positions are all
fixed by symmetry, so no ionic relaxation is needed. For hcp the axial ratio c/a is minimised at
every volume (bounded Brent search); cubic structures are scaled isotropically. Energy minima come
from a bounded Brent search over the volume, not from an EOS fit, so they are exact minima of the
potential's own E(V) up to the search tolerance (1e-5 in volume fraction, << 0.01 meV/atom).

Each sampled point also keeps the potential's own uncertainty of its structure (``calc.results
["uncertainty"]``, adapters/uncertainty.py; for hcp that of the c/a minimum; NaN where none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from scipy.optimize import minimize_scalar

from mlip_bench.errors import PropertyError
from mlip_bench.properties.paths import structure_uncertainty

#: bounded search window of hcp c/a (ideal 1.633)
CA_BOUNDS = (1.3, 2.0)


@dataclass(frozen=True)
class ColdCurve:
    """One structure: minimum energy and volume, c/a at the minimum (hcp; NaN otherwise), the
    sampled E(V) curve in absolute energies (eV/atom), and the potential's uncertainty at the
    minimum and at each sampled volume (its own unit; NaN where it reports none)."""

    name: str
    v0_A3_per_atom: float
    e0_eV_per_atom: float
    c_over_a: float
    volumes_A3_per_atom: tuple[float, ...]
    energies_eV_per_atom: tuple[float, ...]
    uncertainty_at_minimum: float = float("nan")
    uncertainties: tuple[float, ...] = ()

    def numbers(self) -> tuple[dict[str, float], dict[str, list[float]]]:
        """(scalars, arrays): every number of the curve, by field name (what a work item stores)."""
        scalars = {k: float(getattr(self, k)) for k in _SCALARS}
        return scalars, {k: list(getattr(self, k)) for k in _ARRAYS}

    @classmethod
    def from_numbers(cls, name: str, scalars: Mapping[str, float], arrays: Mapping[str, list[float]]) -> ColdCurve:
        """The curve :meth:`numbers` gave (extra keys are ignored); raises KeyError for a missing one."""
        return cls(
            name,
            scalars["v0_A3_per_atom"],
            scalars["e0_eV_per_atom"],
            scalars["c_over_a"],
            tuple(arrays["volumes_A3_per_atom"]),
            tuple(arrays["energies_eV_per_atom"]),
            scalars["uncertainty_at_minimum"],
            tuple(arrays["uncertainties"]),
        )


_SCALARS = ("v0_A3_per_atom", "e0_eV_per_atom", "c_over_a", "uncertainty_at_minimum")
_ARRAYS = ("volumes_A3_per_atom", "energies_eV_per_atom", "uncertainties")


@dataclass(frozen=True)
class ColdCurvesResult:
    curves: tuple[ColdCurve, ...]
    reference: str

    def curve(self, name: str) -> ColdCurve:
        for c in self.curves:
            if c.name == name:
                return c
        raise PropertyError(f"no cold curve named {name!r}")

    def delta_meV_per_atom(self, name: str) -> float:
        """Minimum energy of `name` minus that of the reference structure (meV/atom)."""
        return (self.curve(name).e0_eV_per_atom - self.curve(self.reference).e0_eV_per_atom) * 1000.0

    @property
    def ground_state(self) -> str:
        return min(self.curves, key=lambda c: c.e0_eV_per_atom).name


class _Crystal:
    """Energy per atom of one structure as a function of volume (and c/a when hexagonal)."""

    def __init__(self, atoms: Atoms, calc: Any) -> None:
        self.atoms = atoms
        self.calc = calc
        self.hexagonal = bool(np.isclose(atoms.cell.cellpar()[5], 120.0))
        self.volume0 = atoms.get_volume() / len(atoms)

    def _energy(self, volume: float, c_over_a: float | None) -> tuple[float, float]:
        """(energy eV/atom, uncertainty) at `volume` and, for hexagonal cells, `c_over_a`."""
        work = self.atoms.copy()
        if c_over_a is not None:
            cell = np.asarray(work.cell)
            a = np.linalg.norm(cell[0])
            work.set_cell(np.vstack([cell[:2], cell[2] / np.linalg.norm(cell[2]) * a * c_over_a]), scale_atoms=True)
        scale = (volume * len(work) / work.get_volume()) ** (1 / 3)
        work.set_cell(np.asarray(work.cell) * scale, scale_atoms=True)
        work.calc = self.calc
        energy = float(work.get_potential_energy()) / len(work)
        if not np.isfinite(energy):
            raise PropertyError(f"non-finite energy at {volume:.3f} Å^3/atom")
        return energy, structure_uncertainty(self.calc)

    def energy(self, volume: float) -> tuple[float, float, float]:
        """(energy eV/atom, c/a, uncertainty) at `volume` (Å^3/atom); c/a is minimised for
        hexagonal cells (NaN otherwise), the uncertainty is that of the structure returned."""
        if not self.hexagonal:
            energy, uncertainty = self._energy(volume, None)
            return energy, float("nan"), uncertainty
        seen: dict[float, tuple[float, float]] = {}

        def at(ca: float) -> float:
            seen[float(ca)] = self._energy(volume, ca)
            return seen[float(ca)][0]

        res = minimize_scalar(at, bounds=CA_BOUNDS, method="bounded", options={"xatol": 1e-4})
        # the bounded search returns the best point it evaluated: its uncertainty was seen there
        energy, uncertainty = seen.get(float(res.x), (float(res.fun), float("nan")))
        return energy, float(res.x), uncertainty


def cold_curve(
    name: str,
    atoms: Atoms,
    calc: Any,
    *,
    volume_bounds: tuple[float, float] = (0.6, 2.0),
    volume_factors: tuple[float, ...] = tuple(np.linspace(0.8, 1.25, 10)),
) -> ColdCurve:
    """Minimum of E(V) for `atoms` (searched between `volume_bounds` x its volume) and E(V) at
    `volume_factors` x the minimum volume. Raises PropertyError when the minimum lies on a bound."""
    crystal = _Crystal(atoms, calc)
    lo, hi = (crystal.volume0 * b for b in volume_bounds)
    res = minimize_scalar(
        lambda v: crystal.energy(v)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-5 * crystal.volume0}
    )
    v0 = float(res.x)
    if not lo * 1.001 < v0 < hi * 0.999:
        raise PropertyError(f"{name}: no energy minimum between {lo:.2f} and {hi:.2f} Å^3/atom")
    e0, ca0, u0 = crystal.energy(v0)
    volumes = [v0 * f for f in volume_factors]
    points = [crystal.energy(v) for v in volumes]
    return ColdCurve(
        name,
        v0,
        e0,
        ca0,
        tuple(volumes),
        tuple(p[0] for p in points),
        uncertainty_at_minimum=u0,
        uncertainties=tuple(p[2] for p in points),
    )


def calc_cold_curves(
    structures: Mapping[str, Atoms], calc: Any, *, reference: str = "fcc", **options: Any
) -> ColdCurvesResult:
    """Cold curves of every structure by name; `reference` names the one energies are relative to.
    Options pass to :func:`cold_curve`. Raises PropertyError when the reference is missing or fails."""
    if reference not in structures:
        raise PropertyError(f"reference structure {reference!r} not among {sorted(structures)}")
    curves = tuple(cold_curve(name, atoms, calc, **options) for name, atoms in structures.items())
    return ColdCurvesResult(curves=curves, reference=reference)
