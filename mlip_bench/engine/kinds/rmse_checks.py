"""Plausibility notes on an ``rmse`` cell, from the reference and the predictions together: a reference
file in other units than the potential's eV, eV/Å and eV/Å³, and a potential whose forces barely
track the reference while its energies are off by eV-scale per-element offsets (the mark of a wrong
species mapping). Notes only: nothing is converted or dropped.

Rules, and the measurements behind them (mlip-bench's shipped potentials and data):

- units: the reference is regressed on the prediction (forces and stress through the origin, energy
  per atom with a constant per element). Potentials that track the reference (correlation > 0.9)
  give slopes of 0.8-1.4 (EMT, EAM, MEAM, SNAP, MTP on the mlearn and Li-Al sets); a slope within
  a factor 1.5 of 23.06 or 96.49 (kcal/mol or kJ/mol per eV) or of 160.2 or 1602 (GPa or kbar per
  eV/Å³) says the reference file is in those units.
- species mapping (multi-element potentials): the forces go wrong (force RMSE above 60 % of the
  reference forces' RMS, correlation below 0.9, on sets whose forces have an RMS >= 0.1 eV/Å) and
  the energy error is mostly per-element offsets of eV scale (raw RMSE above 300 meV/atom and 20x
  the offset-aligned one), as when two species are swapped. Measured: MTP_Train with
  ``;species=Al,Li`` on the Li-Al validation set: 83 %, 0.69, 1323 meV/atom, 70x. Correct
  potentials: forces 6-40 % and >= 0.95 on their elements (EMT, EAM, MEAM, SNAP, AGNI, the eight
  MTPs on the validation set), except MTPs on the Li-Al slabs (60-88 %, 0.65-0.82), whose energy
  ratio is only 3.6-6.3x (raw 14-33 meV/atom); EMT's raw error is 200x its aligned one on Cu (other
  DFT settings) with good forces. Neither signal alone separates them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlip_bench.data.checks import (
    GPA_PER_EV_PER_A3,
    KBAR_PER_EV_PER_A3,
    KCAL_PER_MOL_PER_EV,
    KJ_PER_MOL_PER_EV,
)

MIN_CORRELATION = 0.9
UNIT_BAND = 1.5
MAPPING_RELATIVE_FORCE_ERROR = 0.6
MAPPING_RAW_OVER_ALIGNED = 20.0
MAPPING_RAW_ENERGY_MEV_PER_ATOM = 300.0
MIN_REFERENCE_FORCE_RMS_EV_PER_A = 0.1
_ENERGY_UNITS = ((KCAL_PER_MOL_PER_EV, "kcal/mol"), (KJ_PER_MOL_PER_EV, "kJ/mol"))
_FORCE_UNITS = ((KCAL_PER_MOL_PER_EV, "kcal/mol/Å"), (KJ_PER_MOL_PER_EV, "kJ/mol/Å"))
_STRESS_UNITS = ((GPA_PER_EV_PER_A3, "GPa"), (KBAR_PER_EV_PER_A3, "kbar"))


def _unit(slope: float, units: Sequence[tuple[float, str]]) -> str:
    return next((name for factor, name in units if factor / UNIT_BAND <= slope <= factor * UNIT_BAND), "")


def _through_origin(ref: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(slope of ref on pred through the origin, correlation); (nan, nan) when undefined."""
    if ref.size < 3 or float(pred @ pred) == 0.0 or np.std(ref) == 0.0 or np.std(pred) == 0.0:
        return float("nan"), float("nan")
    return float(ref @ pred / (pred @ pred)), float(np.corrcoef(ref, pred)[0, 1])


def force_unit_note(source: str, ref: np.ndarray, pred: np.ndarray) -> str:
    """A note when reference forces look like kcal/mol/Å or kJ/mol/Å ("" otherwise)."""
    slope, corr = _through_origin(ref.ravel(), pred.ravel())
    unit = _unit(slope, _FORCE_UNITS) if corr > MIN_CORRELATION else ""
    return _unit_note(source, "forces", unit, slope, "eV/Å") if unit else ""


def stress_unit_note(source: str, ref: np.ndarray, pred: np.ndarray) -> str:
    """A note when reference stresses look like GPa or kbar ("" otherwise)."""
    slope, corr = _through_origin(ref.ravel(), pred.ravel())
    unit = _unit(slope, _STRESS_UNITS) if corr > MIN_CORRELATION else ""
    return _unit_note(source, "stresses", unit, slope, "eV/Å³") if unit else ""


def energy_unit_note(source: str, ref_per_atom: np.ndarray, pred_per_atom: np.ndarray, fractions: np.ndarray) -> str:
    """A note when reference energies look like kcal/mol or kJ/mol: the slope of ref on pred per
    atom with a constant per element (`fractions`: (n, n_elements) composition)."""
    if len(ref_per_atom) < 3 or np.std(pred_per_atom) < 1e-3:
        return ""
    design = np.column_stack([pred_per_atom, fractions])
    coef, *_ = np.linalg.lstsq(design, ref_per_atom, rcond=None)
    fitted = design @ coef
    if np.std(fitted) == 0.0 or np.corrcoef(fitted, ref_per_atom)[0, 1] <= MIN_CORRELATION:
        return ""
    unit = _unit(float(coef[0]), _ENERGY_UNITS)
    return _unit_note(source, "energies", unit, float(coef[0]), "eV") if unit else ""


def _unit_note(source: str, what: str, unit: str, slope: float, ours: str) -> str:
    return (
        f"{source}: reference {what} look like {unit}, not {ours}: they are {slope:.1f} times the "
        f"predicted ones, which track them closely; nothing was converted"
    )


def mapping_note(
    spec: str, source: str, forces: tuple[np.ndarray, np.ndarray], energy_rmse_meV: tuple[float, float], n_elements: int
) -> str:
    """A note when a multi-element potential probably has a wrong species mapping (module docstring):
    `forces` (reference, predicted) in eV/Å, `energy_rmse_meV` (raw, offset-aligned) per atom."""
    ref, pred = forces[0].ravel(), forces[1].ravel()
    raw, aligned = energy_rmse_meV
    rms = float(np.sqrt(np.mean(ref**2))) if ref.size else 0.0
    if n_elements < 2 or ref.size < 3 or rms < MIN_REFERENCE_FORCE_RMS_EV_PER_A or not np.isfinite(raw):
        return ""
    rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
    corr = float(np.corrcoef(ref, pred)[0, 1]) if np.std(pred) > 0 else 0.0
    forces_off = rmse / rms > MAPPING_RELATIVE_FORCE_ERROR and corr < MIN_CORRELATION
    offsets = raw > MAPPING_RAW_ENERGY_MEV_PER_ATOM and raw > MAPPING_RAW_OVER_ALIGNED * aligned
    if not (forces_off and offsets):
        return ""
    return (
        f"{spec} on {source}: probably a wrong species mapping: force RMSE is {rmse / rms:.0%} of the reference "
        f"forces' RMS ({rmse:.3g} vs {rms:.3g} eV/Å, correlation {corr:.2f}) and the raw energy RMSE "
        f"({raw:.0f} meV/atom) is {raw / max(aligned, 1e-9):.0f}x the offset-aligned one, as when elements are "
        "swapped; potentials fitted to these elements reach 9-40 % (an MTP's `;species=` must list the "
        "elements in the file's type order)"
    )
