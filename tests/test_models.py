"""Optional universal potentials (run in their own nox sessions: models-chgnet, models-sevenn,
models-mace). Each runs offline with the weights its wheel carries."""

from __future__ import annotations

import os

import ase.io
import pytest
from ase.build import bulk

from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.extxyz import frame_to_atoms
from mlip_bench.data.registry import load_dataset
from mlip_bench.engine.evaluate import predict
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task

pytestmark = pytest.mark.models

CASES = [
    pytest.param("chgnet", marks=pytest.mark.chgnet),
    pytest.param("sevenn:7net-0", marks=pytest.mark.sevenn),
]


@pytest.mark.parametrize("spec", CASES)
def test_same_energy_per_atom_for_any_supercell_in_a_row(spec) -> None:
    calc = load_potential(spec).calculator()
    per_atom = []
    for n in (1, 2, 1):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(n)
        pred = predict(calc, atoms, label=spec)
        assert pred.stress_eV_per_A3 is not None
        per_atom.append(pred.energy_eV / len(atoms))
    assert max(per_atom) - min(per_atom) < 2e-4


@pytest.mark.parametrize("spec", CASES)
def test_scores_a_li_al_subset(spec, tmp_path, data_root) -> None:
    dataset = load_dataset("li-al-validation", data_root=data_root)
    subset = tmp_path / "subset.extxyz"
    ase.io.write(subset, [frame_to_atoms(f) for f in dataset.frames[:4]], format="extxyz")
    task = load_task("rmse-li-al-validation").with_dataset(str(subset))
    record = run_cell(Cell(spec, task, str(data_root)))
    assert record.status == "ok", record.message
    assert record.counts.ok == 4
    # universal potentials are trained on other DFT settings: the aligned error is the fair one
    assert record.metric("energy_aligned_rmse_meV_per_atom").value < 50
    assert record.metric("force_rmse_eV_per_A").value < 0.5


@pytest.mark.parametrize("spec", CASES)
def test_al_elastic_runs_and_is_stable(spec) -> None:
    record = run_cell(Cell(spec, load_task("al-elastic")))
    assert record.status == "ok", record.message
    assert record.metric("born_stable").value == 1.0
    assert 30 < record.metric("B_GPa").value < 110


@pytest.mark.mace
def test_mace_local_model_file() -> None:
    model = os.environ.get("MLIP_BENCH_MACE_MODEL")
    if not model:
        pytest.skip("set MLIP_BENCH_MACE_MODEL to a local .model file (mace_mp() would download)")
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    assert predict(load_potential(f"mace:{model}").calculator(), atoms, label="mace").forces_eV_per_A is not None
