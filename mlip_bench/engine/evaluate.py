"""One potential call on one structure, guarded: an exception or a non-finite number becomes an
:class:`EvaluationError` that names the structure and the potential, never a crash."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from mlip_bench.errors import EvaluationError

PROPERTIES = ("energy", "forces", "stress")

#: potential calls made by :func:`predict` in this process (work items report their share)
CALLS = [0]


@dataclass(frozen=True)
class Prediction:
    """energy (eV, total), forces (N, 3) eV/Å, stress (6,) eV/Å³ Voigt tensile-positive or None
    when the potential has none; seconds spent inside the calculator."""

    energy_eV: float
    forces_eV_per_A: np.ndarray | None
    stress_eV_per_A3: np.ndarray | None
    seconds: float


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

    Raises EvaluationError when the calculator raises, or returns no energy, a wrongly shaped
    or non-finite result.
    """
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
    energy = results.get("energy")
    if energy is None:
        raise EvaluationError(f"{label}: potential returned no energy")
    energy = float(np.asarray(energy).reshape(-1)[0])
    if not np.isfinite(energy):
        raise EvaluationError(f"{label}: potential returned a non-finite energy ({energy})")
    forces = _checked(results.get("forces"), (len(work), 3), "forces", label)
    stress = results.get("stress")
    if stress is not None:
        stress = np.asarray(stress, dtype=float)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        stress = _checked(stress, (6,), "stress", label)
    return Prediction(energy, forces, stress, seconds)


def _checked(value: Any, shape: tuple[int, ...], name: str, label: str) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.array(value, dtype=float)
    if arr.shape != shape:
        raise EvaluationError(f"{label}: potential returned {name} of shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise EvaluationError(f"{label}: potential returned non-finite {name}")
    return arr


class TimedCalculator(Calculator):  # type: ignore[misc]
    """Wraps any calculator (ASE or old-style) as an ASE Calculator that computes energy, forces
    and stress in one call, caches per configuration, and adds up the seconds spent inside."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012 (ASE declares it so)

    def __init__(self, inner: Any, *, label: str) -> None:
        super().__init__()
        self.inner = inner
        self.label = label
        self.seconds = 0.0
        self.calls = 0

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None  # set by Calculator.calculate above
        pred = predict(self.inner, self.atoms, label=self.label)
        self.seconds += pred.seconds
        self.calls += 1
        self.results = {"energy": pred.energy_eV, "free_energy": pred.energy_eV}
        if pred.forces_eV_per_A is not None:
            self.results["forces"] = pred.forces_eV_per_A
        if pred.stress_eV_per_A3 is not None:
            self.results["stress"] = pred.stress_eV_per_A3
