"""Phonons with phonopy (mlip_bench.properties.phonons, kind ``phonons``) on LAMMPS EAM potentials.

Small supercells keep this fast: frequencies at q points commensurate with the supercell are exact
(X and L for a 2x2x2 cubic Al supercell, Gamma always), which the frozen-phonon checks below use.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk
from ase.units import _amu, _e

from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine.records import ResultRecord
from mlip_bench.engine.spec import TaskSpec, literature, parse_task
from mlip_bench.properties.phonons import (
    PhononComparison,
    calc_phonons,
    compare_force_sets,
    compare_phonons,
    load_force_sets,
)
from mlip_bench.properties.relax import relax

pytest.importorskip("lammps")


def _thz(k_eV_per_A2: float, mass_amu: float) -> float:
    """Frequency (THz) of a mode with force constant k per atom of mass m."""
    return math.sqrt(k_eV_per_A2 * _e / (mass_amu * _amu)) * 1e10 / (2 * math.pi) / 1e12


@pytest.fixture(scope="module")
def mishin_spec(data_root) -> str:
    path = data_root.parent / "potentials" / "Al99.eam.alloy"
    if not path.is_file():
        pytest.skip(f"Mishin EAM not found at {path}")
    return f"eam:{path}"


@pytest.fixture(scope="module")
def mishin(mishin_spec):
    return load_potential(mishin_spec).calculator()


@pytest.fixture(scope="module")
def mendelev():
    return load_potential("eam:Al_mm.eam.fs").calculator()


@pytest.fixture(scope="module")
def al_result(mishin):
    return calc_phonons(bulk("Al", "fcc", a=4.05, cubic=True), mishin, supercell=(2, 2, 2))


def test_al_zone_boundary_frequencies_against_neutron_data(al_result) -> None:
    """Mishin EAM at X and L against Stedman & Nilsson (1966, 80 K; reference_data/literature/
    phonons.yaml). The EAM is not fitted to phonons; measured here: X 5.98/9.31, L 4.43/9.64 THz,
    i.e. within 6 % (a unit slip, 2π or THz/meV, would be off by a factor of 4 to 6)."""
    refs = literature()
    for key, name in (
        ("al-fcc/phonon-X-TA/exp", "X1"),
        ("al-fcc/phonon-X-LA/exp", "X3"),
        ("al-fcc/phonon-L-TA/exp", "L1"),
        ("al-fcc/phonon-L-LA/exp", "L3"),
    ):
        point, index = name[0], int(name[1])
        assert al_result.special_points_THz[point][index - 1] == pytest.approx(refs[key].value, rel=0.07), key
    x = al_result.special_points_THz["X"]
    assert x[0] == pytest.approx(x[1], abs=1e-6)  # transverse pair degenerate at X
    assert al_result.path == "GXWKGLUWLK,UX"


def test_al_x_point_equals_a_frozen_phonon(al_result, mishin) -> None:
    """The X-point LA and TA modes of fcc in the cubic cell are (001) planes moving against their
    neighbours (along z: LA; along x: TA); phonopy must give the frozen-phonon frequency."""
    atoms = relax(bulk("Al", "fcc", a=4.05, cubic=True), mishin, cell=True).atoms
    u = 0.005
    in_plane = np.isclose(atoms.get_scaled_positions()[:, 2], 0.0)
    for axis, index in ((2, 2), (0, 0)):
        work = atoms.copy()
        work.positions[:, axis] += np.where(in_plane, u, -u)
        work.calc = mishin
        k = -work.get_forces()[0, axis] / u
        assert al_result.special_points_THz["X"][index] == pytest.approx(_thz(k, atoms.get_masses()[0]), rel=2e-3)


def test_acoustic_sum_rule_no_imaginary_modes_and_dos_norm(al_result) -> None:
    fc = al_result.force_constants_eV_per_A2
    assert fc.shape == (32, 32, 3, 3)
    assert al_result.asr_max_eV_per_A2 < 1e-8 * np.abs(fc).max()
    assert al_result.gamma_acoustic_max_THz < 1e-3
    assert not al_result.has_imaginary_modes
    assert al_result.min_frequency_THz > -1e-3
    # one atom per primitive cell: the DOS holds three modes
    assert np.trapezoid(al_result.dos_states_per_THz, al_result.dos_frequencies_THz) == pytest.approx(3.0, rel=0.01)


@pytest.fixture(scope="module")
def mendelev_vs_mishin(mishin, mendelev) -> PhononComparison:
    return compare_phonons(bulk("Al", "fcc", a=4.05, cubic=True), mendelev, mishin, supercell=(2, 2, 2))


def test_force_constant_rmse_zero_against_itself_positive_against_another(mishin, mendelev_vs_mishin) -> None:
    same = compare_phonons(bulk("Al", "fcc", a=4.05, cubic=True), mishin, mishin, supercell=(2, 2, 2))
    assert same.force_constant_rmse_eV_per_A2 == 0.0
    assert same.frequency_rmse_THz == 0.0
    other = mendelev_vs_mishin
    # Mendelev's LA branch sits about 1 THz below Mishin's at L (8.7 against 9.6 THz)
    assert other.force_constant_rmse_eV_per_A2 > 0.01
    assert 0.1 < other.frequency_rmse_THz < other.frequency_max_abs_error_THz < 2.0


def test_force_sets_file_gives_the_same_comparison(mishin, mendelev, mendelev_vs_mishin, tmp_path) -> None:
    """DFT force sets come as a phonopy yaml; one written from the Mishin EAM must give exactly
    the comparison made with the potential itself."""
    from mlip_bench.properties.phonons import conventional_cell, make_phonopy, set_forces

    atoms = conventional_cell(relax(bulk("Al", "fcc", a=4.05, cubic=True), mishin, cell=True).atoms)
    reference = make_phonopy(atoms, (2, 2, 2), 0.01)
    set_forces(reference, mishin)
    reference.save(tmp_path / "phonopy_params.yaml", settings={"force_sets": True, "force_constants": False})
    loaded = compare_force_sets(load_force_sets(tmp_path / "phonopy_params.yaml"), mendelev)
    direct = mendelev_vs_mishin
    assert loaded.force_constant_rmse_eV_per_A2 == pytest.approx(direct.force_constant_rmse_eV_per_A2, rel=1e-6)
    assert loaded.frequency_rmse_THz == pytest.approx(direct.frequency_rmse_THz, rel=1e-6)


def test_mg_gamma_optical_modes_equal_a_frozen_phonon() -> None:
    """hcp Gamma: E2g (in-plane, the two atoms against each other) and B1g (along c); the
    two-atom cell gives them directly. Also checks the hcp path and its sorted-frequency labels."""
    calc = load_potential("eam:Mg_mm.eam.fs").calculator()
    result = calc_phonons(bulk("Mg", "hcp", a=3.2094, c=5.2105), calc, supercell=(3, 3, 2))
    atoms = relax(bulk("Mg", "hcp", a=3.2094, c=5.2105), calc, cell=True).atoms
    u = 0.005
    gamma = result.special_points_THz["G"]
    for direction, index in (((1.0, 0.0, 0.0), 3), ((0.0, 0.0, 1.0), 5)):
        work = atoms.copy()
        work.positions[0] += u * np.array(direction)
        work.positions[1] -= u * np.array(direction)
        work.calc = calc
        k = -float(work.get_forces()[0] @ np.array(direction)) / u
        assert gamma[index] == pytest.approx(_thz(k, atoms.get_masses()[0]), rel=2e-3)
    assert gamma[3] == pytest.approx(gamma[4], abs=1e-6)  # E2g is degenerate
    assert result.path == "GMKGALHA,LM,KH"
    assert not result.has_imaginary_modes
    assert np.trapezoid(result.dos_states_per_THz, result.dos_frequencies_THz) == pytest.approx(6.0, rel=0.01)


def _value(record: ResultRecord, name: str) -> float:
    metric = record.metric(name)
    assert metric is not None, f"{name} missing"
    return metric.value


def _task(reference: str) -> TaskSpec:
    return parse_task(
        {
            "id": "t-phonons",
            "version": 1,
            "kind": "phonons",
            "title": "test",
            "structures": [{"id": "Al-fcc", "element": "Al", "crystal": "fcc", "a_A": 4.05}],
            "parameters": {
                "supercell": [2, 2, 2],
                "dos_mesh": [8, 8, 8],
                "npoints": 11,
                "reference_potential": reference,
            },
            "metrics": [
                {"name": "freq_X_3_THz", "unit": "THz", "direction": "none"},
                {"name": "force_constant_rmse_eV_per_A2", "unit": "eV/Å²", "direction": "lower"},
            ],
        },
        source="test",
    )


def test_kind_reports_reference_and_curves(mishin_spec, monkeypatch) -> None:
    import mlip_bench.engine.kinds as kinds
    from mlip_bench.engine.kinds.phonons import PhononsKind
    from mlip_bench.engine.runner import Cell, run_cell

    monkeypatch.setitem(kinds.KINDS, "phonons", PhononsKind())
    record = run_cell(Cell("eam:Al_mm.eam.fs", _task(mishin_spec)))
    assert record.status == "ok", record.message
    assert _value(record, "force_constant_rmse_eV_per_A2") > 0.01
    assert any("not DFT" in note and "Al99.eam.alloy" in note for note in record.notes)
    (item,) = record.items
    x, y = np.array(item.arrays["band:x"]), np.array(item.arrays["band:y"])
    # 10 path segments x 3 branches, each 11 points and a NaN break
    assert x.shape == y.shape == (10 * 3 * 12,)
    assert np.isnan(y).sum() == 30 and np.nanmax(y) <= _value(record, "max_frequency_THz") + 1e-9
    assert "band_reference:y" in item.arrays and "dos:x" in item.arrays

    missing = run_cell(Cell("eam:Al_mm.eam.fs", _task("eam:/nonexistent/Al.eam.alloy")))
    assert missing.status == "ok"
    assert _value(missing, "freq_X_3_THz") == pytest.approx(_value(record, "freq_X_3_THz"))
    assert any("no force-constant comparison" in note for note in missing.notes)
