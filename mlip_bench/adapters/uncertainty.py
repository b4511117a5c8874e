"""Uncertainty as a capability of a potential.

An adapter whose potential can say how far it trusts itself declares it in
:attr:`PotentialInfo.uncertainty <mlip_bench.adapters.base.PotentialInfo>` with an
:class:`UncertaintyInfo`; its calculator then adds, on every call, to ``calc.results``:

- ``"uncertainty"`` (:data:`STRUCTURE_KEY`): one finite float per structure, in ``info.unit``;
- ``"uncertainties"`` (:data:`ATOM_KEY`): shape (n_atoms,), per atom (only when ``info.per_atom``).

The engine stores both with the prediction (:class:`mlip_bench.engine.evaluate.Prediction`), so every
kind that scores a prediction can put the uncertainty next to the error without another call.

What the measures mean (``UncertaintyInfo.measure``):

- ``extrapolation_grade``: MaxVol grade γ of a linear model (MTP) against the active set of its
  training set (Podryabinkin & Shapeev, Comput. Mater. Sci. 140 (2017) 171; paper 002 App. E);
  dimensionless, γ <= 1 interpolation; per structure: the largest atomic γ. A grade, not a standard
  deviation: it ranks structures, calibration does not apply.
- ``ensemble_std``: spread of an ensemble's members (ANI-Al's 8 networks, paper 003 Sec. III.A):
  the standard deviation (ddof=1) of the members' total energies divided by the number of atoms,
  eV/atom; per atom: the norm of the members' force standard deviation, eV/Å.
- ``committee_std``: the same for a committee of independent potentials (``committee:A|B|...``).
- ``bayesian_std``: posterior predictive standard deviation of a Bayesian linear model on a
  potential's basis (paper 000's on-the-fly scheme), eV/atom; a fitted linear model provides it
  through :class:`BayesianLinearModel`.

A potential without an uncertainty has ``PotentialInfo.uncertainty`` None and sets neither key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

STRUCTURE_KEY = "uncertainty"
ATOM_KEY = "uncertainties"

#: paper 002's thresholds for the extrapolation grade: above γ_select a structure is worth adding
#: to the training set; above γ_break the potential's prediction is not to be trusted (App. E)
GAMMA_SELECT = 1.001
GAMMA_BREAK = 5.0

MEASURES = ("extrapolation_grade", "ensemble_std", "committee_std", "bayesian_std")
#: measures that predict a standard deviation of the energy (calibration and likelihood apply)
STD_MEASURES = frozenset({"ensemble_std", "committee_std", "bayesian_std"})


@dataclass(frozen=True)
class UncertaintyInfo:
    """What a potential's uncertainty is. `unit` is "" for a dimensionless grade, "eV/atom" for
    an energy standard deviation per atom; `atom_unit` is the per-atom value's unit ("" or eV/Å).
    `thresholds` are the values a report marks (γ_select, γ_break for a grade). `source` says
    what it was computed against (the training set and its checksum, the members)."""

    measure: str
    unit: str
    per_atom: bool
    atom_unit: str = ""
    thresholds: tuple[float, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown uncertainty measure {self.measure!r} (known: {', '.join(MEASURES)})")

    @property
    def is_std(self) -> bool:
        """True when the value is a predicted standard deviation (so calibration applies)."""
        return self.measure in STD_MEASURES

    @property
    def label(self) -> str:
        """Short name for tables and axes: "γ", "σ_E" with the unit."""
        name = "γ" if self.measure == "extrapolation_grade" else "σ_E"
        return f"{name} ({self.unit})" if self.unit else name


def grade_info(source: str) -> UncertaintyInfo:
    """The declaration of a MaxVol extrapolation grade against training set `source`."""
    return UncertaintyInfo(
        measure="extrapolation_grade",
        unit="",
        per_atom=True,
        atom_unit="",
        thresholds=(GAMMA_SELECT, GAMMA_BREAK),
        source=source,
    )


@runtime_checkable
class BayesianLinearModel(Protocol):
    """A potential linear in its parameters, E = Σ_i c·B(atom i), with a Gaussian posterior over c
    (paper 000's on-the-fly scheme): the training issue's fitted models provide it, and an adapter
    wraps one as a calculator that reports ``bayesian_std``.

    `basis(atoms)`: per-atom basis values, shape (n_atoms, n_basis); `coefficients`: posterior mean,
    shape (n_basis,); `covariance`: posterior covariance of the coefficients, (n_basis, n_basis), in
    eV² per unit basis²; `noise_std_eV_per_atom`: the fitted noise level."""

    coefficients: np.ndarray
    covariance: np.ndarray
    noise_std_eV_per_atom: float

    def basis(self, atoms: object) -> np.ndarray: ...


def bayesian_energy_std(model: BayesianLinearModel, atoms: object) -> float:
    """Posterior predictive standard deviation of the energy per atom, eV/atom:
    sqrt(bᵀ Σ b / N² + σ_noise²) with b the summed basis. Raises ValueError on mismatched shapes."""
    per_atom = np.asarray(model.basis(atoms), dtype=float)
    cov = np.asarray(model.covariance, dtype=float)
    if per_atom.ndim != 2 or cov.shape != (per_atom.shape[1], per_atom.shape[1]):
        raise ValueError(f"basis shape {per_atom.shape} does not match covariance shape {cov.shape}")
    n = max(per_atom.shape[0], 1)
    summed = per_atom.sum(axis=0)
    variance = float(summed @ cov @ summed) / n**2 + float(model.noise_std_eV_per_atom) ** 2
    return float(np.sqrt(max(variance, 0.0)))
