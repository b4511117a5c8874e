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


@pytest.fixture
def tiny_mace_model(tmp_path) -> str:
    """A small random ScaleShiftMACE for Al saved as a .model file (no download), or the file
    named by MLIP_BENCH_MACE_MODEL."""
    if os.environ.get("MLIP_BENCH_MACE_MODEL"):
        return os.environ["MLIP_BENCH_MACE_MODEL"]
    import numpy as np
    import torch

    torch.serialization.add_safe_globals([slice])  # e3nn 0.4.4 needs it under torch >= 2.6
    from e3nn import o3
    from mace import modules

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    try:
        block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            r_max=5.0,
            num_bessel=4,
            num_polynomial_cutoff=3,
            max_ell=2,
            interaction_cls=block,
            interaction_cls_first=block,
            num_interactions=1,
            num_elements=1,
            hidden_irreps=o3.Irreps("8x0e + 8x1o"),
            MLP_irreps=o3.Irreps("4x0e"),
            gate=torch.nn.functional.silu,
            atomic_energies=np.array([-3.0]),
            avg_num_neighbors=12.0,
            atomic_numbers=[13],
            correlation=2,
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
    finally:
        torch.set_default_dtype(previous)
    path = tmp_path / "tiny_al.model"
    torch.save(model, path)
    return str(path)


@pytest.mark.mace
def test_mace_local_model_file(tiny_mace_model) -> None:
    pot = load_potential(f"mace:{tiny_mace_model};trust=yes")  # a pickled module
    assert "sha256" in pot.info.version
    calc = pot.calculator()
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    atoms.rattle(0.05, seed=2)
    pred = predict(calc, atoms, label="mace")
    assert pred.stress_eV_per_A3 is not None
    h = 1e-4
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[1, 2] += h
    minus.positions[1, 2] -= h
    numeric = -(predict(calc, plus, label="+").energy_eV - predict(calc, minus, label="-").energy_eV) / (2 * h)
    assert pred.forces_eV_per_A[1, 2] == pytest.approx(numeric, abs=1e-5)
    record = run_cell(Cell(f"mace:{tiny_mace_model};trust=yes", load_task("al-eos")))
    assert record.status == "ok", record.message
