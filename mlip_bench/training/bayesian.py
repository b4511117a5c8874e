"""Bayesian linear regression on an MTP's linear part (paper 000's on-the-fly scheme, applied to
an MTP): a Gaussian posterior over the moment and species coefficients, hence a predictive
standard deviation of the energy per atom (``bayesian_std``, adapters/uncertainty.py).

An MTP is linear in its moment and species coefficients once the radial functions are fixed:
E = Σ_i [c·B(atom i) + s_type(i)] (checked against motep's energies in the tests). The per-atom
features are the moment-basis values B(atom i) (motep's evaluation, through the ``mtp:`` adapter's
calculator) and a one-hot species column. The regression is on energies per atom of a set of
structures. The prior is Gaussian with a per-column scale that follows the feature's spread (the
features differ by orders of magnitude); its precision α and the noise precision β maximise the
evidence of a zero-mean fit (MacKay's fixed-point updates, Bishop PRML Sec. 3.5.2). The posterior
mean is then taken about the MTP's own coefficients as prior mean, so it refines the fitted
potential instead of replacing it (the covariance does not depend on the prior mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from numpy.typing import ArrayLike

from mlip_bench.adapters.mtp import MTPCalculator
from mlip_bench.errors import DataError, EvaluationError

_MAX_UPDATES = 200


# not frozen: BayesianLinearModel (adapters/uncertainty.py) declares plain, settable attributes
@dataclass(eq=False)
class BayesianMtp:
    """A fitted Bayesian linear model on an MTP's basis; implements
    :class:`mlip_bench.adapters.uncertainty.BayesianLinearModel`. `coefficients` (n_basis +
    n_species,): posterior mean of [moment coeffs, species coeffs], eV; `covariance`: their
    posterior covariance, eV²; `noise_std_eV_per_atom`: 1/√β; `prior_precision`: α (dimensionless,
    on column-scaled coefficients); `n_structures`: the structures it was fitted to."""

    mtp_path: Path
    species: tuple[str, ...]
    coefficients: np.ndarray
    covariance: np.ndarray
    noise_std_eV_per_atom: float
    prior_precision: float
    n_structures: int

    def basis(self, atoms: object) -> np.ndarray:
        """Per-atom features of `atoms` (an ASE Atoms), shape (n_atoms, n_basis + n_species)."""
        return atom_features(_calculator(self.mtp_path, self.species), _as_atoms(atoms), self.species)

    def energy_per_atom(self, atoms: Atoms) -> float:
        """Posterior mean energy per atom, eV/atom."""
        return float(self.basis(atoms).sum(axis=0) @ self.coefficients) / max(len(atoms), 1)


_CALCULATORS: dict[tuple[str, tuple[str, ...]], MTPCalculator] = {}


def _calculator(path: Path, species: tuple[str, ...]) -> MTPCalculator:
    key = (str(path), species)
    if key not in _CALCULATORS:  # one motep calculator per file and process (reading costs)
        _CALCULATORS[key] = MTPCalculator(Path(path), species)
    return _CALCULATORS[key]


def _as_atoms(atoms: object) -> Atoms:
    if not isinstance(atoms, Atoms):
        raise EvaluationError(f"Bayesian MTP: expected ase.Atoms, got {type(atoms).__name__}")
    return atoms


def atom_features(calc: MTPCalculator, atoms: Atoms, species: Sequence[str]) -> np.ndarray:
    """[moment-basis values, one-hot species] of every atom, shape (n_atoms, n_basis + n_species);
    raises EvaluationError (PotentialError) when motep cannot evaluate the structure."""
    work = atoms.copy()
    work.calc = calc
    work.get_potential_energy()
    basis = calc.basis_values()
    onehot = (atoms.numbers[:, None] == np.array([atomic_numbers[s] for s in species])[None, :]).astype(float)
    return np.hstack([basis, onehot])


def _design(calc: MTPCalculator, structures: Sequence[Atoms], species: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): summed features / N and reference energy / N of every structure (eV/atom); raises
    DataError naming a structure without a finite reference energy."""
    rows, targets = [], []
    for k, atoms in enumerate(structures):
        energy = (getattr(atoms.calc, "results", None) or {}).get("energy")
        if energy is None or not np.isfinite(energy):
            raise DataError(f"Bayesian MTP: structure {k} ({atoms.get_chemical_formula()}) has no finite energy")
        rows.append(atom_features(calc, atoms, species).sum(axis=0) / len(atoms))
        targets.append(float(energy) / len(atoms))
    return np.array(rows), np.array(targets)


def fit_bayesian(mtp_path: Path, species: Sequence[str], structures: Sequence[Atoms]) -> BayesianMtp:
    """Bayesian linear regression of the reference energies per atom of `structures` on the MTP's
    features, prior mean the MTP's coefficients. Raises DataError for fewer than 3 structures or
    one without a reference energy, PotentialError when the file cannot be used."""
    if len(structures) < 3:
        raise DataError(f"Bayesian MTP: need at least 3 structures with energies, got {len(structures)}")
    species = tuple(species)
    calc = _calculator(Path(mtp_path), species)
    x, y = _design(calc, structures, species)
    prior_mean = np.concatenate([calc.mtp_data.moment_coeffs, calc.mtp_data.species_coeffs])
    # α, β from the evidence of a zero-mean fit: with the MTP's coefficients (already fitted to
    # these energies) as the mean, the residual holds no signal and α would run to infinity
    _, cov, alpha, beta = evidence_regression(x, y)
    mean = prior_mean + beta * cov @ x.T @ (y - x @ prior_mean)
    return BayesianMtp(
        mtp_path=Path(mtp_path),
        species=species,
        coefficients=mean,
        covariance=cov,
        noise_std_eV_per_atom=float(1.0 / np.sqrt(beta)),
        prior_precision=alpha,
        n_structures=len(structures),
    )


def evidence_regression(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Bayesian ridge: y = x·w + noise, w ~ N(0, (α S²)⁻¹) with S = diag(column RMS of x),
    noise ~ N(0, 1/β); α and β maximise the evidence. Returns (posterior mean (p,), covariance
    (p, p), α, β). Pure numpy; columns that are zero everywhere keep the prior."""
    n, p = x.shape
    scale = np.sqrt(np.mean(x**2, axis=0))
    scale[scale == 0.0] = 1.0
    z = x / scale  # prior isotropic on the scaled coefficients w·S
    eig = np.linalg.eigvalsh(z.T @ z)
    eig = np.clip(eig, 0.0, None)
    alpha, beta = 1.0, 1.0 / max(float(np.var(y)), 1e-12)
    for _ in range(_MAX_UPDATES):
        precision = alpha * np.eye(p) + beta * z.T @ z
        mean_z = beta * np.linalg.solve(precision, z.T @ y)
        gamma = float(np.sum(beta * eig / (alpha + beta * eig)))
        new_alpha = gamma / max(float(mean_z @ mean_z), 1e-300)
        residual = float(np.sum((y - z @ mean_z) ** 2))
        new_beta = max(n - gamma, 1e-9) / max(residual, 1e-300)
        done = abs(np.log(new_alpha / alpha)) < 1e-6 and abs(np.log(new_beta / beta)) < 1e-6
        alpha, beta = new_alpha, new_beta
        if done:
            break
    precision = alpha * np.eye(p) + beta * z.T @ z
    cov_z = np.linalg.inv(precision)
    cov_z = 0.5 * (cov_z + cov_z.T)
    mean_z = beta * cov_z @ z.T @ y
    return mean_z / scale, cov_z / np.outer(scale, scale), float(alpha), float(beta)


def calibration(sigma: ArrayLike, error: ArrayLike) -> dict[str, float]:
    """How well predicted standard deviations `sigma` match `error` (same units), over the finite
    pairs: Pearson and Spearman correlation of |error| with sigma, the least-squares slope of
    |error| against sigma through the origin (√(2/π) ≈ 0.80 for a calibrated Gaussian), the share
    of |error| <= sigma and <= 2 sigma (0.683, 0.954 calibrated), the RMS of error/sigma (1
    calibrated) and n. Reported, never asserted. NaN entries when fewer than 2 finite pairs."""
    from mlip_bench.metrics.uncertainty import spearman_rho

    s = np.asarray(sigma, float)
    e = np.abs(np.asarray(error, float))
    keep = np.isfinite(s) & np.isfinite(e) & (s > 0)
    s, e = s[keep], e[keep]
    out = {"n": float(s.size)}
    if s.size < 2:
        return out | dict.fromkeys(("pearson", "spearman", "slope", "within_1sigma", "within_2sigma", "rms_z"), np.nan)
    pearson = float(np.corrcoef(s, e)[0, 1]) if np.std(s) > 0 and np.std(e) > 0 else np.nan
    return out | {
        "pearson": pearson,
        "spearman": spearman_rho(s, e),
        "slope": float(s @ e / (s @ s)),
        "within_1sigma": float(np.mean(e <= s)),
        "within_2sigma": float(np.mean(e <= 2 * s)),
        "rms_z": float(np.sqrt(np.mean((e / s) ** 2))),
    }
