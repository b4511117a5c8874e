"""The ``gsfe`` kind: generalised stacking-fault energies of each fcc or hcp structure of the spec
(method in :mod:`mlip_bench.properties.gsfe`), at the potential's own lattice constants.

Parameters: ``n_layers`` (close-packed planes in the cell, default 12), ``check_layers``
(a second, thicker cell for γ_usf and γ_isf, default 18; null skips the check), ``twin_layers``
(fcc twinning path up to this many faulted planes, default 3; 0 or 1: slip path only),
``points_per_bp`` (grid steps per partial Burgers vector, default 20), ``relax_height`` (default
true: the cell height relaxes to zero normal stress with the atoms), ``fmax_eV_per_A`` (1e-3),
``reference_curve`` / ``twin_reference_curve`` (keys in reference_data/curves, x in b_p, y in
mJ/m²; give ``gsfe_rmse_mJ_per_m2`` / ``gsfe_twin_rmse_mJ_per_m2`` at the reference's own x).

Item arrays ``gsfe:x``/``gsfe:y`` hold the whole path (slip 0..1 b_p, then the twinning steps).
When the potential declares an uncertainty (adapters/uncertainty.py), ``gsfe_uncertainty:x``/``:y``
hold the uncertainty of each point's relaxed cell (unit: the declaration's ``info.unit``), the item
records ``uncertainty_max`` (every structure evaluated), and with a reference curve the cell gets
``spearman_uncertainty_error``: Spearman ρ of the point uncertainty and |γ - γ_ref| over the
reference points of both curves (a point on both counts once, with the slip curve's value).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import spglib

from mlip_bench.data.curves import ReferenceCurve, reference_curve
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds.base import TaskContext
from mlip_bench.engine.kinds.crystal import CrystalKind, declares_uncertainty
from mlip_bench.engine.parameters import BOOLEAN, POSITIVE_INTEGER, STRING, Param, fmax_param, nullable
from mlip_bench.errors import DataError, PropertyError
from mlip_bench.metrics.uncertainty import spearman_rho
from mlip_bench.properties.gsfe import GSFEPath, GSFEResult, calc_gsfe
from mlip_bench.properties.relax import relax

#: space group number -> crystal name the GSFE builder knows
_CRYSTALS = {225: "fcc", 194: "hcp"}
_RMSE_METRICS = {"reference_curve": "gsfe_rmse_mJ_per_m2", "twin_reference_curve": "gsfe_twin_rmse_mJ_per_m2"}


def _crystal(atoms: Any) -> str:
    dataset = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=1e-3)
    number = int(dataset.number) if dataset is not None else 0
    if number not in _CRYSTALS:
        raise PropertyError(f"GSFE needs an fcc or hcp crystal; the relaxed cell has space group {number}")
    return _CRYSTALS[number]


def _curves(ctx: TaskContext) -> dict[str, ReferenceCurve]:
    """Reference curves named in the parameters, by metric name; raises DataError for an unknown
    key or a curve in other units."""
    out: dict[str, ReferenceCurve] = {}
    for parameter, metric in _RMSE_METRICS.items():
        key = ctx.parameter(parameter)
        if key is None:
            continue
        curve = reference_curve(str(key))
        if "mJ/m" not in curve.y_label or "b_p" not in curve.x_label:
            raise DataError(
                f"reference curve {curve.key!r}: x must be in b_p and y in mJ/m² (labels {curve.x_label!r}, "
                f"{curve.y_label!r})"
            )
        out[metric] = curve
    return out


def _errors(path: GSFEPath, curve: ReferenceCurve) -> dict[float, float]:
    """γ - γ_ref (mJ/m²) at the reference's own x that the path sampled (no interpolation), by x."""
    computed = dict(zip(np.round(path.x_bp, 8), path.gamma_mJ_per_m2, strict=True))
    return {float(x): computed[x] - y for x, y in zip(np.round(curve.x, 8), curve.y, strict=True) if x in computed}


def _rmse(path: GSFEPath, curve: ReferenceCurve) -> tuple[float, int]:
    """RMSE (mJ/m²) at the reference's own x (sampled on the path, no interpolation)."""
    diff = np.array(list(_errors(path, curve).values()))
    if diff.size < 3:
        raise PropertyError(f"only {diff.size} points of reference curve {curve.key!r} lie on the sampled path")
    return float(np.sqrt(np.mean(diff**2))), int(diff.size)


def _uncertainty(path: GSFEPath, curves: dict[str, ReferenceCurve]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(``spearman_uncertainty_error`` when there is a reference curve, the uncertainty curve)."""
    arrays = {"gsfe_uncertainty:x": list(path.x_bp), "gsfe_uncertainty:y": list(path.uncertainties)}
    if not curves:
        return {}, arrays
    errors: dict[float, float] = {}
    for curve in reversed(list(curves.values())):  # the slip curve (first) wins where both have x
        errors |= _errors(path, curve)
    by_x = dict(zip(np.round(path.x_bp, 8), path.uncertainties, strict=True))
    u = [by_x[x] for x in errors]
    return {"spearman_uncertainty_error": spearman_rho(u, list(errors.values()))}, arrays


class GsfeKind(CrystalKind):
    name = "gsfe"
    requires = frozenset({"energy", "forces", "stress"})
    parameters = (
        Param("n_layers", 12, POSITIVE_INTEGER, "", "close-packed planes in the cell"),
        Param("check_layers", 18, nullable(POSITIVE_INTEGER), "", "planes of the thicker check cell (null: no check)"),
        Param("twin_layers", 3, {"type": "integer", "minimum": 0}, "", "fcc twinning path up to this many planes"),
        Param("points_per_bp", 20, POSITIVE_INTEGER, "", "grid steps per partial Burgers vector"),
        Param("relax_height", True, BOOLEAN, "", "relax the cell height to zero normal stress"),
        fmax_param(1e-3),
        Param("reference_curve", None, STRING, "", "slip-path curve key in reference_data/curves", input="curve"),
        Param("twin_reference_curve", None, STRING, "", "twinning-path curve key", input="curve"),
    )
    produces = frozenset(
        {
            "gamma_usf_mJ_per_m2",
            "gamma_isf_mJ_per_m2",
            "gamma_utf_mJ_per_m2",
            "gamma_esf_mJ_per_m2",
            "gamma_tb_mJ_per_m2",
            "gsfe_rmse_mJ_per_m2",
            "gsfe_twin_rmse_mJ_per_m2",
            "thickness_change_mJ_per_m2",
            "a_A",
            "c_A",
            "spearman_uncertainty_error",
        }
    )
    plots: ClassVar[dict[str, tuple[str, str]]] = {
        "gsfe": ("displacement (partial Burgers vectors b_p; > 1: twinning steps)", "fault energy γ (mJ/m²)")
    }

    def compute(
        self, atoms: Any, calc: TimedCalculator, ctx: TaskContext
    ) -> tuple[dict[str, float], dict[str, list[float]]]:
        curves = _curves(ctx)
        fmax = float(ctx.parameter("fmax_eV_per_A"))
        relaxed = relax(atoms, calc, cell=True, fmax_eV_per_A=min(fmax, 1e-4))
        crystal = _crystal(relaxed.atoms)
        lengths = relaxed.atoms.cell.lengths()
        check = ctx.parameter("check_layers")
        result = calc_gsfe(
            atoms.get_chemical_symbols()[0],
            crystal,
            calc,
            a_A=float(lengths[0]),
            c_A=float(lengths[2]) if crystal == "hcp" else None,
            n_layers=int(ctx.parameter("n_layers")),
            twin_layers=int(ctx.parameter("twin_layers")),
            points_per_bp=int(ctx.parameter("points_per_bp")),
            check_layers=int(check) if check is not None else None,
            relax_height=bool(ctx.parameter("relax_height")),
            fmax_eV_per_A=fmax,
            extra_x_bp=sorted({x for c in curves.values() for x in c.x}),
        )
        scalars = _scalars(result) | {"lattice_relax_converged": float(relaxed.converged)}
        for metric, curve in curves.items():
            try:
                scalars[metric], n = _rmse(result.path, curve)
            except PropertyError as exc:
                ctx.notes.append(str(exc))
            else:
                scalars[metric.replace("rmse_mJ_per_m2", "n_reference_points")] = float(n)
        arrays = {"gsfe:x": list(result.path.x_bp), "gsfe:y": list(result.path.gamma_mJ_per_m2)}
        if declares_uncertainty(ctx):
            extra_scalars, extra_arrays = _uncertainty(result.path, curves)
            scalars |= extra_scalars
            arrays |= extra_arrays
        return scalars, arrays


def _scalars(result: GSFEResult) -> dict[str, float]:
    values = {
        "gamma_usf_mJ_per_m2": result.gamma_usf_mJ_per_m2,
        "gamma_isf_mJ_per_m2": result.gamma_isf_mJ_per_m2,
        "gamma_utf_mJ_per_m2": result.gamma_utf_mJ_per_m2,
        "gamma_esf_mJ_per_m2": result.gamma_esf_mJ_per_m2,
        "gamma_tb_mJ_per_m2": result.gamma_tb_mJ_per_m2,
        "thickness_change_mJ_per_m2": result.thickness_change_mJ_per_m2,
        "a_A": result.a_A,
        "c_A": result.c_A,
        "n_layers": float(result.n_layers),
        "burgers_A": result.burgers_A,
        "relax_converged": float(result.relax_converged),
        "max_relax_steps": float(result.path.max_steps),
    }
    # NaN marks what this crystal or these parameters do not define (twinning in hcp): leave it out
    return {k: v for k, v in values.items() if not math.isnan(v)}
