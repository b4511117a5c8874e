"""ANI-Al adapter (``ani:DIR``, nox -s models-ani): the NeuroChem model of paper 003 through torchani.

Needs torchani and the model folder ``../shared/models/ani_al`` beside the checkout (skips otherwise).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.units import Hartree

from mlip_bench.adapters.registry import load_potential
from mlip_bench.adapters.supercell import ReplicatingCalculator
from mlip_bench.engine.evaluate import Prediction, predict
from mlip_bench.engine.records import ResultRecord
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task
from mlip_bench.errors import PotentialError
from mlip_bench.properties.elastic import voigt_strain
from mlip_bench.properties.relax import relax
from mlip_bench.units import EV_PER_A3_TO_GPA

pytest.importorskip("torchani")
torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.models, pytest.mark.ani]

MODEL_DIR = Path(__file__).resolve().parents[2] / "shared" / "models" / "ani_al"
SPEC = f"ani:{MODEL_DIR}"
#: a general strain (normal and shear) so that every stress component is non-trivial
STRAIN = np.array([[0.006, 0.002, -0.001], [0.002, -0.004, 0.003], [-0.001, 0.003, 0.002]])


@pytest.fixture(scope="module")
def calc():
    if not MODEL_DIR.is_dir():
        pytest.skip(f"ANI-Al model folder not found at {MODEL_DIR}")
    return load_potential(SPEC).calculator()


def _forces(pred: Prediction) -> np.ndarray:
    assert pred.forces_eV_per_A is not None
    return pred.forces_eV_per_A


def _stress(pred: Prediction) -> np.ndarray:
    assert pred.stress_eV_per_A3 is not None
    return pred.stress_eV_per_A3


def _metric(record: ResultRecord, name: str) -> float:
    metric = record.metric(name)
    assert metric is not None, name
    return metric.value


def _strained(atoms: Atoms, strain: np.ndarray = STRAIN) -> Atoms:
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
    return atoms


def test_same_energy_per_atom_forces_and_stress_for_any_supercell(calc) -> None:
    cells = [bulk("Al", "fcc", a=4.05)] + [bulk("Al", "fcc", a=4.05, cubic=True).repeat(n) for n in (1, 3, 4)]
    preds = [predict(calc, _strained(atoms), label=f"{len(atoms)} atoms") for atoms in cells]
    per_atom = [p.energy_eV / len(a) for p, a in zip(preds, cells, strict=True)]
    stresses = np.array([_stress(p) for p in preds])
    assert max(per_atom) - min(per_atom) < 1e-6
    assert np.abs(stresses - stresses[0]).max() < 1e-8
    assert np.abs(stresses[0]).min() > 1e-4  # every component non-zero: the comparison means something
    assert max(np.abs(_forces(p)).max() for p in preds) < 1e-8  # ideal strained fcc: zero forces


def test_thin_rattled_cell_matches_a_supercell_twice_the_cutoff(calc) -> None:
    """torchani's own neighbour list on a 2-atom triclinic cell (heights 2.3-4.7 Å, far below the
    7 Å cutoff) against the same cell replicated to 216 atoms (every height >= 2 x cutoff)."""
    atoms = _strained(bulk("Al", "fcc", a=4.05).repeat((2, 1, 1)))
    atoms.rattle(0.08, seed=3)
    atoms.positions += [5.0, -3.0, 7.0]  # outside the cell: must be wrapped, not lost
    small = predict(calc, atoms, label="small")
    reference = ReplicatingCalculator(calc, min_height_A=2 * calc.cutoff_A)
    large = predict(reference, atoms, label="replicated")
    assert calc.cutoff_A == pytest.approx(7.0)  # Rcr of the constants file
    assert abs(small.energy_eV - large.energy_eV) < 1e-6 * len(atoms)
    assert np.abs(_forces(small) - _forces(large)).max() < 1e-6
    assert np.abs(_stress(small) - _stress(large)).max() < 1e-8
    assert np.abs(_forces(small)).max() > 0.05


def test_cell_list_on_a_wrapped_copy_equals_all_pairs(calc) -> None:
    """A strained, rattled 108-atom cell (heights above the cutoff, so ``auto`` takes the cell list)
    with atoms outside the box: the same energy, forces and stress as the all-pairs list, and the
    stress still the strain derivative of the energy."""
    atoms = _strained(bulk("Al", "fcc", a=4.05, cubic=True).repeat(3))
    atoms.rattle(0.1, seed=5)
    atoms.positions[:6] += 1.4 * atoms.cell[0] - 0.7 * atoms.cell[2]  # outside: the case that broke stress
    all_pairs = load_potential(f"{SPEC};neighbours=all_pairs").calculator()
    fast, exact = predict(calc, atoms, label="auto"), predict(all_pairs, atoms, label="all pairs")
    assert type(calc.model.neighborlist).__name__ == "CellList"
    assert type(all_pairs.model.neighborlist).__name__ == "AllPairs"
    assert abs(fast.energy_eV - exact.energy_eV) < 1e-9
    assert np.abs(_forces(fast) - _forces(exact)).max() < 1e-9
    assert np.abs(_stress(fast) - _stress(exact)).max() < 1e-12
    h = 1e-4
    plus, minus = _strained(atoms, voigt_strain(3, h)), _strained(atoms, voigt_strain(3, -h))
    fd = (predict(calc, plus, label="+").energy_eV - predict(calc, minus, label="-").energy_eV) / (2 * h)
    assert fd / atoms.get_volume() == pytest.approx(_stress(fast)[3], abs=2e-7)


def test_stress_and_forces_are_energy_derivatives(calc) -> None:
    atoms = _strained(bulk("Al", "fcc", a=4.05, cubic=True))
    atoms.rattle(0.05, seed=1)
    pred = predict(calc, atoms, label="rattled")
    h = 1e-4

    def energy(a: Atoms) -> float:
        return predict(calc, a, label="fd").energy_eV

    for component in (0, 3):  # xx and yz (engineering shear)
        plus, minus = _strained(atoms, voigt_strain(component, h)), _strained(atoms, voigt_strain(component, -h))
        fd = (energy(plus) - energy(minus)) / (2 * h) / atoms.get_volume()
        assert fd == pytest.approx(_stress(pred)[component], abs=2e-7)
    moved = [atoms.copy(), atoms.copy()]
    moved[0].positions[2, 1] += h
    moved[1].positions[2, 1] -= h
    fd_force = -(energy(moved[0]) - energy(moved[1])) / (2 * h)
    assert fd_force == pytest.approx(_forces(pred)[2, 1], abs=1e-5)


def test_ensemble_spread_is_reported_and_extensive(calc) -> None:
    primitive, conventional = bulk("Al", "fcc", a=4.05), bulk("Al", "fcc", a=4.05, cubic=True)
    spreads, per_atom, rho = [], [], []
    for atoms in (primitive, conventional):
        calc.calculate(atoms, ["energy"])
        spreads.append(calc.results["energy_std_eV"])
        per_atom.append(calc.results["uncertainty"])
        rho.append(calc.results["energy_std_per_sqrt_atom_eV"])
        assert "uncertainties" not in calc.results  # per-atom spread needs member forces
    assert spreads[0] > 1e-4  # eight different networks never agree exactly
    assert spreads[1] == pytest.approx(4 * spreads[0], rel=1e-9)  # members' energies are extensive
    assert per_atom[0] == pytest.approx(spreads[0], rel=1e-12)  # one atom
    assert per_atom[1] == pytest.approx(per_atom[0], rel=1e-9)  # the same crystal: the same σ_E / N
    assert rho[1] == pytest.approx(spreads[1] / 2, rel=1e-12)  # σ_E / sqrt(4)

    rattled = conventional.copy()
    rattled.rattle(0.05, seed=2)
    with_members = type(calc)(calc.model, member_forces=True)
    with_members.calculate(rattled, ["energy", "forces", "stress"])
    calc.calculate(rattled, ["energy", "forces", "stress"])
    std = with_members.results["forces_std_eV_per_A"]
    assert std.shape == (4, 3)
    assert np.all(std > 0)
    assert np.allclose(with_members.results["uncertainties"], np.linalg.norm(std, axis=1), rtol=1e-12)
    assert with_members.results["uncertainty"] == pytest.approx(calc.results["uncertainty"], rel=1e-12)
    # forces and stress from the members' gradients equal those of the mean
    assert np.allclose(with_members.results["forces"], calc.results["forces"], atol=1e-12)
    assert np.allclose(with_members.results["stress"], calc.results["stress"], atol=1e-14)


def test_member_forces_match_each_network_alone(calc) -> None:
    """The spread against the eight networks evaluated one at a time (torchani's set_active_members,
    on a copy: the fixture's model is shared)."""
    import copy

    import torch
    from torchani.ase import from_ase

    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.07, seed=5)
    species, coords, cell, pbc = from_ase(atoms, dtype=torch.float64)
    energies, forces = [], []
    member = copy.deepcopy(calc.model)
    for k in range(len(member.neural_networks.members)):
        member.set_active_members([k])
        position = coords.clone().requires_grad_(True)
        energy = member((species, position), cell, pbc).energies[0] * Hartree
        forces.append(-torch.autograd.grad(energy, position)[0][0].numpy())
        energies.append(float(energy.detach()))
    with_members = type(calc)(calc.model, member_forces=True)
    pred = predict(with_members, atoms, label="members")
    assert pred.uncertainty == pytest.approx(np.std(energies, ddof=1) / len(atoms), rel=1e-9)
    expected = np.linalg.norm(np.std(forces, axis=0, ddof=1), axis=1)
    assert pred.atom_uncertainty is not None and np.allclose(pred.atom_uncertainty, expected, rtol=1e-8)
    assert pred.energy_eV == pytest.approx(np.mean(energies), abs=1e-9)


def test_member_forces_option_of_the_spec(calc) -> None:
    plain = load_potential(SPEC)
    members = load_potential(f"{SPEC};member_forces=yes")
    for potential, per_atom in ((plain, False), (members, True)):
        assert potential.info.uncertainty is not None
        assert potential.info.uncertainty.measure == "ensemble_std" and potential.info.uncertainty.is_std
        assert potential.info.uncertainty.unit == "eV/atom"
        assert potential.info.uncertainty.per_atom is per_atom
        assert potential.info.options["member_forces"] == ("yes" if per_atom else "no")
    assert members.info.version == plain.info.version  # the same numbers
    calc_members = members.calculator()
    assert calc_members.member_forces and not plain.calculator().member_forces
    calc_members.calculate(bulk("Al", "fcc", a=4.05, cubic=True), ["energy"])  # energy only: spread per atom too
    assert calc_members.results["uncertainties"].shape == (4,)
    with pytest.raises(PotentialError, match="unknown option 'member_force=yes'"):
        load_potential(f"{SPEC};member_force=yes")


def test_options_combine_in_any_order() -> None:
    from mlip_bench.adapters.ani import AniSpec, parse_spec

    assert parse_spec("") == AniSpec("", member_forces=False, device="cpu")
    assert parse_spec("/m") == AniSpec("/m", member_forces=False, device="cpu")
    both = AniSpec("/m", member_forces=True, device="cuda")
    assert parse_spec("/m;member_forces=yes;device=cuda") == both
    assert parse_spec("/m ; device = cuda ; member_forces = yes") == both
    assert parse_spec(";device=cuda") == AniSpec("", member_forces=False, device="cuda")
    assert parse_spec("/m;device=cuda;device=cpu").device == "cpu"  # the last one counts
    for bad in ("device=gpu", "device=", "devices=cuda", "member_forces=true", ""):
        with pytest.raises(PotentialError, match=rf"^ani:/m;{bad};device=cpu: unknown option '{bad}' \(known: "):
            parse_spec(f"/m;{bad};device=cpu")
    with pytest.raises(PotentialError, match=r"known: member_forces=yes, member_forces=no, device=cpu, device=cuda"):
        load_potential(f"{SPEC};device=CUDA")


def test_yes_no_option_of_other_families_is_unchanged() -> None:
    from mlip_bench.adapters.base import yes_no_option

    assert yes_no_option("m.model", family="mace", name="trust") == ("m.model", False)
    assert yes_no_option("m.model;trust=yes", family="mace", name="trust") == ("m.model", True)
    assert yes_no_option("m.model;trust=yes;trust=no", family="mace", name="trust") == ("m.model", False)
    with pytest.raises(
        PotentialError, match=r"^mace:m;device=cuda: unknown option 'device=cuda' \(known: trust=yes, trust=no\)$"
    ):
        yes_no_option("m;device=cuda", family="mace", name="trust")


def test_cpu_is_the_default_and_the_device_leaves_the_version(calc) -> None:
    plain, cpu, cuda = (
        load_potential(s) for s in (SPEC, f"{SPEC};device=cpu", f"{SPEC};member_forces=yes;device=cuda")
    )
    assert plain.info.options["device"] == cpu.info.options["device"] == "cpu"
    assert cuda.info.options["device"] == "cuda" and cuda.info.options["member_forces"] == "yes"
    assert plain.info.version == cpu.info.version == cuda.info.version  # the same numbers on any device
    assert calc.device.type == "cpu" and cpu.calculator().device.type == "cpu"
    atoms = _strained(bulk("Al", "fcc", a=4.05, cubic=True))
    atoms.rattle(0.05, seed=4)
    first, second = predict(calc, atoms, label="default"), predict(cpu.calculator(), atoms, label="device=cpu")
    assert first.energy_eV == second.energy_eV
    assert np.array_equal(_forces(first), _forces(second)) and np.array_equal(_stress(first), _stress(second))
    calc.calculate(atoms, ["energy", "forces", "stress"])
    assert all(calc.results[k].dtype == np.float64 for k in ("forces", "stress"))


def test_cuda_is_refused_without_a_gpu(monkeypatch) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip(f"ANI-Al model folder not found at {MODEL_DIR}")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    potential = load_potential(f"{SPEC};member_forces=yes;device=cuda")  # describing needs no GPU
    assert potential.info.options["device"] == "cuda"
    with pytest.raises(
        PotentialError, match="^" + re.escape(f"{SPEC};member_forces=yes;device=cuda: device=cuda, but torch")
    ):
        potential.calculator()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_numbers_of_cpu(calc) -> None:
    gpu = load_potential(f"{SPEC};member_forces=yes;device=cuda").calculator()
    assert gpu.device.type == "cuda"
    cpu = type(calc)(calc.model, member_forces=True)
    atoms = _strained(bulk("Al", "fcc", a=4.05, cubic=True).repeat(2))
    atoms.rattle(0.05, seed=6)
    for c in (cpu, gpu):
        c.calculate(atoms, ["energy", "forces", "stress"])
    for key in ("energy", "forces", "stress", "uncertainty", "uncertainties"):
        assert np.allclose(gpu.results[key], cpu.results[key], rtol=1e-9, atol=1e-10), key
        assert np.asarray(gpu.results[key]).dtype == np.float64


def test_molecule_has_energy_and_forces_but_no_stress(calc) -> None:
    cluster = Atoms("Al4", positions=[[0, 0, 0], [2.8, 0, 0], [0, 2.8, 0], [0, 0, 2.8]])
    pred = predict(calc, cluster, label="Al4")
    assert pred.stress_eV_per_A3 is None
    assert np.abs(_forces(pred).sum(axis=0)).max() < 1e-10  # translation invariance
    with pytest.raises(PropertyNotImplementedError):
        calc.calculate(cluster, ["energy", "stress"])


def test_elastic_constants_of_paper_003_at_the_zero_stress_lattice_constant(calc) -> None:
    """Paper 003 (Smith et al., Nat. Commun. 12 (2021) 1257, Sec. III.B): ANI-Al C11 = 117,
    C12 = 57.2, C44 = 30.4 GPa, B = 77.3 GPa. Small-strain derivatives (0.05 %) at the relaxed
    cell reproduce them; they change fast with the lattice constant (see the adapter report)."""
    relaxed = relax(bulk("Al", "fcc", a=4.05, cubic=True), calc, cell=True, fmax_eV_per_A=1e-5)
    assert relaxed.converged
    start = relaxed.atoms
    h = 5e-4

    def tangent(component: int) -> np.ndarray:
        plus = predict(calc, _strained(start, voigt_strain(component, h)), label="+")
        minus = predict(calc, _strained(start, voigt_strain(component, -h)), label="-")
        return (_stress(plus) - _stress(minus)) / (2 * h) * EV_PER_A3_TO_GPA

    c11, c12 = tangent(0)[:2]
    c44 = tangent(3)[3]
    assert start.cell.lengths()[0] == pytest.approx(4.054, abs=0.002)
    assert c11 == pytest.approx(117, rel=0.01)
    assert c12 == pytest.approx(57.2, rel=0.01)
    assert c44 == pytest.approx(30.4, rel=0.01)
    assert (c11 + 2 * c12) / 3 == pytest.approx(77.3, rel=0.01)


def test_al_elastic_task_runs(calc) -> None:
    record = run_cell(Cell(SPEC, load_task("al-elastic")))
    assert record.status == "ok", record.message
    assert _metric(record, "born_stable") == 1.0
    # C44 is nearly linear in strain; C11 and C12 are not (ANI-Al's stress-strain curve bends)
    assert _metric(record, "C44_GPa") == pytest.approx(30.4, rel=0.02)
    assert 100 < _metric(record, "C11_GPa") < 130


def test_describe_and_version_follow_the_model_files(tmp_path) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip(f"ANI-Al model folder not found at {MODEL_DIR}")
    info = load_potential(SPEC).info
    assert info.elements == frozenset({"Al"})
    assert "Nat. Commun. 12 (2021) 1257" in info.citation
    copy = tmp_path / "ani_al"
    shutil.copytree(MODEL_DIR, copy)
    assert load_potential(f"ani:{copy}").info.version == info.version
    weights = copy / "model-Al-75" / "train3" / "networks" / "ANN-Al.nnf-l2.wparam"
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    assert load_potential(f"ani:{copy}").info.version != info.version
    shutil.rmtree(copy / "model-Al-75" / "train7")
    with pytest.raises(PotentialError, match="train7"):
        load_potential(f"ani:{copy}")
    with pytest.raises(PotentialError, match=r"\.info"):
        load_potential(f"ani:{tmp_path / 'nowhere'}")
