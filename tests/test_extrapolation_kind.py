"""The ``extrapolation`` kind end to end through the engine, with fake potentials (``python:``
factories of this module) whose uncertainty and error are set per structure, so that every metric
has a value computed here by hand.

Structures: fcc Al cubic cells (4 atoms) with lattice constants 4.00, 4.01, ... Å; the fake
potential is EMT plus an energy error per atom and a force error set by the lattice constant, and
reports a set uncertainty. The reference labels are EMT's own.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from mlip_bench.adapters.python_factory import PythonFactoryAdapter
from mlip_bench.adapters.uncertainty import UncertaintyInfo, grade_info
from mlip_bench.engine.kinds import get_kind
from mlip_bench.engine.records import ResultRecord
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task, parse_task

MODULE = "test_extrapolation_kind"
A_VALUES = (4.00, 4.01, 4.02, 4.03, 4.04, 4.05)
#: the fake's energy error per atom (meV/atom, signs alternate: only the size counts) ...
E_ERR_MEV = dict(zip(A_VALUES, (5.0, -10.0, 15.0, -20.0, 25.0, -30.0), strict=True))
#: ... its force error (eV/Å on every atom's x, ordered against the energy error) ...
F_ERR = dict(zip(A_VALUES, (0.6, 0.5, 0.4, 0.3, 0.2, 0.1), strict=True))
#: ... and its uncertainty (eV/atom): ranks 1 2 4 3 6 5 against |ΔE| ranks 1..6
SIGMA = dict(zip(A_VALUES, (0.005, 0.010, 0.022, 0.020, 0.030, 0.025), strict=True))
#: lattice constant of a structure for which the fake returns no uncertainty
A_SILENT = 4.06


def _lattice(atoms: Any) -> float:
    return round(float((4 * atoms.get_volume() / len(atoms)) ** (1 / 3)), 2)


class UncertainEMT(EMT):
    """EMT plus the errors above, reporting σ (ensemble_std) per structure and per atom."""

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None  # set by the call above
        a, n = _lattice(self.atoms), len(self.atoms)
        if a == A_SILENT:
            return  # declares an uncertainty, returns none: hostile
        self.results["energy"] += E_ERR_MEV[a] / 1000.0 * n
        forces = self.results["forces"].copy()
        forces[:, 0] += F_ERR[a]
        self.results["forces"] = forces
        self.results["uncertainty"] = SIGMA[a]
        self.results["uncertainties"] = np.full(n, SIGMA[a] * 10)


def fake_std() -> UncertainEMT:
    """A fake ensemble: σ_E without thresholds."""
    return UncertainEMT()


fake_std.uncertainty = UncertaintyInfo(  # type: ignore[attr-defined]
    measure="ensemble_std", unit="eV/atom", per_atom=True, atom_unit="eV/Å"
)


def fake_std_thresholds() -> UncertainEMT:
    """A fake ensemble that declares select and break thresholds in eV/atom."""
    return UncertainEMT()


fake_std_thresholds.uncertainty = dataclasses.replace(fake_std.uncertainty, thresholds=(0.012, 0.026))  # type: ignore[attr-defined]


class GradedEMT(EMT):
    """EMT reporting an extrapolation grade γ = 100·(a - 4.00 Å) + 0.5 (a = 4.00 ... 4.05: 0.5 ... 5.5)."""

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.results["uncertainty"] = 100.0 * (_lattice(self.atoms) - 4.00) + 0.5


def fake_grade() -> GradedEMT:
    """A fake MTP grade."""
    return GradedEMT()


fake_grade.uncertainty = grade_info("fake training set")  # type: ignore[attr-defined]


def _dataset(path: Path, a_values: tuple[float, ...], *, labelled: bool) -> Path:
    frames = []
    for i, a in enumerate(a_values):
        atoms = bulk("Al", "fcc", a=a, cubic=True)
        atoms.positions[0] += [0.05, -0.03, 0.02]  # non-zero forces
        if labelled:
            atoms.calc = EMT()
            e, f = atoms.get_potential_energy(), atoms.get_forces()
            atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        atoms.info["id"] = f"s{i}"
        atoms.info["label"] = "low" if a < 4.025 else "high"
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def _run(spec: str, dataset: Path, **parameters: Any) -> ResultRecord:
    raw = yaml.safe_load(Path(load_task("extrapolation-li-al-test").source).read_text())
    raw |= {"id": "extrapolation-fake", "dataset": str(dataset), "parameters": {**raw["parameters"], **parameters}}
    return run_cell(Cell(spec, parse_task(raw, source="test")))


def _value(record: ResultRecord, name: str) -> float:
    return next(m.value for m in record.metrics if m.name == name)


def test_std_uncertainty_against_known_errors(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "al.extxyz", (*A_VALUES, A_SILENT), labelled=True)
    record = _run(f"python:{MODULE}:fake_std", data, error_threshold_meV_per_atom=17.0, n_bins=3)
    assert record.status == "ok", record.message
    rho = 1 - 6 * 4 / (6 * 35)  # Σd² = 4 between ranks 1 2 4 3 6 5 and 1..6
    assert _value(record, "spearman_energy_error") == pytest.approx(rho)
    assert _value(record, "spearman_force_error") == pytest.approx(-rho)  # force errors run the other way
    # |ΔE| > 17: σ 0.020, 0.030, 0.025 against 0.005, 0.010, 0.022: 8 of 9 pairs ordered
    assert _value(record, "auc_energy_error_above_threshold") == pytest.approx(8 / 9)
    # the worst 10 % of 6 is the 30 meV/atom structure (σ 0.025): above 4 of the other 5
    assert _value(record, "auc_worst_fraction") == pytest.approx(0.8)
    sigma = np.array(list(SIGMA.values()))
    err = np.array(list(E_ERR_MEV.values())) / 1000.0
    nll = np.mean(0.5 * np.log(2 * np.pi * sigma**2) + err**2 / (2 * sigma**2))
    assert _value(record, "gaussian_nll") == pytest.approx(nll)
    assert 0.0 < _value(record, "miscalibration_area") < 0.5
    assert _value(record, "uncertainty_median") == pytest.approx(np.median(sigma))
    assert _value(record, "energy_rmse_meV_per_atom") == pytest.approx(np.sqrt(np.mean((err * 1000) ** 2)))
    # σ without declared or task thresholds in eV/atom: no share, and a note says so
    assert math.isnan(_value(record, "share_above_select")) and math.isnan(_value(record, "share_above_break"))
    assert any("no threshold in eV/atom" in n for n in record.notes)

    silent = next(i for i in record.items if i.id == "s6")
    assert silent.status == "failed" and "returned none" in silent.reason
    ok = {i.id: i for i in record.items if i.status == "ok"}
    assert len(ok) == 6 and record.counts.failed == 1
    assert ok["s1"].values["e_abs_err_meV_per_atom"] == pytest.approx(10.0)
    assert ok["s1"].values["uncertainty"] == pytest.approx(0.010)
    assert ok["s1"].values["force_rmse_eV_per_A"] == pytest.approx(0.5 / math.sqrt(3))
    assert ok["s1"].arrays["atom_uncertainty"] == pytest.approx([0.1] * 4)

    groups = {g.group: {m.name: m.value for m in g.metrics} for g in record.groups}
    assert groups["low"]["uncertainty_median"] == pytest.approx(0.010)  # σ 0.005, 0.010, 0.022
    assert groups["high"]["energy_rmse_meV_per_atom"] == pytest.approx(np.sqrt((20**2 + 25**2 + 30**2) / 3))

    # binned_error: 3 bins of 2 by σ, each point on the structure nearest the bin's median σ
    points = sorted(
        (i.arrays["binned_error:x"][0], i.arrays["binned_error:y"][0])
        for i in ok.values()
        if "binned_error:x" in i.arrays
    )
    np.testing.assert_allclose(points, [(0.0075, 7.5), (0.021, 17.5), (0.0275, 27.5)])
    assert "binned_error" in get_kind("extrapolation").plots


def test_declared_thresholds_give_the_shares(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "al.extxyz", A_VALUES, labelled=True)
    record = _run(f"python:{MODULE}:fake_std_thresholds", data)
    assert _value(record, "share_above_select") == pytest.approx(4 / 6)  # σ > 0.012
    assert _value(record, "share_above_break") == pytest.approx(1 / 6)  # σ > 0.026
    # the task's own eV/atom thresholds win over the potential's
    record = _run(f"python:{MODULE}:fake_std_thresholds", data, select_threshold_eV_per_atom=0.021)
    assert _value(record, "share_above_select") == pytest.approx(3 / 6)


def test_dataset_without_labels_scores_the_grade_alone(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "irregular.extxyz", A_VALUES, labelled=False)
    record = _run(f"python:{MODULE}:fake_grade", data)
    assert record.status == "ok", record.message
    assert record.counts.ok == 6
    gammas = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    assert _value(record, "share_above_select") == pytest.approx(5 / 6)  # γ > 1.001
    assert _value(record, "share_above_break") == pytest.approx(1 / 6)  # γ > 5
    assert _value(record, "uncertainty_median") == pytest.approx(np.median(gammas))
    for name in ("spearman_energy_error", "auc_energy_error_above_threshold", "energy_rmse_meV_per_atom"):
        assert math.isnan(_value(record, name)), name
    assert all(m.name not in ("miscalibration_area", "gaussian_nll") or math.isnan(m.value) for m in record.metrics)
    assert all("e_abs_err_meV_per_atom" not in i.values for i in record.items)
    assert any("no reference energy" in n for n in record.notes)


def test_potential_without_uncertainty_is_not_applicable(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "al.extxyz", A_VALUES, labelled=True)
    record = _run("emt", data)
    assert record.status == "not_applicable"
    assert "uncertainty" in record.message


def test_every_extrapolation_task_validates() -> None:
    kind = get_kind("extrapolation")
    for name in ("test", "vacancy", "slabs", "irregular"):
        task = load_task(f"extrapolation-li-al-{name}")
        assert task.kind == "extrapolation"
        assert all(m.name in kind.produces for m in task.metrics)
        directions = {m.name: m.direction for m in task.metrics}
        assert all(directions[n] == "none" for n in directions if n.startswith(("share_above", "uncertainty_")))
        assert all(directions[n] == "higher" for n in directions if n.startswith(("spearman", "auc")))


def test_a_factory_declares_its_uncertainty_and_a_wrong_declaration_is_refused() -> None:
    from mlip_bench.errors import PotentialError

    adapter = PythonFactoryAdapter()
    assert adapter.describe("test_extrapolation_kind:fake_grade").uncertainty == grade_info("fake training set")
    assert adapter.describe("ase.calculators.emt:EMT").uncertainty is None
    with pytest.raises(PotentialError, match="'uncertainty' attribute is a str"):
        adapter.describe("test_extrapolation_kind:badly_declared")


def badly_declared() -> EMT:
    return EMT()


badly_declared.uncertainty = "gamma"  # type: ignore[attr-defined]


def test_rmse_puts_the_uncertainty_next_to_the_error(tmp_path: Path) -> None:
    """The rmse kind of the same dataset: median σ and, with declared thresholds, the share above
    the first, per cell and per group, and each structure's σ beside its error."""
    data = _dataset(tmp_path / "al.extxyz", A_VALUES, labelled=True)
    raw = yaml.safe_load(Path(load_task("rmse-li-al-train").source).read_text())
    raw |= {"id": "rmse-fake", "dataset": str(data), "parameters": {"properties": ["energy", "forces"]}}
    task = parse_task(raw, source="test")
    record = run_cell(Cell(f"python:{MODULE}:fake_std_thresholds", task))
    assert record.status == "ok", record.message
    sigma = np.array(list(SIGMA.values()))
    assert _value(record, "sigma_median_meV_per_atom") == pytest.approx(1000 * np.median(sigma))
    assert _value(record, "sigma_share_above_select") == pytest.approx(4 / 6)  # σ > 0.012
    groups = {g.group: {m.name: m.value for m in g.metrics} for g in record.groups}
    assert groups["low"]["sigma_median_meV_per_atom"] == pytest.approx(10.0)
    assert groups["high"]["sigma_share_above_select"] == pytest.approx(1.0)
    assert {i.id: i.values["uncertainty"] for i in record.items}["s1"] == pytest.approx(0.010)
    graded = run_cell(Cell(f"python:{MODULE}:fake_grade", task))  # a grade gets the γ names
    gamma = [100.0 * (a - 4.00) + 0.5 for a in A_VALUES]
    assert _value(graded, "gamma_median") == pytest.approx(np.median(gamma))
    assert _value(graded, "gamma_share_above_select") == pytest.approx(np.mean(np.array(gamma) > 1.001))
    assert graded.metric("sigma_median_meV_per_atom") is None
    plain = run_cell(Cell("emt", task))  # no uncertainty: no such values anywhere
    listed = plain.metric("gamma_median")  # listed by the task file: present, without a value
    assert listed is not None and math.isnan(listed.value) and plain.metric("sigma_median_meV_per_atom") is None
    assert all("uncertainty" not in i.values for i in plain.items)
