"""Training-data generators (mlip_bench/training/generators): structures are what each paper says,
seeds reproduce, symmetric duplicates are dropped, and bad generator specs name file and field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.data import atomic_masses, atomic_numbers
from ase.spacegroup import crystal

from mlip_bench.errors import DataError, TaskSpecError
from mlip_bench.training.generators import (
    disordered_cells,
    distortions,
    random_crystals,
    sqs_strains,
    staged_relaxation,
    swap_orderings,
    temperature_md,
)
from mlip_bench.training.generators.common import min_distance_A
from mlip_bench.training.generators.paper002 import paper002_sets
from mlip_bench.training.generators.spec import (
    GENERATORS,
    load_generator_spec,
    parse_generator_spec,
    run_spec,
)

SPECS = Path(__file__).resolve().parents[1] / "tasks" / "training" / "generators"
PROVENANCE = ("generator", "parameters", "seed", "parent", "label")


def _same(a: list[Atoms], b: list[Atoms]) -> bool:
    return len(a) == len(b) and all(
        x.get_chemical_symbols() == y.get_chemical_symbols()
        and np.allclose(x.positions, y.positions)
        and np.allclose(x.cell, y.cell)
        for x, y in zip(a, b, strict=True)
    )


def _check_provenance(structures: list[Atoms], name: str, settings: Any) -> None:
    labels = [a.info["label"] for a in structures]
    assert len(set(labels)) == len(labels)
    for atoms in structures:
        assert all(key in atoms.info for key in PROVENANCE)
        assert atoms.info["generator"] == name
        assert json.loads(atoms.info["parameters"]) == json.loads(json.dumps(dataclasses.asdict(settings)))


# --- paper 002 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crystals() -> tuple[list[Atoms], random_crystals.RandomCrystalStats]:
    pytest.importorskip("pyxtal")
    settings = random_crystals.RandomCrystalSettings(species=("Al",), n_structures=6, volume_per_atom_A3=16.6)
    return random_crystals.generate_with_stats(settings, seed=3)


def test_random_crystals_counts_volumes_seed(crystals: tuple[list[Atoms], Any]) -> None:
    structures, stats = crystals
    settings = random_crystals.RandomCrystalSettings(species=("Al",), n_structures=6, volume_per_atom_A3=16.6)
    assert len(structures) == 6
    for atoms in structures:
        assert 1 <= len(atoms) <= 10
        assert 0.9 * 16.6 - 1e-9 <= atoms.get_volume() / len(atoms) <= 1.1 * 16.6 + 1e-9
        assert 1 <= atoms.info["space_group"] <= 230
    assert stats.attempts == 6 + stats.incompatible + stats.too_close
    _check_provenance(structures, "random_crystals", settings)
    assert _same(structures, random_crystals.generate(settings, seed=3))
    assert not _same(structures, random_crystals.generate(settings, seed=4))


def test_random_crystals_min_distance_and_exhaustion() -> None:
    pytest.importorskip("pyxtal")
    settings = random_crystals.RandomCrystalSettings(n_structures=4, n_atoms_min=2, min_distance_A=2.6)
    structures = random_crystals.generate(settings, seed=0)
    assert all(min_distance_A(a) >= 2.6 for a in structures)
    impossible = random_crystals.RandomCrystalSettings(n_structures=2, min_distance_A=50.0, max_attempts=5)
    with pytest.raises(DataError, match="max_attempts"):
        random_crystals.generate(impossible, seed=0)


class _FailsOnTwoAtoms(EMT):
    """EMT that fails on every structure of exactly two atoms (an oracle that cannot converge)."""

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        if atoms is not None and len(atoms) == 2:
            raise RuntimeError("no SCF convergence")
        super().calculate(atoms, properties, system_changes)


def _frac_close(a: Atoms, b: Atoms) -> bool:
    d = a.get_scaled_positions(wrap=False) - b.get_scaled_positions(wrap=False)
    return bool(np.allclose(d - np.round(d), 0.0, atol=1e-9))


def test_staged_relaxation_freezes_the_right_degrees_of_freedom(crystals: tuple[list[Atoms], Any]) -> None:
    parents = [Atoms("Al2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[3, 3, 3], pbc=True), *crystals[0][:4]]
    sets = staged_relaxation.generate(parents, staged_relaxation.StagedRelaxationSettings(), oracle=_FailsOnTwoAtoms())
    survivors = [p for p in parents if len(p) != 2]
    assert [len(v) for v in sets.values()] == [len(survivors)] * 3
    for parent, vol, cell, ints in zip(survivors, sets["VOLMIN"], sets["CELLMIN"], sets["INTMIN"], strict=True):
        scale = (vol.get_volume() / parent.get_volume()) ** (1 / 3)
        assert np.allclose(vol.cell, scale * np.asarray(parent.cell))  # VOLMIN: the shape kept
        assert _frac_close(vol, parent) and _frac_close(cell, parent)  # VOLMIN, CELLMIN: atoms follow the cell
        assert np.allclose(ints.cell, cell.cell)  # INTMIN: the cell kept
        assert vol.info["parent"] == parent.info["label"] and ints.info["set"] == "INTMIN"
        assert vol.calc is None and not vol.constraints and not ints.constraints
    if survivors:  # the oracle's relaxation lowers the energy at every stage
        energies = [a.copy() for a in (survivors[0], sets["VOLMIN"][0], sets["CELLMIN"][0], sets["INTMIN"][0])]
        values = []
        for atoms in energies:
            atoms.calc = EMT()
            values.append(atoms.get_potential_energy())
        assert values == sorted(values, reverse=True) or np.allclose(values, values[0])


def test_paper002_chain(crystals: tuple[list[Atoms], Any]) -> None:
    sets = paper002_sets(
        oracle=EMT(),
        crystals=random_crystals.RandomCrystalSettings(species=("Al",), n_structures=2, volume_per_atom_A3=16.6),
        distortion=distortions.DistortionSettings(n_per_structure=2),
        seed=5,
    )
    assert list(sets) == ["RANDSPG", "VOLMIN", "CELLMIN", "INTMIN", "TRIAX", "SHEAR", "RATTLE"]
    n_intmin = len(sets["INTMIN"])
    assert len(sets["RANDSPG"]) == 2 and all(len(sets[s]) == 2 * n_intmin for s in ("TRIAX", "SHEAR", "RATTLE"))


def test_distortions_strains_and_displacements() -> None:
    parent = bulk("Mg", "hcp", a=3.2, c=5.2).repeat((6, 6, 4))
    parent.info["label"] = "big"
    settings = distortions.DistortionSettings(n_per_structure=40)
    sets = distortions.generate([parent], settings, seed=0)
    assert {k: len(v) for k, v in sets.items()} == {"TRIAX": 40, "SHEAR": 40, "RATTLE": 40}
    _check_provenance(sets["TRIAX"], "distortions", settings)
    triax = np.array([np.reshape(a.info["strain"], (3, 3)) for a in sets["TRIAX"]])
    shear = np.array([np.reshape(a.info["strain"], (3, 3)) for a in sets["SHEAR"]])
    rattle = np.array([np.reshape(a.info["strain"], (3, 3)) for a in sets["RATTLE"]])
    off = ~np.eye(3, dtype=bool)
    assert np.all(triax[:, off] == 0) and np.abs(triax).max() <= 0.8 and np.abs(triax).max() > 0.7
    assert np.all(np.diagonal(shear, axis1=1, axis2=2) == 0) and np.allclose(shear, shear.transpose(0, 2, 1))
    assert np.abs(shear).max() <= 0.8 and np.abs(shear).max() > 0.7
    assert np.abs(rattle).max() <= 0.05 and np.allclose(rattle, rattle.transpose(0, 2, 1))
    for atoms, eps in zip(sets["TRIAX"], triax, strict=True):
        assert np.allclose(atoms.cell, np.asarray(parent.cell) @ (np.eye(3) + eps))
        assert _frac_close(atoms, parent)
    lengths = []
    for atoms, eps in zip(sets["RATTLE"], rattle, strict=True):
        unstrained = atoms.positions @ np.linalg.inv(np.eye(3) + eps)
        lengths.append(np.linalg.norm(unstrained - parent.positions, axis=1))
    assert np.mean(lengths) == pytest.approx(0.5, abs=0.01)  # 40 x 144 atoms: standard error ~0.003 Å
    assert _same(sets["SHEAR"], distortions.generate([parent], settings, seed=0)["SHEAR"])


# --- paper 003 -------------------------------------------------------------------------------------


def test_disordered_cells_box_density_and_rmin() -> None:
    settings = disordered_cells.DisorderedCellSettings(n_structures=6)
    cells = disordered_cells.generate(settings, seed=2)
    mass_g = atomic_masses[atomic_numbers["Al"]] * 1.66053906660e-24
    for atoms in cells:
        lengths = atoms.cell.lengths()
        assert np.allclose(atoms.cell, np.diag(lengths)) and np.all((lengths >= 10.5) & (lengths <= 17.0))
        assert min_distance_A(atoms) >= 1.8
        density = len(atoms) * mass_g / (atoms.get_volume() * 1e-24)
        one_atom = mass_g / (atoms.get_volume() * 1e-24)
        assert 1.80 - one_atom <= density <= 4.05 + one_atom
        assert abs(density - atoms.info["target_density_g_per_cm3"]) <= one_atom / 2 + 1e-9
    _check_provenance(cells, "disordered_cells", settings)
    assert _same(cells, disordered_cells.generate(settings, seed=2))
    too_dense = disordered_cells.DisorderedCellSettings(
        n_structures=1, r_min_A=5.0, density_min_g_per_cm3=4.0, max_tries_per_atom=50
    )
    with pytest.raises(DataError, match="found no place"):
        disordered_cells.generate(too_dense, seed=0)


def test_temperature_schedule_is_eq2() -> None:
    settings = temperature_md.TemperatureMdSettings()
    rng = np.random.default_rng(0)
    draws = [temperature_md.draw_schedule(settings, rng) for _ in range(2000)]
    starts = np.array([d.t_start_K for d in draws])
    periods = np.array([d.period_ps for d in draws])
    assert 10 <= starts.min() < 60 and 950 < starts.max() <= 1000
    assert 10 <= periods.min() < 11 and 49 < periods.max() <= 50
    assert max(d.t_end_K for d in draws) <= 600 and max(d.t_mod_K for d in draws) > 1900
    s = draws[0]
    assert s.temperature_K(0.0) == pytest.approx(s.t_start_K)
    t = 0.4 * s.duration_ps
    expected = s.t_start_K + 0.4 * (s.t_end_K - s.t_start_K) + s.t_mod_K * np.sin(np.pi * t / s.period_ps) ** 2
    assert s.temperature_K(t) == pytest.approx(expected)
    assert s.temperature_K(s.period_ps) == pytest.approx(
        s.t_start_K + s.period_ps / s.duration_ps * (s.t_end_K - s.t_start_K)
    )


def test_temperature_md_frames_stop_and_seed() -> None:
    parent = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    settings = temperature_md.TemperatureMdSettings(duration_ps=0.04, snapshot_interval_fs=10.0, timestep_fs=2.0)
    frames = temperature_md.generate([parent], settings, calculator=EMT(), seed=1)
    assert len(frames) == 4 and [f.info["time_ps"] for f in frames] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert not np.allclose(frames[-1].positions, parent.positions)
    _check_provenance(frames, "temperature_md", settings)
    assert _same(frames, temperature_md.generate([parent], settings, calculator=EMT(), seed=1))
    calls: list[float] = []

    def stop(atoms: Atoms) -> bool:
        calls.append(float(atoms.get_potential_energy()))
        return len(calls) == 2

    assert len(temperature_md.generate([parent], settings, calculator=EMT(), seed=1, stop=stop)) == 2


# --- paper 001 -------------------------------------------------------------------------------------


def _b32() -> Atoms:
    return crystal(["Li", "Al"], basis=[(0, 0, 0), (0.5, 0.5, 0.5)], spacegroup=227, cellpar=[6.37] * 3 + [90] * 3)


def _distinct_by_matcher(structures: list[Atoms]) -> int:
    """Independent count of symmetry-distinct structures (pymatgen's StructureMatcher)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    structs = [AseAtomsAdaptor.get_structure(a) for a in structures]
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    return len(matcher.group_structures(structs))


def test_swap_orderings_are_distinct_and_complete() -> None:
    parent = _b32()  # 16 atoms: n = 1 (1-10 %), single Li-Al swaps
    every = []
    for i in range(8):
        for j in range(8, 16):
            symbols = parent.get_chemical_symbols()
            symbols[i], symbols[j] = symbols[j], symbols[i]
            every.append(Atoms(symbols, positions=parent.positions, cell=parent.cell, pbc=True))
    n_orbits = _distinct_by_matcher(every)
    settings = swap_orderings.SwapOrderingSettings(n_configs=64, max_attempts=2000)
    found = swap_orderings.generate([parent], settings, seed=0)
    assert len(found) == n_orbits  # every class found once, no duplicates
    assert _distinct_by_matcher(found) == n_orbits
    assert all(a.info["n_swapped"] == 1 and a.get_chemical_formula() == parent.get_chemical_formula() for a in found)
    _check_provenance(found, "swap_orderings", settings)
    assert _same(found, swap_orderings.generate([parent], settings, seed=0))


def test_swap_counts_follow_fractions() -> None:
    parent = _b32().repeat((2, 1, 1))  # 32 atoms: n in 1..3
    settings = swap_orderings.SwapOrderingSettings(n_configs=25)
    found = swap_orderings.generate([parent], settings, seed=4)
    n = [a.info["n_swapped"] for a in found]
    assert len(found) == 25 and set(n) <= {1, 2, 3} and len(set(n)) > 1
    for atoms in found:
        differ = np.array(atoms.get_chemical_symbols()) != np.array(parent.get_chemical_symbols())
        assert differ.sum() == 2 * atoms.info["n_swapped"]
    with pytest.raises(DataError, match="lacks"):
        swap_orderings.generate([bulk("Al", "fcc", a=4.05)], settings, seed=0)


# --- paper 000 -------------------------------------------------------------------------------------


def test_sqs_strains() -> None:
    pytest.importorskip("icet")
    settings = sqs_strains.SqsStrainSettings(
        compositions_wt_percent=({"Mg": 10.0},), repeat=2, sqs_steps=200, strains_percent=(-1.0, 0.5)
    )
    structures = sqs_strains.generate(settings, seed=0)
    assert len(structures) == 1 + 3 * 2
    sqs = structures[0]
    assert len(sqs) == 32 and sqs.get_chemical_symbols().count("Mg") == 4  # 10 wt% Mg = 10.9 at%
    for atoms in structures[1:]:
        eps = np.reshape(atoms.info["strain"], (3, 3))
        delta, pattern = atoms.info["strain_percent"], atoms.info["strain_pattern"] - 1
        expected = np.zeros((3, 3))
        expected[pattern, pattern] = delta / 100
        j, k = ((1, 2), (0, 2), (0, 1))[pattern]
        expected[j, k] = expected[k, j] = delta / 200  # engineering shear strain delta
        assert np.allclose(eps, expected)
        assert np.allclose(atoms.cell, np.asarray(sqs.cell) @ (np.eye(3) + eps))
        assert atoms.info["parent"] == sqs.info["label"]
    _check_provenance(structures, "sqs_strains", settings)


# --- specs -----------------------------------------------------------------------------------------


def test_shipped_specs_load_with_paper_defaults() -> None:
    files = sorted(SPECS.glob("*.yaml"))
    assert {load_generator_spec(p).generator for p in files} == set(GENERATORS)
    for path in files:
        spec = load_generator_spec(path)
        assert spec.settings == type(spec.settings)(), f"{path.name} differs from the paper's defaults"
    swap = load_generator_spec(SPECS / "li-al-swap-orderings.yaml")
    assert [len(a) for a in swap.structures] == [128, 108]
    assert [a.get_chemical_formula() for a in swap.structures] == ["Al64Li64", "Al81Li27"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


HEAD = "id: x\ngenerator: disordered_cells\ntitle: t\ncitation: c\n"
CRYSTAL = (
    "structures: [{{id: a, symbols: [Al], basis: {basis}, spacegroup: {group}, cellpar: [4, 4, 4, 90, 90, 90]}}]\n"
)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (HEAD + "parameters: {n_structure: 3}\n", "parameters/n_structure"),
        (HEAD + "parameters: {n_structures: three}\n", "parameters/n_structures"),
        (HEAD + "parameters: {n_structures: 0}\n", "parameters/n_structures"),
        (HEAD + "parameters: {box_max_A: 5.0}\n", "parameters/box_max_A"),
        (HEAD + "parameters: {r_min_A: .nan}\n", "parameters/r_min_A"),
        (HEAD + "parameters: {species: [Xx], fractions: [1]}\n", "parameters/species"),
        (HEAD + "parameters: {species: [Al, Cu]}\n", "parameters/fractions"),
        (HEAD + "parameters: [1, 2]\n", "parameters"),
        (HEAD + "seed: -1\n", "seed"),
        (HEAD + "colour: red\n", "colour"),
        ("id: x\ngenerator: nope\ntitle: t\ncitation: c\n", "generator"),
        ("generator: disordered_cells\ntitle: t\ncitation: c\n", "id"),
        ("- just a list\n", "(top level)"),
        (HEAD + "structures: [{id: a, file: missing.xyz}]\n", "structures/0/file"),
        (HEAD + CRYSTAL.format(basis="[[0, 0]]", group=225), "structures/0/basis"),
        (HEAD + CRYSTAL.format(basis="[[0, 0, 0]]", group=999), "structures/0/spacegroup"),
        (HEAD.replace("disordered_cells", "distortions") + "parameters: {sets: [TRIAX, TWIST]}\n", "parameters/sets"),
        (
            HEAD.replace("disordered_cells", "sqs_strains") + "parameters: {compositions_wt_percent: [{Mg: 120}]}\n",
            "parameters/compositions_wt_percent/0",
        ),
    ],
)
def test_bad_specs_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TaskSpecError) as info:
        load_generator_spec(path)
    message = str(info.value)
    assert str(path) in message and f"field {field}" in message, message


def test_unreadable_spec_and_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(TaskSpecError, match=r"bad\.yaml"):
        load_generator_spec(_write(tmp_path, "id: [unclosed\n"))
    spec = parse_generator_spec(
        {"id": "d", "generator": "distortions", "title": "t", "citation": "c"}, source="inline.yaml"
    )
    with pytest.raises(TaskSpecError, match=r"inline\.yaml.*needs structures"):
        run_spec(spec)
    parent = bulk("Al", "fcc", a=4.05)
    out = run_spec(spec, structures=[parent])
    assert len(out) == 15 and {a.info["set"] for a in out} == {"TRIAX", "SHEAR", "RATTLE"}


def test_spec_structures_from_file(tmp_path: Path) -> None:
    from ase.io import write

    write(tmp_path / "phases.extxyz", [_b32(), _b32().repeat((2, 1, 1))])
    text = HEAD.replace("disordered_cells", "swap_orderings") + (
        "parameters: {n_configs: 3}\nstructures: [{id: b32, file: phases.extxyz}]\n"
    )
    spec = load_generator_spec(_write(tmp_path, text))
    assert [a.info["label"] for a in spec.structures] == ["b32-0", "b32-1"]
    out = run_spec(spec)
    assert len(out) == 6 and {a.info["parent"] for a in out} == {"b32-0", "b32-1"}
