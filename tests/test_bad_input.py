"""Bad input through the runner: every problem gives one clear message naming the file,
structure or potential at fault, and the rest of the work completes."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import ase.io
import helpers_calculators
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_bench.data import registry
from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.engine.runner import Cell, run_cell, run_cells
from mlip_bench.engine.spec import TaskSpec, load_task
from mlip_bench.engine.store import ResultStore

TASK = "rmse-mlearn-cu-test"
CU = "mlearn-cu-test"
#: lines of the first four frames of cu_test (107 atoms each: 109 lines per frame)
FOUR_FRAMES = 4 * 109
RAISING = "python:helpers_calculators:RaisingOnThird"
NAN = "python:helpers_calculators:NaNEnergy"
COUNTING = "python:helpers_calculators:Counting"


@pytest.fixture(scope="module")
def task() -> TaskSpec:
    return load_task(TASK)


@pytest.fixture
def four_xyz(tmp_path: Path, cu_test_lines: list[str]) -> Path:
    """The first four frames of cu_test as a plain extxyz (ids cu_four:0 .. cu_four:3)."""
    path = tmp_path / "cu_four.extxyz"
    path.write_text("".join(cu_test_lines[:FOUR_FRAMES]))
    return path


@pytest.fixture
def four_xyz_one_without_forces(tmp_path: Path, four_xyz: Path) -> Path:
    """Like four_xyz, but frame 1 has energy and stress and no forces."""
    frames = ase.io.read(four_xyz, ":")
    assert len(frames) == 4
    second = frames[1]
    results = second.calc.results
    second.calc = SinglePointCalculator(second, energy=results["energy"], stress=results["stress"])
    second.arrays.pop("forces", None)
    path = tmp_path / "cu_noforce.extxyz"
    ase.io.write(path, frames, format="extxyz")
    return path


def _items(record: ResultRecord) -> dict[str, ItemRecord]:
    return {item.id: item for item in record.items}


def _assert_finite_metrics(record: ResultRecord, n: int) -> None:
    for name in (
        "energy_rmse_meV_per_atom",
        "energy_aligned_rmse_meV_per_atom",
        "force_rmse_eV_per_A",
        "force_max_eV_per_A",
        "stress_rmse_GPa",
    ):
        metric = record.metric(name)
        assert metric is not None, name
        assert math.isfinite(metric.value), name
        assert metric.n == n, name


def test_frame_without_forces_is_invalid_rest_scored(task: TaskSpec, four_xyz_one_without_forces: Path):
    path = four_xyz_one_without_forces
    record = run_cell(Cell("emt", task.with_dataset(str(path))))
    assert record.status == "ok", record.message
    assert record.message == ""
    items = _items(record)
    assert set(items) == {"cu_noforce:0", "cu_noforce:1", "cu_noforce:2", "cu_noforce:3"}
    bad = items["cu_noforce:1"]
    assert bad.status == "invalid"
    assert str(path) in bad.reason
    assert "'cu_noforce:1'" in bad.reason and "forces" in bad.reason
    assert [items[f"cu_noforce:{i}"].status for i in (0, 2, 3)] == ["ok", "ok", "ok"]
    assert (record.counts.ok, record.counts.invalid, record.counts.failed) == (3, 1, 0)
    assert record.dataset is not None and record.dataset.n_structures == 4
    _assert_finite_metrics(record, 3)


def test_wrong_checksum_fails_naming_file(monkeypatch: pytest.MonkeyPatch, task: TaskSpec, data_root: Path):
    good = registry.registered_datasets()
    bad = {**good, CU: dataclasses.replace(good[CU], sha256="f" * 64)}
    monkeypatch.setattr(registry, "registered_datasets", lambda *a, **k: bad)
    record = run_cell(Cell("emt", task, data_root=str(data_root)))
    assert record.status == "failed"
    assert str(data_root / good[CU].path) in record.message
    assert "sha256" in record.message and "f" * 64 in record.message
    assert record.items == ()


def test_unknown_potential_lists_adapters(task: TaskSpec, data_root: Path):
    record = run_cell(Cell("nosuch:thing", task, data_root=str(data_root)))
    assert record.status == "failed"
    assert "'nosuch:thing'" in record.message
    assert "known:" in record.message
    for name in ("emt", "eam", "python"):
        assert name in record.message
    assert record.potential.spec == "nosuch:thing"
    assert record.items == ()


def test_potential_raising_on_one_structure(task: TaskSpec, four_xyz: Path):
    record = run_cell(Cell(RAISING, task.with_dataset(str(four_xyz))))
    assert record.status == "ok", record.message
    items = _items(record)
    failed = items["cu_four:2"]
    assert failed.status == "failed"
    assert str(four_xyz) in failed.reason
    assert "'cu_four:2'" in failed.reason
    assert RAISING in failed.reason
    assert "RuntimeError" in failed.reason
    assert helpers_calculators.RaisingOnThird.MESSAGE in failed.reason
    assert [items[f"cu_four:{i}"].status for i in (0, 1, 3)] == ["ok", "ok", "ok"]
    assert (record.counts.ok, record.counts.failed) == (3, 1)
    _assert_finite_metrics(record, 3)


def test_potential_returning_nan(task: TaskSpec, four_xyz: Path):
    record = run_cell(Cell(NAN, task.with_dataset(str(four_xyz))))
    assert record.status == "ok", record.message
    items = _items(record)
    failed = items["cu_four:2"]  # NaNEnergy's default: every third call
    assert failed.status == "failed"
    assert "non-finite" in failed.reason
    assert "'cu_four:2'" in failed.reason and NAN in failed.reason
    assert [items[f"cu_four:{i}"].status for i in (0, 1, 3)] == ["ok", "ok", "ok"]
    _assert_finite_metrics(record, 3)


def test_nan_calculator_by_size():
    calc = helpers_calculators.NaNEnergy(every=None, max_atoms=4)
    small = bulk("Cu", "fcc", a=3.6, cubic=True)  # 4 atoms
    calc.calculate(small, ["energy"])
    assert math.isfinite(calc.results["energy"])
    calc.calculate(small.repeat((2, 1, 1)), ["energy"])
    assert math.isnan(calc.results["energy"])


def test_reference_energy_of_zero_is_scored(task: TaskSpec, tmp_path: Path):
    """A reference energy of exactly 0.0 eV is a value, not a missing label: the cell's energy
    metrics must agree with the per-item errors over every scored structure."""
    frames = []
    for a, energy in ((3.6, 0.0), (3.65, -14.0)):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.rattle(0.01, seed=1)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((4, 3)), stress=np.zeros(6))
        frames.append(atoms)
    path = tmp_path / "zero.extxyz"
    ase.io.write(path, frames, format="extxyz")
    record = run_cell(Cell("emt", task.with_dataset(str(path))))
    assert record.status == "ok", record.message
    assert record.counts.ok == 2
    errors = np.array([item.values["e_err_meV_per_atom"] for item in record.items])
    assert np.isfinite(errors).all()
    metric = record.metric("energy_rmse_meV_per_atom")
    assert metric is not None
    assert metric.value == pytest.approx(float(np.sqrt(np.mean(errors**2))), rel=1e-9)


def test_truncated_dataset_fails_naming_file(task: TaskSpec, tmp_path: Path, cu_test_lines: list[str]):
    path = tmp_path / "cut.extxyz"
    path.write_text("".join(cu_test_lines[: 109 + 60]))
    record = run_cell(Cell("emt", task.with_dataset(str(path))))
    assert record.status == "failed"
    assert str(path) in record.message
    assert "frame 1" in record.message
    assert record.items == ()


def test_missing_data_root(task: TaskSpec, tmp_path: Path):
    record = run_cell(Cell("emt", task, data_root=str(tmp_path / "nothing")))
    assert record.status == "missing_data"
    assert "--data-root" in record.message
    assert "MLIP_BENCH_DATA" in record.message
    assert str(tmp_path / "nothing") in record.message
    assert record.items == ()


def test_run_cells_one_bad_cell_both_stored(task: TaskSpec, four_xyz: Path, tmp_path: Path):
    store = ResultStore(tmp_path / "results")
    good_task = task.with_dataset(str(four_xyz))
    cells = [Cell("nosuch:thing", good_task), Cell("emt", good_task)]
    records = run_cells(cells, store=store)
    assert [r.status for r in records] == ["failed", "ok"]
    assert [r.potential.spec for r in records] == ["nosuch:thing", "emt"]
    assert "known:" in records[0].message
    assert records[1].counts.ok == 4
    stored = {r.potential.spec: r for r in store.records()}
    assert set(stored) == {"nosuch:thing", "emt"}
    assert stored["nosuch:thing"].status == "failed"
    assert stored["nosuch:thing"].message == records[0].message
    assert stored["emt"].status == "ok"
    assert [i.id for i in stored["emt"].items] == [i.id for i in records[1].items]
    for record in records:
        assert store.path_for(record.task.id, record.potential.spec, record.key).is_file()


def test_stored_cell_is_not_recomputed(task: TaskSpec, four_xyz: Path, tmp_path: Path):
    store = ResultStore(tmp_path / "results")
    cell = Cell(COUNTING, task.with_dataset(str(four_xyz)))
    helpers_calculators.reset_counting()
    [first] = run_cells([cell], store=store)
    assert first.status == "ok", first.message
    assert helpers_calculators.COUNTING_CALLS == 4  # one call per structure
    [again] = run_cells([cell], store=store)
    assert helpers_calculators.COUNTING_CALLS == 4
    assert again.key == first.key and again.created_utc == first.created_utc
    [forced] = run_cells([cell], store=store, force=True)
    assert helpers_calculators.COUNTING_CALLS == 8
    assert forced.status == "ok"
