"""Surface energies and first-layer relaxations of low-index slabs (``ase.build`` surfaces).

γ = (E_slab - N · e_bulk) / (2 A): a symmetric slab of N atoms with two surfaces of area A, at the
potential's own relaxed bulk lattice constants (lateral cell fixed, positions relaxed), e_bulk the
relaxed bulk energy per atom. The first interlayer relaxation is Δd12 = (d12 / d12_bulk - 1) x 100 %
(negative = inward), averaged over the two surfaces. Slabs of several thicknesses show convergence;
the thickest gives the reported values. Lateral cells are the smallest orthogonal ones (1 or 2 atoms
per layer): relaxation keeps the ideal in-plane order, so no reconstruction is sampled. fcc {100},
{110}, {111} follow paper 003 Sec. III.G; hcp (0001), both terminations of (10-10) and (11-20)
follow paper 002 Sec. III.C.4.

The potential's own uncertainty (``calc.results["uncertainty"]``, adapters/uncertainty.py) is kept
for the relaxed bulk cell and every relaxed slab (NaN where the calculator reports none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms
from ase.build import bulk, fcc100, fcc110, fcc111, hcp0001, hcp10m10, surface
from ase.optimize import LBFGS

from mlip_bench.errors import PropertyError
from mlip_bench.properties.paths import structure_uncertainty
from mlip_bench.properties.relax import relax
from mlip_bench.units import EV_PER_A2_TO_MJ_PER_M2

#: space group number -> crystal
_CRYSTALS = {225: "fcc", 194: "hcp"}
#: atomic planes closer than this (Å) along the normal are one layer
_LAYER_TOL_A = 0.2


def _fcc(builder: Callable[..., Atoms], lateral: tuple[int, int]) -> Callable[[str, float, float, int, float], Atoms]:
    def build(element: str, a: float, c: float, units: int, vacuum: float) -> Atoms:
        return builder(element, (*lateral, units), a=a, vacuum=vacuum, orthogonal=True, periodic=True)

    return build


def _hcp_basal(element: str, a: float, c: float, units: int, vacuum: float) -> Atoms:
    return hcp0001(element, (1, 2, units), a=a, c=c, vacuum=vacuum, orthogonal=True, periodic=True)


def _prism_long(element: str, a: float, c: float, units: int, vacuum: float) -> Atoms:
    """(10-10) cut through the short interlayer gap: the outermost spacing is the long a/√3."""
    return hcp10m10(element, (1, 2, units), a=a, c=c, vacuum=vacuum, orthogonal=True, periodic=True)


def _hcp_cut(indices: tuple[int, int, int]) -> Callable[[str, float, float, int, float], Atoms]:
    """Slabs cut from the primitive hcp cell by ``ase.build.surface`` (three-index Miller indices of
    that cell: (1, 0, 0) is (10-10) cut through the long gap, so its outermost spacing is the short
    a/(2√3); (1, 1, 0) is (11-20))."""

    def build(element: str, a: float, c: float, units: int, vacuum: float) -> Atoms:
        return surface(bulk(element, "hcp", a=a, c=c), indices, units, vacuum=vacuum, periodic=True)

    return build


@dataclass(frozen=True)
class Facet:
    crystal: str
    label: str
    build: Callable[[str, float, float, int, float], Atoms]


#: surfaces by name: the crystal they belong to, a label and a slab builder
#: (element, a, c, repeat units along the normal, vacuum per side) -> Atoms
FACETS: dict[str, Facet] = {
    "100": Facet("fcc", "{100}", _fcc(fcc100, (1, 1))),
    "110": Facet("fcc", "{110}", _fcc(fcc110, (1, 1))),
    "111": Facet("fcc", "{111}", _fcc(fcc111, (1, 2))),
    "0001": Facet("hcp", "(0001) basal", _hcp_basal),
    "10m10_short": Facet("hcp", "(10-10) prismatic, short outer spacing", _hcp_cut((1, 0, 0))),
    "10m10_long": Facet("hcp", "(10-10) prismatic, long outer spacing", _prism_long),
    "11m20": Facet("hcp", "(11-20) prismatic II", _hcp_cut((1, 1, 0))),
}
DEFAULT_FACETS: dict[str, tuple[str, ...]] = {
    "fcc": ("100", "110", "111"),
    "hcp": ("0001", "10m10_short", "10m10_long", "11m20"),
}


@dataclass(frozen=True)
class FacetResult:
    """One surface: values of the thickest slab, and γ for every slab thickness (convergence)."""

    facet: str
    gamma_mJ_per_m2: float
    gamma_unrelaxed_mJ_per_m2: float
    d12_percent: float
    d23_percent: float
    n_layers: int
    n_atoms: int
    thickness_A: float
    vacuum_A: float
    thicknesses_A: tuple[float, ...]
    gammas_mJ_per_m2: tuple[float, ...]
    #: |γ(thickest) - γ(next thinner)|, the slab-thickness convergence
    thickness_change_mJ_per_m2: float
    #: change of the unrelaxed γ of the thickest slab when the vacuum is doubled
    vacuum_change_mJ_per_m2: float
    relax_converged: bool
    #: the potential's uncertainty of each relaxed slab (aligned with `thicknesses_A`; its own unit)
    uncertainties: tuple[float, ...] = ()


@dataclass(frozen=True)
class SurfaceResult:
    a_A: float
    c_A: float
    e_bulk_eV_per_atom: float
    facets: tuple[FacetResult, ...]
    #: the potential's uncertainty of the relaxed bulk cell (its own unit; NaN: none reported)
    bulk_uncertainty: float = float("nan")


def calc_surfaces(
    atoms: Atoms,
    calc: object,
    *,
    facets: tuple[str, ...] | None = None,
    min_thicknesses_A: tuple[float, ...] = (10.0, 15.0, 20.0),
    vacuum_A: float = 20.0,
    fmax_eV_per_A: float = 1e-3,
    steps: int = 1000,
) -> SurfaceResult:
    """γ (mJ/m²) and Δd12, Δd23 (%) of each facet (default: :data:`DEFAULT_FACETS` of the crystal),
    from the conventional cell `atoms` of an fcc or hcp element.

    Each facet is computed on slabs at least `min_thicknesses_A` thick (outermost atom planes), with
    `vacuum_A` of vacuum between periodic images. Raises PropertyError for another crystal, an
    unknown facet or one of another crystal, or a bulk relaxation that does not converge.
    """
    crystal = crystal_of(atoms)
    facets = DEFAULT_FACETS[crystal] if facets is None else facets
    for name in facets:
        facet = FACETS.get(name)
        if facet is None or facet.crystal != crystal:
            known = sorted(k for k, f in FACETS.items() if f.crystal == crystal)
            raise PropertyError(f"no {crystal} surface named {name!r} (known: {known})")
    if len(min_thicknesses_A) < 2:
        raise PropertyError("at least two slab thicknesses are needed to show convergence")
    bulk = relax(atoms, calc, cell=True, fmax_eV_per_A=1e-4)
    if not bulk.converged:
        raise PropertyError(f"bulk relaxation of {atoms.get_chemical_formula()} did not reach fmax 1e-4 eV/Å")
    a, _, c = bulk.atoms.cell.lengths()
    e_bulk = float(bulk.atoms.get_potential_energy()) / len(bulk.atoms)
    bulk_uncertainty = structure_uncertainty(calc)
    element = atoms.get_chemical_symbols()[0]
    results = tuple(
        _facet(name, element, a, c, e_bulk, calc, min_thicknesses_A, vacuum_A, fmax_eV_per_A, steps) for name in facets
    )
    return SurfaceResult(
        a_A=float(a), c_A=float(c), e_bulk_eV_per_atom=e_bulk, facets=results, bulk_uncertainty=bulk_uncertainty
    )


def crystal_of(atoms: Atoms) -> str:
    """ "fcc" or "hcp" from the space group (spglib); raises PropertyError for anything else."""
    dataset = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers))
    crystal = _CRYSTALS.get(dataset.number if dataset is not None else 0)
    if crystal is None or len(set(atoms.numbers)) != 1:
        raise PropertyError(f"surfaces are defined for fcc and hcp elements, not {atoms.get_chemical_formula()}")
    return crystal


def _slab(name: str, element: str, a: float, c: float, min_thickness: float, vacuum: float) -> Atoms:
    """The thinnest slab of `name` whose outermost planes are at least `min_thickness` apart."""
    for units in range(2, 200):
        slab = FACETS[name].build(element, a, c, units, vacuum / 2)
        if np.ptp(slab.positions[:, 2]) >= min_thickness:
            return slab
    raise PropertyError(f"cannot build a {name} slab {min_thickness} Å thick")


def _gamma(slab: Atoms, calc: object, e_bulk: float) -> float:
    work = slab.copy()
    work.calc = calc
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    return (float(work.get_potential_energy()) - len(slab) * e_bulk) / (2 * area) * EV_PER_A2_TO_MJ_PER_M2


def _facet(
    name: str,
    element: str,
    a: float,
    c: float,
    e_bulk: float,
    calc: object,
    thicknesses: tuple[float, ...],
    vacuum: float,
    fmax: float,
    steps: int,
) -> FacetResult:
    gammas, sizes, uncertainties, converged = [], [], [], True
    relaxed = slab = Atoms()
    for thickness in sorted(thicknesses):
        slab = _slab(name, element, a, c, thickness, vacuum)
        relaxed = slab.copy()
        relaxed.calc = calc
        optimizer = LBFGS(relaxed, logfile=None)  # type: ignore[arg-type]  # ase accepts None; its stub says IO | str
        converged &= bool(optimizer.run(fmax=fmax, steps=steps))
        gammas.append(_gamma(relaxed, calc, e_bulk))
        uncertainties.append(structure_uncertainty(calc))
        sizes.append(float(np.ptp(slab.positions[:, 2])))
    unrelaxed = _gamma(slab, calc, e_bulk)
    wider = slab.copy()
    wider.center(vacuum=vacuum, axis=2)
    d12, d23, n_layers = _relaxations(slab, relaxed)
    return FacetResult(
        facet=name,
        gamma_mJ_per_m2=gammas[-1],
        gamma_unrelaxed_mJ_per_m2=unrelaxed,
        d12_percent=d12,
        d23_percent=d23,
        n_layers=n_layers,
        n_atoms=len(slab),
        thickness_A=sizes[-1],
        vacuum_A=float(slab.cell[2, 2] - sizes[-1]),
        thicknesses_A=tuple(sizes),
        gammas_mJ_per_m2=tuple(gammas),
        thickness_change_mJ_per_m2=abs(gammas[-1] - gammas[-2]),
        vacuum_change_mJ_per_m2=abs(_gamma(wider, calc, e_bulk) - unrelaxed),
        relax_converged=converged,
        uncertainties=tuple(uncertainties),
    )


def _relaxations(ideal: Atoms, relaxed: Atoms) -> tuple[float, float, int]:
    """Δd12 and Δd23 (%), mean of the two surfaces, and the number of layers. Layers are the
    ideal slab's planes; a relaxed layer's height is the mean height of its atoms."""
    z0 = ideal.positions[:, 2]
    order = np.argsort(z0)
    breaks = np.flatnonzero(np.diff(z0[order]) > _LAYER_TOL_A) + 1
    layers = np.split(order, breaks)
    if len(layers) < 6:
        raise PropertyError(f"slab of {len(layers)} layers is too thin for d12 and d23 on both surfaces")
    ideal_h = np.array([z0[layer].mean() for layer in layers])
    relaxed_h = np.array([relaxed.positions[layer, 2].mean() for layer in layers])

    def change(i: int) -> float:
        bottom = (relaxed_h[i + 1] - relaxed_h[i]) / (ideal_h[i + 1] - ideal_h[i])
        top = (relaxed_h[-1 - i] - relaxed_h[-2 - i]) / (ideal_h[-1 - i] - ideal_h[-2 - i])
        return float((bottom + top) / 2 - 1) * 100

    return change(0), change(1), len(layers)
