"""Property kinds record the potential's own uncertainty of every structure they evaluate: curves
next to the energy curves, the largest value of scalar items, and, against a reference curve, the
rank correlation of uncertainty and error. A potential without one leaves the records unchanged.

The calculator is EMT whose "uncertainty" is a known function of the structure (:func:`spread`),
so every stored value can be recomputed here from the structure it belongs to."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from scipy.stats import spearmanr

from mlip_bench.adapters.uncertainty import UncertaintyInfo
from mlip_bench.data.curves import ReferenceCurve, reference_curve
from mlip_bench.engine.kinds.gsfe import _uncertainty
from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import TaskSpec, load_task_file
from mlip_bench.properties.gsfe import GSFEPath
from mlip_bench.properties.paths import BAIN_DIRECTION, stretch
from mlip_bench.properties.surfaces import _slab

TASKS = Path(__file__).resolve().parents[1] / "tasks"
WITH_U = "python:test_property_uncertainty:SpreadEMT"
PLAIN = "python:ase.calculators.emt:EMT"


def spread(atoms: Atoms) -> float:
    """The test potential's "uncertainty", eV/atom: grows with the atom count, the spread of the cell
    lengths (a stretched cell) and the volume per atom."""
    lengths = atoms.cell.lengths()
    return 1e-4 * len(atoms) + 1e-2 * float(np.ptp(lengths)) + 1e-3 * atoms.get_volume() / len(atoms)


class SpreadEMT(EMT):
    """EMT reporting :func:`spread` of each structure as its uncertainty (test potential)."""

    uncertainty = UncertaintyInfo(measure="ensemble_std", unit="eV/atom", per_atom=False, source="test")

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None  # set by Calculator.calculate
        self.results["uncertainty"] = spread(self.atoms)


def _task(name: str, **parameters: object) -> TaskSpec:
    task = load_task_file(TASKS / name)
    return dataclasses.replace(task, parameters={**task.parameters, **parameters})


def _run(spec: str, task: TaskSpec) -> ResultRecord:
    record = run_cell(Cell(spec, task))
    assert record.status == "ok", record.message
    assert all(i.status == "ok" for i in record.items), [i.reason for i in record.items]
    return record


def _without_uncertainty(item: ItemRecord) -> tuple[set[str], set[str]]:
    return {k for k in item.values if "uncertainty" not in k}, {k for k in item.arrays if "uncertainty" not in k}


@pytest.fixture(scope="module")
def bain() -> tuple[ResultRecord, ResultRecord]:
    task = _task("al-bain-path.yaml", step=0.05)
    return _run(WITH_U, task), _run(PLAIN, task)


def test_path_records_each_points_uncertainty_and_its_rank_correlation_with_the_error(bain) -> None:
    record, _ = bain
    item = record.items[0]
    x = item.arrays["bain_path_uncertainty:x"]
    assert x == item.arrays["bain_path:x"]
    fcc = bulk("Al", "fcc", a=4.0423)  # the task's lattice_constant_A
    expected = [spread(stretch(fcc, BAIN_DIRECTION, r)) for r in x]
    np.testing.assert_allclose(item.arrays["bain_path_uncertainty:y"], expected, rtol=1e-12)
    assert np.ptp(expected) > 1e-3  # the stretched cells differ, so the ranking means something
    # every structure evaluated is on the path (fixed volume): the largest is the curve's largest
    assert item.values["uncertainty_max"] == pytest.approx(max(expected), rel=1e-12)

    curve = reference_curve("al/bain/dft-pbe-gpaw")
    path = dict(zip(np.round(x, 10), zip(item.arrays["bain_path:y"], expected, strict=True), strict=True))
    pairs = [(path[r][1], abs(path[r][0] - y)) for r, y in zip(np.round(curve.x, 10), curve.y, strict=True)]
    rho = spearmanr([u for u, _ in pairs], [e for _, e in pairs]).statistic
    metric = record.metric("spearman_uncertainty_error")
    assert metric is not None and metric.value == pytest.approx(rho, abs=1e-12)
    assert item.values["spearman_uncertainty_error"] == metric.value


def test_a_potential_without_uncertainty_leaves_the_path_record_unchanged(bain) -> None:
    with_u, plain = bain
    item, plain_item = with_u.items[0], plain.items[0]
    assert not [k for k in (*plain_item.values, *plain_item.arrays) if "uncertainty" in k]
    assert plain.metric("spearman_uncertainty_error") is None
    assert _without_uncertainty(item) == (set(plain_item.values), set(plain_item.arrays))
    assert item.arrays["bain_path:y"] == plain_item.arrays["bain_path:y"]  # the same energies


def test_cold_curves_record_the_uncertainty_of_each_volume_and_of_each_minimum() -> None:
    task = _task("al-cold-curves.yaml", volume_factors=[0.9, 1.0, 1.1])
    task = dataclasses.replace(task, structures=tuple(s for s in task.structures if s.crystal in ("fcc", "hcp")))
    items = {i.id: i for i in _run(WITH_U, task).items}
    fcc = items["Al-fcc"]
    volumes = np.asarray(fcc.arrays["cold_curve_uncertainty:x"])
    np.testing.assert_allclose(volumes, fcc.arrays["cold_curve:x"])
    np.testing.assert_allclose(fcc.arrays["cold_curve_uncertainty:y"], 1e-4 + 1e-3 * volumes, rtol=1e-10)
    # hcp: the uncertainty of the cell at the c/a the search picked (lengths a, a, c; two atoms)
    hcp = items["Al-hcp"]
    v0, ca = hcp.values["v0_A3_per_atom"], hcp.values["c_over_a"]
    a = (4 * v0 / (np.sqrt(3) * ca)) ** (1 / 3)
    assert hcp.values["uncertainty_at_minimum"] == pytest.approx(2e-4 + 1e-2 * a * (ca - 1) + 1e-3 * v0, rel=1e-9)
    assert all(len(i.arrays["cold_curve_uncertainty:y"]) == 3 for i in items.values())
    assert hcp.values["uncertainty_max"] >= max(hcp.arrays["cold_curve_uncertainty:y"])


def test_point_defects_record_each_cells_uncertainty_and_the_largest_per_defect() -> None:
    task = _task("al-point-defects.yaml", sizes=[2, 3], fmax_eV_per_A=1e-2)
    item = _run(WITH_U, task).items[0]
    a = item.values["a_A"]
    perfect = [32, 108]
    volume = [(n * a) ** 3 for n in (2, 3)]

    def expected(atoms: list[int]) -> list[float]:
        return [1e-4 * n + 1e-3 * v / n for n, v in zip(atoms, volume, strict=True)]

    assert item.arrays["vacancy_uncertainty:x"] == item.arrays["vacancy:x"] == [32.0, 108.0]
    np.testing.assert_allclose(item.arrays["perfect_uncertainty"], expected(perfect), rtol=1e-9)
    np.testing.assert_allclose(item.arrays["vacancy_uncertainty:y"], expected([31, 107]), rtol=1e-9)
    np.testing.assert_allclose(item.arrays["dumbbell100_uncertainty:y"], expected([33, 109]), rtol=1e-9)
    largest_vacancy = max(expected(perfect) + expected([31, 107]))
    assert item.values["uncertainty_max_vacancy"] == pytest.approx(largest_vacancy, rel=1e-9)
    largest_dumbbell = max(expected(perfect) + expected([33, 109]))
    assert item.values["uncertainty_max_dumbbell100"] == pytest.approx(largest_dumbbell, rel=1e-9)
    # every structure evaluated: the 4-atom bulk relaxation and the cells above
    assert item.values["uncertainty_max"] == pytest.approx(max(largest_vacancy, largest_dumbbell), rel=1e-9)

    plain = _run(PLAIN, task).items[0]
    assert not [k for k in (*plain.values, *plain.arrays) if "uncertainty" in k]
    assert _without_uncertainty(item) == (set(plain.values), set(plain.arrays))


def test_surfaces_record_each_slabs_uncertainty_and_the_largest_per_facet() -> None:
    task = _task("al-surfaces.yaml", facets=["111"], min_thicknesses_A=[10.0, 12.0], fmax_eV_per_A=1e-2)
    item = _run(WITH_U, task).items[0]
    a, c = item.values["a_A"], item.values["c_A"]
    # the slab's cell and atom count fix its "uncertainty"; relaxation moves only the atoms
    slabs = [_slab("111", "Al", a, c, t, 20.0) for t in (10.0, 12.0)]
    expected = [spread(s) for s in slabs]
    np.testing.assert_allclose(item.arrays["gamma_111_uncertainty:y"], expected, rtol=1e-9)
    assert item.arrays["gamma_111_uncertainty:x"] == item.arrays["gamma_111:x"]
    bulk_u = 4e-4 + 1e-3 * a**3 / 4
    assert item.values["uncertainty_bulk"] == pytest.approx(bulk_u, rel=1e-9)
    assert item.values["uncertainty_max_111"] == pytest.approx(max(bulk_u, *expected), rel=1e-9)


def test_eos_records_the_uncertainty_of_each_scanned_cell() -> None:
    item = _run(WITH_U, _task("al-eos.yaml", n_points=5)).items[0]
    volumes = np.asarray(item.arrays["eos_uncertainty:x"])
    np.testing.assert_allclose(volumes, item.arrays["volumes_A3_per_atom"])
    np.testing.assert_allclose(item.arrays["eos_uncertainty:y"], 4e-4 + 1e-3 * volumes, rtol=1e-9)
    assert item.values["uncertainty_max"] >= max(item.arrays["eos_uncertainty:y"])


def _curve(key: str, x: list[float], y: list[float]) -> ReferenceCurve:
    return ReferenceCurve(key, "DFT", "displacement (b_p)", "γ (mJ/m²)", tuple(x), tuple(y), "test")


def test_gsfe_rank_correlation_pools_both_reference_curves_once_per_point() -> None:
    x = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    gamma = (0.0, 100.0, 150.0, 120.0, 140.0, 200.0, 150.0)
    u = (0.1, 0.4, 0.2, 0.3, 0.5, 0.6, 0.7)
    path = GSFEPath(x, gamma, True, 1, u)
    slip = _curve("slip", [0.0, 0.5, 1.0], [0.0, 130.0, 150.0])  # errors 0, 20, -10
    twin = _curve("twin", [1.0, 1.5, 2.0], [100.0, 230.0, 150.0])  # x = 1 is the slip curve's
    values, arrays = _uncertainty(path, {"gsfe_rmse_mJ_per_m2": slip, "gsfe_twin_rmse_mJ_per_m2": twin})
    rho = spearmanr([0.1, 0.2, 0.5, 0.6, 0.7], [0.0, 20.0, 10.0, 30.0, 0.0]).statistic
    assert values["spearman_uncertainty_error"] == pytest.approx(rho, abs=1e-12)
    assert arrays == {"gsfe_uncertainty:x": list(x), "gsfe_uncertainty:y": list(u)}
    assert _uncertainty(path, {})[0] == {}
