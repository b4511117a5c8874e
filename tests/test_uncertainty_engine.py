"""A potential's own uncertainty travels with its prediction: read from the calculator's results,
checked like any result, stored in the prediction chunks and read back unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from mlip_bench.adapters.uncertainty import (
    GAMMA_BREAK,
    UncertaintyInfo,
    bayesian_energy_std,
    grade_info,
)
from mlip_bench.engine.artifacts import ArtifactStore, ChunkPredictions
from mlip_bench.engine.evaluate import TimedCalculator, predict
from mlip_bench.errors import EvaluationError


class WithUncertainty(EMT):
    """EMT that reports the given structure and per-atom uncertainty values."""

    def __init__(self, value: Any, per_atom: Any = None) -> None:
        super().__init__()
        self.value = value
        self.per_atom = per_atom

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.results["uncertainty"] = self.value
        if self.per_atom is not None:
            self.results["uncertainties"] = self.per_atom


def _cell() -> Any:
    return bulk("Cu", "fcc", a=3.6, cubic=True)


def test_prediction_carries_the_uncertainty_and_per_atom_values() -> None:
    per_atom = np.array([0.5, 1.5, 2.0, 0.25])
    pred = predict(WithUncertainty(2.0, per_atom), _cell(), label="cu")
    assert pred.uncertainty == 2.0
    np.testing.assert_array_equal(pred.atom_uncertainty, per_atom)
    plain = predict(EMT(), _cell(), label="cu")
    assert plain.uncertainty is None and plain.atom_uncertainty is None


@pytest.mark.parametrize(
    ("value", "per_atom", "says"),
    [
        (float("nan"), None, "uncertainty"),
        (-1.0, None, "uncertainty"),
        ("high", None, "uncertainty"),
        (1.0, np.ones(3), "per-atom uncertainties"),  # 4 atoms
        (1.0, np.array([1.0, np.inf, 1.0, 1.0]), "per-atom uncertainties"),
    ],
)
def test_an_unusable_uncertainty_fails_the_structure_and_says_so(value: Any, per_atom: Any, says: str) -> None:
    with pytest.raises(EvaluationError, match=f"cu.*{says}"):
        predict(WithUncertainty(value, per_atom), _cell(), label="cu")


def test_timed_calculator_passes_the_uncertainty_to_observers() -> None:
    atoms = _cell()
    atoms.calc = TimedCalculator(WithUncertainty(3.0, np.arange(4.0)), label="cu")
    atoms.get_potential_energy()
    assert atoms.calc.results["uncertainty"] == 3.0
    np.testing.assert_array_equal(atoms.calc.results["uncertainties"], np.arange(4.0))


def test_stored_predictions_keep_uncertainties(tmp_path) -> None:
    with_u = predict(WithUncertainty(0.7, np.array([0.1, 0.2, 0.3, 0.7])), _cell(), label="a")
    only_u = predict(WithUncertainty(0.4), _cell(), label="b")
    none = predict(EMT(), _cell(), label="c")
    store = ArtifactStore(tmp_path / "artifacts")
    store.put_predictions("pot", "chunk", ChunkPredictions({"a": with_u, "b": only_u, "c": none}, {}))
    back = store.load_predictions("pot").predictions
    assert back["a"].uncertainty == pytest.approx(0.7)
    np.testing.assert_allclose(back["a"].atom_uncertainty, [0.1, 0.2, 0.3, 0.7])
    assert back["b"].uncertainty == pytest.approx(0.4) and back["b"].atom_uncertainty is None
    assert back["c"].uncertainty is None and back["c"].atom_uncertainty is None
    assert back["a"].energy_eV == with_u.energy_eV


def test_declarations() -> None:
    grade = grade_info("li-al-train sha256 0123")
    assert not grade.is_std and grade.thresholds[-1] == GAMMA_BREAK and grade.label == "γ"
    spread = UncertaintyInfo(measure="ensemble_std", unit="eV/atom", per_atom=False)
    assert spread.is_std and spread.label == "σ_E (eV/atom)"
    with pytest.raises(ValueError, match="unknown uncertainty measure"):
        UncertaintyInfo(measure="vibes", unit="", per_atom=False)


class _Linear:
    """A two-basis linear model with a known posterior."""

    coefficients = np.array([1.0, 2.0])
    covariance = np.array([[0.04, 0.0], [0.0, 0.01]])
    noise_std_eV_per_atom = 0.003

    def basis(self, atoms: object) -> np.ndarray:
        return np.array([[1.0, 0.0], [0.0, 2.0]])  # two atoms


def test_bayesian_std_is_the_posterior_predictive_std_per_atom() -> None:
    # summed basis b = (1, 2): bᵀΣb = 0.04 + 0.04 = 0.08 eV²; per atom /N² = 0.02; plus noise²
    expected = np.sqrt(0.08 / 4 + 0.003**2)
    assert bayesian_energy_std(_Linear(), None) == pytest.approx(expected)
    bad = _Linear()
    bad.covariance = np.eye(3)
    with pytest.raises(ValueError, match="does not match"):
        bayesian_energy_std(bad, None)


def test_an_items_scratch_folder_goes_once_its_output_is_stored(tmp_path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    scratch = store.scratch_dir("k" * 40)
    (scratch / "checkpoint.npz").write_bytes(b"x")
    store.drop_scratch("k" * 40)
    assert not scratch.exists()
    store.drop_scratch("k" * 40)  # already gone: no error
