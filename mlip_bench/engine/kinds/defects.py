"""Defect kinds on ideal crystals from the spec's ``structures``: ``point_defects`` (vacancy and
<100> dumbbell formation energies against supercell size) and ``surfaces`` (surface energies and
interlayer relaxations against slab thickness). Each structure is one item; the largest supercell
and the thickest slab give the metric values, every size is kept as item arrays and curves.

When the potential declares an uncertainty (adapters/uncertainty.py), items also record it, in the
unit the declaration names (``info.unit``): ``uncertainty_max`` (every structure evaluated, see
:mod:`~mlip_bench.engine.kinds.crystal`); point defects: curves ``vacancy_uncertainty`` and
``dumbbell100_uncertainty`` (x: atoms in the perfect supercell, y: uncertainty of the relaxed defect
cell), array ``perfect_uncertainty`` (each perfect supercell) and values ``uncertainty_max_vacancy``,
``uncertainty_max_dumbbell100`` (largest over the cells entering E_f); surfaces: curves
``gamma_<facet>_uncertainty`` (x: slab thickness Å, y: uncertainty of the relaxed slab), values
``uncertainty_bulk`` and ``uncertainty_max_<facet>`` (largest of the bulk cell and the facet's slabs)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds.base import TaskContext
from mlip_bench.engine.kinds.crystal import CrystalKind, declares_uncertainty
from mlip_bench.engine.parameters import BOOLEAN, POSITIVE, POSITIVE_INTEGER, Param, array, fmax_param, nullable, one_of
from mlip_bench.properties.defects import PointDefectResult, calc_point_defects
from mlip_bench.properties.surfaces import DEFAULT_FACETS, FACETS, FacetResult, calc_surfaces
from mlip_bench.units import EV_TO_MEV

Values = tuple[dict[str, float], dict[str, list[float]]]


class PointDefectsKind(CrystalKind):
    """Parameters: ``sizes`` (supercells n x n x n of the conventional cell, default [3, 4, 5]),
    ``relax_volume`` (false: positions only at the bulk volume), ``dumbbell100`` (true; cubic cells
    only), ``fmax_eV_per_A`` (1e-3)."""

    name = "point_defects"
    parameters = (
        Param("sizes", (3, 4, 5), array(POSITIVE_INTEGER, min_items=1), "", "n x n x n conventional-cell supercells"),
        Param("dumbbell100", True, BOOLEAN, "", "also the <100> dumbbell (cubic cells only)"),
        Param("relax_volume", False, BOOLEAN, "", "relax the supercell volume too (false: the bulk volume)"),
        fmax_param(1e-3),
    )
    produces = frozenset(
        {
            "e_vac_eV",
            "e_dumbbell100_eV",
            "e_vac_size_change_meV",
            "e_dumbbell100_size_change_meV",
            "dumbbell_separation_A",
            "dumbbell_intact",
            "supercell_n",
            "n_atoms",
            "a_A",
        }
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "vacancy": ("atoms in the perfect supercell N", "vacancy formation energy (eV)"),
        "dumbbell100": ("atoms in the perfect supercell N", "<100> dumbbell formation energy (eV)"),
    }

    def compute(self, atoms: Any, calc: TimedCalculator, ctx: TaskContext) -> Values:
        cell = atoms.cell.array
        cubic = bool(np.allclose(cell, cell[0, 0] * np.eye(3)))
        result = calc_point_defects(
            atoms,
            calc,
            sizes=tuple(int(n) for n in ctx.parameter("sizes")),
            dumbbell100=bool(ctx.parameter("dumbbell100")) and cubic,
            relax_volume=bool(ctx.parameter("relax_volume")),
            fmax_eV_per_A=float(ctx.parameter("fmax_eV_per_A")),
        )
        self._note(result, ctx)
        scalars, arrays = _defect_values(result)
        if declares_uncertainty(ctx):
            scalars |= _defect_uncertainty(result, arrays)
        return scalars, arrays

    @staticmethod
    def _note(result: PointDefectResult, ctx: TaskContext) -> None:
        who = ctx.potential.info.name
        if not result.relax_converged:
            ctx.notes.append(f"{who}: a defect relaxation stopped before fmax was reached")
        broken = [n for n, ok in zip(result.sizes, result.dumbbell_intact, strict=True) if not ok]
        if broken:
            ctx.notes.append(f"{who}: the <100> dumbbell did not stay a <100> dumbbell in supercells n = {broken}")


def _defect_values(result: PointDefectResult) -> Values:
    scalars = {
        "a_A": result.a_A,
        "e_bulk_eV_per_atom": result.e_bulk_eV_per_atom,
        "supercell_n": float(result.sizes[-1]),
        "n_atoms": float(result.n_atoms[-1]),
        "e_vac_eV": result.e_vac_eV[-1],
        "relax_volume": float(result.relax_volume),
        "relax_converged": float(result.relax_converged),
        "relax_steps_total": float(result.relax_steps_total),
    }
    arrays = {
        "sizes": [float(n) for n in result.sizes],
        "n_atoms": [float(n) for n in result.n_atoms],
        "e_vac_eV": list(result.e_vac_eV),
        "vacancy:x": [float(n) for n in result.n_atoms],
        "vacancy:y": list(result.e_vac_eV),
    }
    if len(result.sizes) > 1:
        scalars["e_vac_size_change_meV"] = abs(result.e_vac_eV[-1] - result.e_vac_eV[-2]) * EV_TO_MEV
    if result.e_dumbbell100_eV:
        dumbbell = result.e_dumbbell100_eV
        scalars |= {
            "e_dumbbell100_eV": dumbbell[-1],
            "dumbbell_separation_A": result.dumbbell_separation_A[-1],
            "dumbbell_intact": float(all(result.dumbbell_intact)),
        }
        if len(dumbbell) > 1:
            scalars["e_dumbbell100_size_change_meV"] = abs(dumbbell[-1] - dumbbell[-2]) * EV_TO_MEV
        arrays |= {
            "e_dumbbell100_eV": list(dumbbell),
            "dumbbell_separation_A": list(result.dumbbell_separation_A),
            "dumbbell100:x": [float(n) for n in result.n_atoms],
            "dumbbell100:y": list(dumbbell),
        }
    return scalars, arrays


def _largest(*values: float) -> float:
    """The largest finite value (NaN when none is)."""
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else float("nan")


def _defect_uncertainty(result: PointDefectResult, arrays: dict[str, list[float]]) -> dict[str, float]:
    """Adds the defect cells' uncertainty curves to `arrays`; returns the largest per defect."""
    x = [float(n) for n in result.n_atoms]
    arrays["perfect_uncertainty"] = list(result.perfect_uncertainty)
    out: dict[str, float] = {}
    for name, values in (("vacancy", result.vacancy_uncertainty), ("dumbbell100", result.dumbbell100_uncertainty)):
        if values:
            arrays[f"{name}_uncertainty:x"] = x
            arrays[f"{name}_uncertainty:y"] = list(values)
            out[f"uncertainty_max_{name}"] = _largest(*result.perfect_uncertainty, *values)
    return out


class SurfacesKind(CrystalKind):
    """Parameters: ``facets`` (names in :data:`mlip_bench.properties.surfaces.FACETS`; default by
    crystal: fcc 100/110/111, hcp 0001/10m10_short/10m10_long/11m20), ``min_thicknesses_A`` (slabs
    at least this thick, default [10, 15, 20]), ``vacuum_A`` (20), ``fmax_eV_per_A`` (1e-3)."""

    name = "surfaces"
    parameters = (
        Param(
            "facets",
            None,
            nullable(array(one_of(*FACETS), min_items=1)),
            "",
            "facets computed",
            default_doc="by crystal: " + "; ".join(f"{c} {'/'.join(f)}" for c, f in DEFAULT_FACETS.items()),
        ),
        Param("min_thicknesses_A", (10.0, 15.0, 20.0), array(POSITIVE, min_items=1), "Å", "slabs at least this thick"),
        Param("vacuum_A", 20.0, POSITIVE, "Å", "vacuum between periodic slab images"),
        fmax_param(1e-3),
    )
    produces = frozenset(
        f"{quantity}_{facet}_{unit}"
        for facet in FACETS
        for quantity, unit in (
            ("gamma", "mJ_per_m2"),
            ("d12", "percent"),
            ("d23", "percent"),
            ("thickness", "A"),
            ("thickness_change", "mJ_per_m2"),
        )
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        f"gamma_{name}": ("slab thickness (Å)", f"surface energy {facet.label} (mJ/m²)")
        for name, facet in FACETS.items()
    }

    def compute(self, atoms: Any, calc: TimedCalculator, ctx: TaskContext) -> Values:
        facets = ctx.parameter("facets")
        result = calc_surfaces(
            atoms,
            calc,
            facets=None if facets is None else tuple(str(f) for f in facets),
            min_thicknesses_A=tuple(float(t) for t in ctx.parameter("min_thicknesses_A")),
            vacuum_A=float(ctx.parameter("vacuum_A")),
            fmax_eV_per_A=float(ctx.parameter("fmax_eV_per_A")),
        )
        scalars = {"a_A": result.a_A, "c_A": result.c_A, "e_bulk_eV_per_atom": result.e_bulk_eV_per_atom}
        arrays: dict[str, list[float]] = {}
        uncertainty = declares_uncertainty(ctx)
        if uncertainty:
            scalars["uncertainty_bulk"] = result.bulk_uncertainty
        for facet in result.facets:
            scalars |= _facet_scalars(facet)
            arrays[f"gamma_{facet.facet}:x"] = list(facet.thicknesses_A)
            arrays[f"gamma_{facet.facet}:y"] = list(facet.gammas_mJ_per_m2)
            if uncertainty:
                arrays[f"gamma_{facet.facet}_uncertainty:x"] = list(facet.thicknesses_A)
                arrays[f"gamma_{facet.facet}_uncertainty:y"] = list(facet.uncertainties)
                scalars[f"uncertainty_max_{facet.facet}"] = _largest(result.bulk_uncertainty, *facet.uncertainties)
            if not facet.relax_converged:
                ctx.notes.append(f"{ctx.potential.info.name}: a {facet.facet} slab relaxation stopped before fmax")
        return scalars, arrays


def _facet_scalars(facet: FacetResult) -> dict[str, float]:
    f = facet.facet
    return {
        f"gamma_{f}_mJ_per_m2": facet.gamma_mJ_per_m2,
        f"gamma_unrelaxed_{f}_mJ_per_m2": facet.gamma_unrelaxed_mJ_per_m2,
        f"d12_{f}_percent": facet.d12_percent,
        f"d23_{f}_percent": facet.d23_percent,
        f"thickness_{f}_A": facet.thickness_A,
        f"n_layers_{f}": float(facet.n_layers),
        f"vacuum_{f}_A": facet.vacuum_A,
        f"thickness_change_{f}_mJ_per_m2": facet.thickness_change_mJ_per_m2,
        f"vacuum_change_{f}_mJ_per_m2": facet.vacuum_change_mJ_per_m2,
        f"relax_converged_{f}": float(facet.relax_converged),
    }
