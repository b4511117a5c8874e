"""Work items of the cold-curve and path kinds: one per crystal of ``cold_curves``; one per point of a
path at a given volume plus one for the undistorted fcc cell the energies are relative to. A point
or crystal whose potential call raises is a failed item of its own while the others complete, and a
run with some items already stored computes only the missing ones and gives the same record.

The potentials are ASE's EMT; :class:`FailsOnBcc` and :class:`FailsOnFcc` raise on every cell of one
space group (bcc: Im-3m, 229; fcc: Fm-3m, 225), which is a whole crystal of the cold curves and
exactly one point of each path (Bain c/a = 1/√2, trigonal 1/4; fcc: the reference cell and r = 1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import spglib
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from mlip_bench.data.curves import reference_curve
from mlip_bench.engine import evaluate
from mlip_bench.engine.artifacts import ArtifactStore, content_key
from mlip_bench.engine.kinds import get_kind
from mlip_bench.engine.kinds.base import ItemOutput
from mlip_bench.engine.records import ResultRecord, to_jsonable
from mlip_bench.engine.runner import Cell, cell_key, run_cell, run_cells
from mlip_bench.engine.spec import TaskSpec, load_task_file
from mlip_bench.engine.store import ResultStore
from mlip_bench.properties.paths import BAIN_POINTS, TRIGONAL_POINTS, path_grid

TASKS = Path(__file__).resolve().parents[1] / "tasks"
EMT_SPEC = "python:ase.calculators.emt:EMT"
BCC, FCC = 229, 225


class _FailsOn(EMT):
    """EMT raising RuntimeError on every cell of space group `group` (spglib, symprec 1e-4 Å)."""

    group = 0

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        dataset = spglib.get_symmetry_dataset(cell, symprec=1e-4)
        if dataset is not None and dataset.number == self.group:
            raise RuntimeError(f"deliberate failure on space group {self.group}")
        super().calculate(atoms, properties, system_changes)


class FailsOnBcc(_FailsOn):
    group = BCC


class FailsOnFcc(_FailsOn):
    group = FCC


def _task(name: str, **parameters: object) -> TaskSpec:
    task = load_task_file(TASKS / f"{name}.yaml")
    merged = {k: v for k, v in {**task.parameters, **parameters}.items() if v is not None}
    return dataclasses.replace(task, parameters=merged)


def _value(record: ResultRecord, name: str) -> float:
    """The metric's value; NaN when it has none (a task's declared metric is listed anyway)."""
    metric = record.metric(name)
    return float("nan") if metric is None else metric.value


def _same(a: ResultRecord, b: ResultRecord) -> None:
    """Status, metrics, items (values and arrays, exactly) and notes are equal; timings may differ."""
    for part in ("status", "message", "metrics", "groups", "items", "notes"):
        assert to_jsonable(getattr(a, part)) == to_jsonable(getattr(b, part)), part


# ---- items ------------------------------------------------------------------------------------


def test_cold_curves_plan_one_item_per_crystal() -> None:
    task = _task("al-cold-curves")
    plans = get_kind("cold_curves").items(task)
    assert [p.id for p in plans] == [s.id for s in task.structures]
    assert [p.payload["curve"] for p in plans] == [s.crystal for s in task.structures]
    assert len(task.structures) == 5


@pytest.mark.parametrize(("name", "points"), [("al-bain-path", BAIN_POINTS), ("al-trigonal-path", TRIGONAL_POINTS)])
def test_a_path_at_a_given_volume_plans_its_reference_cell_and_one_item_per_point(name: str, points: dict) -> None:
    task = _task(name)
    kind = get_kind(task.kind)
    p = task.parameters
    ratios = path_grid(p["start"], p["stop"], p["step"], [*points.values(), *reference_curve(p["reference_curve"]).x])
    plans = kind.items(task)
    assert plans[0].payload == {"ratio": None}  # the undistorted fcc cell
    assert [q.payload["ratio"] for q in plans[1:]] == list(ratios)
    assert len({q.id for q in plans}) == len(plans) == len(ratios) + 1
    assert len({content_key("cell", q.id, q.payload) for q in plans}) == len(plans)
    assert all(any(abs(r - x) < 1e-9 for x in ratios) for r in points.values())  # special points are items
    own_volume = kind.items(_task(name, lattice_constant_A=None))  # every point needs the volume found first
    assert [q.id for q in own_volume] == ["Al-fcc"]


# ---- a failing item ---------------------------------------------------------------------------


def test_a_crystal_whose_calls_raise_fails_alone() -> None:
    task = _task("al-cold-curves", volume_factors=[0.9, 1.0, 1.1])
    clean, broken = (run_cell(Cell(spec, task)) for spec in (EMT_SPEC, "python:test_path_items:FailsOnBcc"))
    items = {i.id: i for i in broken.items}
    assert items["Al-bcc"].status == "failed" and "deliberate failure on space group 229" in items["Al-bcc"].reason
    assert [i.status for i in broken.items].count("ok") == 4
    assert np.isnan(_value(broken, "dE_bcc_fcc_meV_per_atom")) and np.isfinite(_value(clean, "dE_bcc_fcc_meV_per_atom"))
    for other in ("hcp", "sc", "diamond"):
        assert _value(broken, f"dE_{other}_fcc_meV_per_atom") == _value(clean, f"dE_{other}_fcc_meV_per_atom")
    clean_items = {i.id: i for i in clean.items}
    assert items["Al-hcp"].arrays == clean_items["Al-hcp"].arrays


@pytest.mark.parametrize(("name", "bcc"), [("al-bain-path", float(BAIN_POINTS["bcc"])), ("al-trigonal-path", 0.25)])
def test_a_path_point_whose_call_raises_fails_alone(name: str, bcc: float) -> None:
    task = _task(name)
    path = task.kind
    clean, broken = (run_cell(Cell(spec, task)) for spec in (EMT_SPEC, "python:test_path_items:FailsOnBcc"))
    assert broken.status == "ok", broken.message
    (failed,) = [i for i in broken.items if i.status == "failed"]
    assert failed.id == f"Al-fcc r={round(bcc, 10)!r}" and "deliberate failure on space group 229" in failed.reason
    whole, ok = clean.items[0], broken.items[0]
    assert ok.id == "Al-fcc" and ok.status == "ok"
    kept = [i for i, x in enumerate(whole.arrays[f"{path}:x"]) if abs(x - bcc) > 1e-9]
    assert len(kept) == len(whole.arrays[f"{path}:x"]) - 1
    assert ok.arrays[f"{path}:y"] == [whole.arrays[f"{path}:y"][i] for i in kept]  # the others, unchanged
    assert np.isnan(_value(broken, f"E_bcc_{path}_meV_per_atom"))
    assert np.isfinite(_value(broken, f"{path.removesuffix('_path')}_rmse_meV_per_atom"))
    assert ok.values["potential_calls"] == whole.values["potential_calls"] - 1
    assert any("1 of" in n and "have no energy" in n for n in broken.notes)


def test_a_path_without_its_reference_cell_fails_with_the_reason() -> None:
    record = run_cell(Cell("python:test_path_items:FailsOnFcc", _task("al-trigonal-path")))
    path = next(i for i in record.items if i.id == "Al-fcc")
    assert path.status == "failed" and "undistorted fcc cell" in path.reason and "space group 225" in path.reason
    assert all(np.isnan(m.value) for m in record.metrics)


# ---- resume -----------------------------------------------------------------------------------


def _resume(task: TaskSpec, tmp_path: Path, keep: Any) -> tuple[ResultRecord, ResultRecord, int, int]:
    """(record of a full run, record of a run that found only the items `keep(id)` stored, potential
    calls of the full run, calls of the second run counted in this process)."""
    cell = Cell(EMT_SPEC, task)
    [full] = run_cells([cell], store=ResultStore(tmp_path / "full"))
    done, partial = ArtifactStore(tmp_path / "full" / "artifacts"), ArtifactStore(tmp_path / "part" / "artifacts")
    key = cell_key(cell)
    for plan in get_kind(task.kind).items(task):
        if keep(plan.id):
            item_key = content_key(key, plan.id, plan.payload)
            stored = done.get_item(item_key, ItemOutput)
            assert stored is not None, plan.id
            partial.put_item(item_key, stored)
    before = evaluate.CALLS[0]
    [resumed] = run_cells([cell], store=ResultStore(tmp_path / "part"))
    return full, resumed, full.timings.potential_calls, evaluate.CALLS[0] - before


def test_a_path_computes_only_the_points_not_stored(tmp_path: Path) -> None:
    task = _task("al-bain-path")
    plans = get_kind(task.kind).items(task)
    missing = {p.id for p in plans[1::3]}  # every third point
    full, resumed, calls, made = _resume(task, tmp_path, lambda i: i not in missing)
    assert calls == len(plans) and made == len(missing) == resumed.timings.potential_calls
    _same(full, resumed)


def test_cold_curves_compute_only_the_crystals_not_stored(tmp_path: Path) -> None:
    task = _task("al-cold-curves", volume_factors=[0.9, 1.0, 1.1])
    full, resumed, calls, made = _resume(task, tmp_path, lambda i: i != "Al-hcp")
    hcp = next(i for i in full.items if i.id == "Al-hcp").values["potential_calls"]
    assert made == hcp == resumed.timings.potential_calls and 0 < made < calls
    _same(full, resumed)
    assert np.isnan(next(i for i in resumed.items if i.id == "Al-fcc").values.get("c_over_a", np.nan))
