"""Committee adapter (``committee:SPEC|SPEC|...``): mean prediction, spread as uncertainty, refused specs.

Members are ASE's EMT scaled by a factor (a scaled potential is still a consistent potential), used
through ``python:test_committee:FACTORY`` (``tests/`` is on ``sys.path``, conftest.py); one test
builds the paper-001 Li-Al MTP committee when motep and the shared data are there.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.io import read

from mlip_bench.adapters import registry
from mlip_bench.adapters.base import Adapter, PotentialInfo
from mlip_bench.adapters.committee import CommitteeCalculator
from mlip_bench.adapters.registry import load_potential, split_spec
from mlip_bench.engine.evaluate import Prediction, predict
from mlip_bench.errors import EvaluationError, OptionalDependencyError, PotentialError

FACTORS = {"emt_plain": 1.0, "emt_stiffer": 1.08, "emt_softer": 0.95}
SPEC = "committee:" + "|".join(f"python:test_committee:{name}" for name in FACTORS)


class ScaledEMT(EMT):  # type: ignore[misc]
    """ASE's EMT with energy, forces and stress all multiplied by `factor`."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        for key in ("energy", "free_energy", "forces", "stress", "energies"):
            if key in self.results:
                self.results[key] = self.results[key] * self.factor


def emt_plain() -> ScaledEMT:
    return ScaledEMT(FACTORS["emt_plain"])


def emt_stiffer() -> ScaledEMT:
    return ScaledEMT(FACTORS["emt_stiffer"])


def emt_softer() -> ScaledEMT:
    return ScaledEMT(FACTORS["emt_softer"])


class ToyAdapter(Adapter):
    """``toy:Li,Al``: EMT that claims the elements it is given (for the element rules)."""

    name = "toy"
    summary = "test adapter"

    def describe(self, arg: str) -> PotentialInfo:
        return PotentialInfo(
            spec=f"toy:{arg}", name=f"toy {arg}", family="toy", version="1", elements=frozenset(arg.split(","))
        )

    def make_calculator(self, arg: str) -> Any:
        return EMT()


@pytest.fixture
def toy(monkeypatch) -> None:
    monkeypatch.setitem(registry.adapters(), "toy", ToyAdapter())


def _rattled_cu_au() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1))
    atoms.symbols[::3] = "Au"
    atoms.rattle(0.08, seed=4)
    return atoms


def _arr(value: np.ndarray | None) -> np.ndarray:
    assert value is not None
    return value


def _unc(pred: Prediction) -> float:
    assert pred.uncertainty is not None
    return pred.uncertainty


def _spread(preds: list[Prediction], n_atoms: int) -> tuple[float, np.ndarray]:
    energies = np.array([p.energy_eV for p in preds])
    forces = np.stack([_arr(p.forces_eV_per_A) for p in preds])
    return float(np.std(energies, ddof=1)) / n_atoms, np.linalg.norm(np.std(forces, axis=0, ddof=1), axis=1)


def test_mean_and_spread_match_the_members_evaluated_one_by_one() -> None:
    atoms = _rattled_cu_au()
    committee = load_potential(SPEC)
    pred = predict(committee.calculator(), atoms, label="committee")
    members = [predict(load_potential(f"python:test_committee:{n}").calculator(), atoms, label=n) for n in FACTORS]
    assert pred.energy_eV == pytest.approx(np.mean([m.energy_eV for m in members]), abs=1e-12)
    mean_forces = np.mean([_arr(m.forces_eV_per_A) for m in members], axis=0)
    assert np.allclose(_arr(pred.forces_eV_per_A), mean_forces, atol=1e-12)
    mean_stress = np.mean([_arr(m.stress_eV_per_A3) for m in members], axis=0)
    assert np.allclose(_arr(pred.stress_eV_per_A3), mean_stress, atol=1e-12)
    spread, atom_spread = _spread(members, len(atoms))
    assert pred.uncertainty == pytest.approx(spread, rel=1e-12)
    assert pred.atom_uncertainty is not None and pred.atom_uncertainty.shape == (len(atoms),)
    assert np.allclose(pred.atom_uncertainty, atom_spread, rtol=1e-12)
    # scaled members: the spread is |E_EMT| times the spread of the factors
    emt_energy = members[0].energy_eV
    factor_std = np.std(list(FACTORS.values()), ddof=1)
    assert pred.uncertainty == pytest.approx(abs(emt_energy) * factor_std / len(atoms), rel=1e-9)
    assert _unc(pred) > 1e-4 and atom_spread.min() > 1e-4  # a rattled cell: every atom feels a force


def test_identical_members_have_zero_spread() -> None:
    atoms = _rattled_cu_au()
    pred = predict(CommitteeCalculator([EMT(), EMT(), EMT()]), atoms, label="same")
    single = predict(EMT(), atoms, label="one")
    assert pred.uncertainty == 0.0
    assert pred.atom_uncertainty is not None and not pred.atom_uncertainty.any()
    assert pred.energy_eV == pytest.approx(single.energy_eV, abs=1e-12)
    assert np.allclose(_arr(pred.forces_eV_per_A), _arr(single.forces_eV_per_A), atol=1e-12)


def test_describe_declares_committee_std_and_combines_the_members() -> None:
    info = load_potential(SPEC).info
    members = [load_potential(f"python:test_committee:{n}").info for n in FACTORS]
    assert info.uncertainty is not None
    assert (info.uncertainty.measure, info.uncertainty.unit, info.uncertainty.atom_unit) == (
        "committee_std",
        "eV/atom",
        "eV/Å",
    )
    assert info.uncertainty.is_std and info.uncertainty.per_atom
    assert info.name == "committee(emt_plain, emt_stiffer, emt_softer)"
    assert info.family == "committee" and info.spec == SPEC
    assert all(m.version in info.version for m in members)
    assert info.options["size"] == "3" and "note" not in info.options  # all "any element"
    assert split_spec(SPEC) == ("committee", SPEC.partition(":")[2])


def test_elements_are_the_intersection_with_a_note(toy) -> None:
    info = load_potential("committee:toy:Li,Al|toy:Al,Cu|toy:Al,Li,Mg").info
    assert info.elements == frozenset({"Al"})
    assert "intersection" in info.options["note"] and "toy:Al,Cu" in info.options["note"]
    same = load_potential("committee:toy:Li,Al|toy:Al,Li").info
    assert same.elements == frozenset({"Li", "Al"}) and "note" not in same.options
    with pytest.raises(PotentialError, match="share no element"):
        load_potential("committee:toy:Li|toy:Cu")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("committee:emt", "at least two members"),
        ("committee:", "at least two members"),
        ("committee:emt||python:ase.calculators.emt:EMT", "member 2 is empty"),
        ("committee:emt|emt", "member 2 'emt' is given twice"),
        ("committee:emt|emt:other", "member 'emt:other' is the same potential as member 'emt'"),
        ("committee:emt|committee:emt|python:ase.calculators.emt:EMT", "member 2 'committee:emt' is a committee"),
        ("committee:emt|nosuchfamily:x", "member 2 'nosuchfamily:x': unknown potential"),
        ("committee:emt|python:no_such_module_xyz:f", "member 2 'python:no_such_module_xyz:f'"),
    ],
)
def test_bad_specs_are_refused_naming_the_member(spec: str, message: str) -> None:
    with pytest.raises(PotentialError, match=message) as caught:
        load_potential(spec)
    assert spec.partition(":")[2] in str(caught.value)  # names the committee spec too


def test_a_member_with_a_missing_package_keeps_the_optional_dependency_error(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "motep" else real(name, *a))
    with pytest.raises(OptionalDependencyError, match=re.escape("member 2 'mtp:x.mtp'")):
        load_potential("committee:emt|mtp:x.mtp")


def test_a_member_that_fails_makes_the_committee_fail_naming_it() -> None:
    raising = "python:helpers_calculators:RaisingOnThird"
    calc = load_potential(f"committee:python:test_committee:emt_plain|{raising}").calculator()
    atoms = _rattled_cu_au()
    for _ in range(2):
        predict(calc, atoms, label="fine")
    with pytest.raises(EvaluationError, match=f"committee member '{raising}' raised RuntimeError: RaisingOnThird"):
        predict(calc, atoms, label="third")
    nan = CommitteeCalculator([EMT(), _NaNEnergy()], labels=["'emt'", "'nan'"])
    with pytest.raises(EvaluationError, match=r"committee member 'nan' returned unusable results: .*non-finite"):
        predict(nan, atoms, label="nan")


class _NaNEnergy(EMT):  # type: ignore[misc]
    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] = float("nan")


def test_cluster_has_spread_but_no_stress() -> None:
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.4, 0, 0], [0, 2.6, 0], [0, 0, 2.5]])
    pred = predict(load_potential(SPEC).calculator(), cluster, label="Cu4")
    assert pred.stress_eV_per_A3 is None
    assert pred.uncertainty is not None and pred.uncertainty > 0
    assert pred.atom_uncertainty is not None and pred.atom_uncertainty.shape == (4,)


def test_committee_is_a_listed_builtin_adapter() -> None:
    adapter = registry.adapters()["committee"]
    assert adapter.missing() is None
    assert split_spec(adapter.example)[0] == "committee" and "|" in adapter.example


def test_li_al_mtp_committee_of_paper_001(data_root) -> None:
    if importlib.util.find_spec("motep") is None:
        pytest.skip("motep not installed")
    names = ["MTP_train", "MTP_train-extra-1", "MTP_train-extra-2", "MTP_train-extra-3"]
    specs = [f"mtp:{data_root / 'li_al' / 'mtp' / name}.mtp" for name in names]
    potential = load_potential("committee:" + "|".join(specs))
    assert potential.info.name == f"MTP committee({', '.join(names)})"
    assert potential.info.elements == frozenset({"Li", "Al"})
    calc = potential.calculator()
    members = [load_potential(spec).calculator() for spec in specs]
    for atoms in read(data_root / "li_al" / "validation.extxyz.gz", index=":3"):
        pred = predict(calc, atoms, label="committee")
        one_by_one = [predict(m, atoms, label=s) for m, s in zip(members, specs, strict=True)]
        spread, atom_spread = _spread(one_by_one, len(atoms))
        assert pred.energy_eV == pytest.approx(np.mean([p.energy_eV for p in one_by_one]), abs=1e-9)
        assert pred.uncertainty == pytest.approx(spread, rel=1e-9)
        assert np.allclose(_arr(pred.atom_uncertainty), atom_spread, rtol=1e-9)
        assert 0 < _unc(pred) < 0.1  # four fits to one training set disagree by meV/atom, not eV
