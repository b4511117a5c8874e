"""One potential call on one structure, guarded: a structure no potential may see is refused before
the call; an exception, or a result that is not a finite number of the right shape, becomes an
:class:`EvaluationError` that names the structure and the potential, never a crash.

:func:`check_physical` then refuses values beyond any physical scale (bounds below). Scoring kinds
apply it to every prediction; the ``irregular`` kind, which counts unphysical predictions by design,
does not (paper 001's MTP_Train^extra-2 predicts -1946 eV/atom and 2.5e8 eV/Å on D_irregular).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from mlip_bench.adapters.uncertainty import ATOM_KEY, STRUCTURE_KEY
from mlip_bench.data.checks import number, numbers_array, structure_problems
from mlip_bench.errors import EvaluationError

PROPERTIES = ("energy", "forces", "stress")

#: |E| per atom above which no calculation is physical: 1e4 eV/atom is 1000x the largest cohesive
#: energy (W, 8.9 eV/atom); for heavy elements the bound is twice the Thomas-Fermi all-electron
#: energy of the atom, 20.9 eV * Z^(7/3) (calculators that include core electrons, such as ANI on
#: S and Cl, report ~1e4 eV/atom; Thomas-Fermi overestimates those magnitudes)
ENERGY_LIMIT_EV_PER_ATOM = 1.0e4
THOMAS_FERMI_EV = 0.7687 * 27.211386
#: |F| per atom above which no force is physical: the bare, unscreened Coulomb repulsion of two Ni
#: nuclei 1 Å apart is 1.1e4 eV/Å; electrons screen it to < 100 eV/Å in any structure a DFT
#: reference set holds (irregular counts > 15 eV/Å as already unphysical)
FORCE_LIMIT_EV_PER_A = 1.0e4
#: |stress component| above which no stress is physical: 1e3 eV/Å³ = 160 TPa, 400x the pressure
#: at the centre of the Earth and 100x the highest static compression ever reached
STRESS_LIMIT_EV_PER_A3 = 1.0e3

#: potential calls made by :func:`predict` in this process (work items report their share)
CALLS = [0]


@dataclass(frozen=True)
class Prediction:
    """energy (eV, total), forces (N, 3) eV/Å, stress (6,) eV/Å³ Voigt tensile-positive or None
    when the potential has none; seconds spent inside the calculator. `uncertainty` (per structure)
    and `atom_uncertainty` (N,) are the potential's own uncertainty, in the unit its
    ``PotentialInfo.uncertainty`` declares, or None (adapters/uncertainty.py)."""

    energy_eV: float
    forces_eV_per_A: np.ndarray | None
    stress_eV_per_A3: np.ndarray | None
    seconds: float
    uncertainty: float | None = None
    atom_uncertainty: np.ndarray | None = None


def _call(calc: Any, atoms: Atoms, want_stress: bool) -> dict[str, Any]:
    props = list(PROPERTIES if want_stress else PROPERTIES[:2])
    if isinstance(calc, Calculator):
        # one call for all properties; reset first because some calculators (CHGNet) keep
        # size-dependent state between structures
        calc.reset()
        calc.calculate(atoms, props, all_changes)
        return dict(calc.results)
    atoms.calc = calc  # old-style calculators (asap3) compute lazily and cache per configuration
    results: dict[str, Any] = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if want_stress and atoms.pbc.all():
        results["stress"] = atoms.get_stress()
    return results


def predict(calc: Any, atoms: Atoms, *, label: str, want_stress: bool = True) -> Prediction:
    """Evaluate `calc` on a copy of `atoms`. `label` names structure and potential in errors.

    Raises EvaluationError, before any call, for a structure no potential may see (NaN positions,
    a singular or impossibly dense cell, too many atoms; :mod:`mlip_bench.data.checks`), and after
    it when the calculator raises, or returns no energy, an energy that is not one finite number,
    or forces or stress of the wrong shape, type or with non-finite values.
    """
    problems = structure_problems(atoms)
    if problems:
        raise EvaluationError(f"{label}: not evaluated: {'; '.join(problems.values())}")
    work = atoms.copy()
    CALLS[0] += 1
    start = time.perf_counter()
    try:
        results = _call(calc, work, want_stress and bool(work.pbc.all()))
    except PropertyNotImplementedError:
        results = _call(calc, work, False)
    except Exception as exc:
        raise EvaluationError(f"{label}: potential raised {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - start
    if results.get("energy") is None:
        raise EvaluationError(f"{label}: potential returned no energy")
    energy, why = number(results["energy"], "energy")
    if energy is None:
        raise EvaluationError(f"{label}: potential returned an unusable energy: {why}")
    forces = _checked(results.get("forces"), [(len(work), 3)], "forces", label)
    stress = _checked(results.get("stress"), [(6,), (3, 3)], "stress", label)
    if stress is not None and stress.shape == (3, 3):
        stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    uncertainty, atom_uncertainty = _uncertainty(results, len(work), label)
    return Prediction(energy, forces, stress, seconds, uncertainty, atom_uncertainty)


def _uncertainty(results: dict[str, Any], n_atoms: int, label: str) -> tuple[float | None, np.ndarray | None]:
    """The calculator's own uncertainty (adapters/uncertainty.py keys), checked like any result: a
    value that is there but unusable fails the structure rather than passing as "no uncertainty"."""
    value = results.get(STRUCTURE_KEY)
    if value is None:
        return None, None
    number_value, why = number(value, STRUCTURE_KEY)
    if number_value is None or number_value < 0:
        raise EvaluationError(f"{label}: potential returned an unusable uncertainty: {why or 'negative'}")
    atoms_value = _checked(results.get(ATOM_KEY), [(n_atoms,)], "per-atom uncertainties", label)
    return number_value, atoms_value


def _checked(value: Any, shapes: list[tuple[int, ...]], name: str, label: str) -> np.ndarray | None:
    arr, why = numbers_array(value, name, shapes)
    if why:
        raise EvaluationError(f"{label}: potential returned unusable {name}: {why}")
    return arr


def check_physical(pred: Prediction, atoms: Atoms, *, label: str) -> None:
    """Raise EvaluationError naming `label` when a predicted value is beyond any physical scale (the
    module's bounds: energy per atom, force per atom, stress component)."""
    n = max(len(atoms), 1)
    z = np.asarray(atoms.numbers, dtype=float)
    bound = float(np.maximum(ENERGY_LIMIT_EV_PER_ATOM, 2 * THOMAS_FERMI_EV * z ** (7 / 3)).sum())
    if abs(pred.energy_eV) > bound:
        raise EvaluationError(
            f"{label}: predicted energy {pred.energy_eV / n:.4g} eV/atom is beyond any physical scale "
            f"(|E| > {bound / n:.3g} eV/atom for these elements)"
        )
    if pred.forces_eV_per_A is not None and len(pred.forces_eV_per_A):
        norms = np.linalg.norm(pred.forces_eV_per_A, axis=1)
        worst = int(np.argmax(norms))
        if norms[worst] > FORCE_LIMIT_EV_PER_A:
            raise EvaluationError(
                f"{label}: predicted force {norms[worst]:.4g} eV/Å on atom {worst} is beyond any physical "
                f"scale (|F| > {FORCE_LIMIT_EV_PER_A:g} eV/Å)"
            )
    if pred.stress_eV_per_A3 is not None:
        worst_stress = float(np.abs(pred.stress_eV_per_A3).max())
        if worst_stress > STRESS_LIMIT_EV_PER_A3:
            raise EvaluationError(
                f"{label}: predicted stress component {worst_stress:.4g} eV/Å³ is beyond any physical scale "
                f"(|σ| > {STRESS_LIMIT_EV_PER_A3:g} eV/Å³ = 160 TPa)"
            )


class TimedCalculator(Calculator):  # type: ignore[misc]
    """Wraps any calculator (ASE or old-style) as an ASE Calculator that computes energy, forces
    and stress in one call, caches per configuration, and adds up the seconds spent inside.
    Values beyond any physical scale raise EvaluationError (:func:`check_physical`).

    `label` names the structure and potential in errors; it is kept as ``where``, not as ASE's
    ``label``, which would make ASE create a folder of that name in the working directory."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012 (ASE declares it so)

    def __init__(self, inner: Any, *, label: str) -> None:
        super().__init__()
        self.inner = inner
        self.where = label
        self.seconds = 0.0
        self.calls = 0

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None  # set by Calculator.calculate above
        pred = predict(self.inner, self.atoms, label=self.where)
        check_physical(pred, self.atoms, label=self.where)
        self.seconds += pred.seconds
        self.calls += 1
        self.results = {"energy": pred.energy_eV, "free_energy": pred.energy_eV}
        if pred.forces_eV_per_A is not None:
            self.results["forces"] = pred.forces_eV_per_A
        if pred.stress_eV_per_A3 is not None:
            self.results["stress"] = pred.stress_eV_per_A3
        if pred.uncertainty is not None:  # observers (MD extrapolation watch) read it from here
            self.results[STRUCTURE_KEY] = pred.uncertainty
            if pred.atom_uncertainty is not None:
                self.results[ATOM_KEY] = pred.atom_uncertainty
