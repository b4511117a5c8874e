"""Kind ``md_extrapolation`` and its watcher (properties/md_watch.py) on fake calculators: an
Einstein crystal (each atom on a spring to its start site: cheap, deterministic) whose reported
uncertainty rises with every call and which goes wrong at a known call (NaN, an exception, an energy
jump, two atoms pulled together). Langevin makes one potential call per step, the first one at step 0,
so call n is step n - 1."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.io import write

from mlip_bench.adapters.registry import load_potential
from mlip_bench.adapters.uncertainty import grade_info
from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.kinds import get_kind
from mlip_bench.engine.kinds.base import TaskContext
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import TaskSpec, parse_task
from mlip_bench.errors import TaskSpecError
from mlip_bench.properties.md_core import MdRun
from mlip_bench.properties.md_watch import RECORD_FILE, WatchLimits, WatchResult, watch_md

SAMPLE_EVERY = 10
SPRING_EV_PER_A2 = 5.0


class Einstein(Calculator):  # type: ignore[misc]
    """Springs to the first structure's sites. Uncertainty: `u0` + `rate` x (call number) when
    `rate` is set, else 10 x the mean squared displacement (Å², a function of the configuration only,
    so that a resumed run sees the values an uninterrupted one saw). From call `at` on, `mode`:
    "nan" energy, "raise" RuntimeError, "jump" +10 eV/atom, "pull" atoms 0 and 1 together with
    20 eV/Å, "interrupt" raises KeyboardInterrupt (a killed worker)."""

    implemented_properties = ["energy", "forces"]  # noqa: RUF012 (ASE's API)

    def __init__(self, *, rate: float = 0.0, u0: float = 0.5, at: int = 0, mode: str = "") -> None:
        super().__init__()
        self.rate, self.u0, self.at, self.mode = rate, u0, at, mode
        self.calls = 0
        self.sites: np.ndarray | None = None

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        broken = bool(self.at) and self.calls >= self.at
        if broken and self.mode == "interrupt":
            raise KeyboardInterrupt("killed")
        if broken and self.mode == "raise":
            raise RuntimeError(f"deliberate failure on call {self.calls}")
        assert self.atoms is not None  # set by Calculator.calculate
        positions = self.atoms.positions
        if self.sites is None:
            self.sites = positions.copy()
        d = positions - self.sites
        energy = 0.5 * SPRING_EV_PER_A2 * float((d**2).sum())
        forces = -SPRING_EV_PER_A2 * d
        if broken and self.mode == "jump":
            energy += 10.0 * len(positions)
        if broken and self.mode == "pull":
            bond = positions[1] - positions[0]
            forces[0] += 20.0 * bond / np.linalg.norm(bond)
            forces[1] -= 20.0 * bond / np.linalg.norm(bond)
        if broken and self.mode == "nan":
            energy = math.nan
        rising = self.u0 + self.rate * self.calls
        grade = rising if self.rate else 10.0 * float((d**2).sum(axis=1).mean())
        self.results = {"energy": energy, "free_energy": energy, "forces": forces, "uncertainty": grade}


def _run(n_steps: int = 200, segment_steps: int = 50) -> MdRun:
    return MdRun(
        ensemble="nvt_langevin", temperature_K=1000.0, n_steps=n_steps, timestep_fs=2.0, seed=3,
        maxwell_boltzmann=True, segment_steps=segment_steps, stress=False,
    )  # fmt: skip


def _watch(calc: Einstein, folder: Path | None = None, **run: Any) -> WatchResult:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    timed = TimedCalculator(calc, label="fake")
    return watch_md(atoms, timed, _run(**run), sample_every=SAMPLE_EVERY, limits=WatchLimits(), checkpoint_dir=folder)


def _table(result: WatchResult) -> np.ndarray:
    return np.array([dataclasses.astuple(s) for s in result.samples], float)


def test_first_crossings_follow_the_rising_uncertainty() -> None:
    result = _watch(Einstein(rate=0.01, u0=0.5))
    assert result.failure is None and result.steps_completed == 200
    # the sample at step k carries call k + 1: u = 0.5 + 0.01 (k + 1)
    expected = [0.5 + 0.01 * (s.step + 1) for s in result.samples]
    np.testing.assert_allclose([s.uncertainty for s in result.samples], expected)
    for threshold in (1.001, 1.5):
        first = result.first_above(threshold)
        assert first is not None
        k = math.floor((threshold - 0.5) / 0.01)  # first step with 0.5 + 0.01 (k + 1) > threshold
        assert first.step == SAMPLE_EVERY * math.ceil(k / SAMPLE_EVERY)
    assert result.first_above(100.0) is None and result.first_above(None) is None


@pytest.mark.parametrize(("mode", "kind"), [("raise", "calculator_error"), ("nan", "non_finite")])
def test_a_failing_calculator_ends_the_run_at_its_step_and_keeps_the_samples(mode: str, kind: str) -> None:
    result = _watch(Einstein(rate=0.01, at=74, mode=mode))  # call 74: step 73
    assert result.failure is not None and result.failure.kind == kind
    assert result.failure.step == 73 and result.steps_completed == 72
    assert [s.step for s in result.samples] == list(range(0, 73, SAMPLE_EVERY))


def test_an_energy_jump_is_caught_at_the_next_sample() -> None:
    result = _watch(Einstein(rate=0.01, at=74, mode="jump"))
    assert result.failure is not None and result.failure.kind == "energy_jump"
    assert result.failure.step == 80 == result.steps_completed == result.samples[-1].step


def test_a_failed_run_read_back_from_its_checkpoint_reports_the_same_failure(tmp_path: Path) -> None:
    first = _watch(Einstein(rate=0.01, at=74, mode="jump"), tmp_path)
    again = _watch(Einstein(rate=0.01), tmp_path)  # finished: nothing is run again past step 0
    assert again.failure == first.failure and again.steps_completed == first.steps_completed == 80
    np.testing.assert_array_equal(_table(again), _table(first))


def test_a_start_with_atoms_too_close_fails_at_step_zero() -> None:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.positions[1] = atoms.positions[0] + [0.5, 0.5, 0.0]
    timed = TimedCalculator(Einstein(), label="fake")
    result = watch_md(atoms, timed, _run(), sample_every=SAMPLE_EVERY, limits=WatchLimits())
    assert result.failure is not None and result.failure.kind == "min_distance"
    assert result.failure.step == 0 == result.steps_completed and len(result.samples) == 1


def test_atoms_pulled_together_fail_on_the_distance() -> None:
    result = _watch(Einstein(rate=0.01, at=41, mode="pull"))
    assert result.failure is not None and result.failure.kind == "min_distance"
    assert result.samples[-1].min_distance_A < WatchLimits().min_distance_A <= result.samples[-2].min_distance_A
    assert result.failure.step > 40 and result.failure.step == result.steps_completed


def test_a_resumed_run_keeps_the_record_of_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = _watch(Einstein(), tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):  # killed in the third segment, after the checkpoint at 100
        _watch(Einstein(at=130, mode="interrupt"), tmp_path / "cut")
    resumed = _watch(Einstein(), tmp_path / "cut")
    assert resumed.resumed_from_step == 100 and whole.resumed_from_step is None
    np.testing.assert_allclose(_table(resumed), _table(whole), rtol=0, atol=1e-9)
    again = _watch(Einstein(), tmp_path / "cut")  # a finished run is read back, not run again
    assert again.resumed_from_step == 200
    np.testing.assert_array_equal(_table(again), _table(whole))


def test_lost_samples_restart_the_run_from_step_zero(tmp_path: Path) -> None:
    whole = _watch(Einstein())
    with pytest.raises(KeyboardInterrupt):
        _watch(Einstein(at=130, mode="interrupt"), tmp_path)
    (tmp_path / RECORD_FILE).write_text("{not json")
    resumed = _watch(Einstein(), tmp_path)
    assert resumed.resumed_from_step is None and any("restarts from step 0" in n for n in resumed.notes)
    np.testing.assert_allclose(_table(resumed), _table(whole), rtol=0, atol=1e-9)


# the kind ----------------------------------------------------------------------------------------


def _task(tmp_path: Path | None = None, **parameters: Any) -> TaskSpec:
    raw: dict[str, Any] = {
        "id": "md-watch-test",
        "version": 1,
        "kind": "md_extrapolation",
        "title": "test",
        "parameters": {"temperature_K": 1000.0, "timestep_fs": 2.0, "n_steps": 120, "sample_every": 10,
                       "segment_steps": 40, "supercell": [2, 2, 2], "seed": 1, **parameters},
        "metrics": [{"name": "first_step_above_select", "unit": "steps", "direction": "higher"}],
    }  # fmt: skip
    if tmp_path is None:
        raw["structures"] = [{"id": "Cu-fcc", "element": "Cu", "crystal": "fcc", "a_A": 3.6}]
    else:
        path = tmp_path / "start.extxyz"
        frames = [bulk("Cu", "fcc", a=3.6, cubic=True), bulk("Cu", "fcc", a=3.7, cubic=True)]
        for i, frame in enumerate(frames):
            frame.info["id"] = f"cu-{i}"
        write(path, frames, format="extxyz")
        raw["dataset"] = str(path)
    return parse_task(raw, source="test_md_watch.yaml")


def _context(task: TaskSpec, calc: Einstein, scratch: Path | None = None) -> TaskContext:
    potential = load_potential("python:ase.calculators.emt:EMT")
    info = dataclasses.replace(potential.info, uncertainty=grade_info("fake training set"))
    potential = dataclasses.replace(potential, info=info)
    return TaskContext(task=task, potential=potential, calculator=calc, scratch=str(scratch) if scratch else None)


def test_the_kind_reports_crossings_failure_and_warning_lead() -> None:
    kind = get_kind("md_extrapolation")
    ctx = _context(_task(), Einstein(rate=0.02, u0=0.9, at=100, mode="jump"))
    outcome = kind.run(ctx)
    (record,) = outcome.items
    v = record.values
    # u = 0.9 + 0.02 (k + 1): above 1.001 from step 5 (sample 10), above 5 from step 205 (never here)
    assert v["first_step_above_select"] == 10 and v["first_time_above_select_ps"] == pytest.approx(0.02)
    assert math.isnan(v["first_step_above_break"]) and math.isnan(v["warning_lead_steps"])
    assert v["failed"] == 1 and v["failure_step"] == 100 == v["steps_completed"]
    assert outcome.values == v and record.n_atoms == 32
    assert len(record.arrays["uncertainty_vs_time:x"]) == len(record.arrays["energy_vs_time:y"]) == 11
    assert any("energy_jump" in note for note in ctx.notes)  # the runner adds them to the record
    lowered = kind.run(_context(_task(break_threshold=2.0), Einstein(rate=0.02, u0=0.9, at=100, mode="jump")))
    lead = lowered.values
    # above 2 once 0.9 + 0.02 (k + 1) > 2: step 55, seen at sample 60; failure at 100
    assert lead["first_step_above_break"] == 60 and lead["warning_lead_steps"] == 40


def test_the_kind_resumes_its_item_from_scratch(tmp_path: Path) -> None:
    kind = get_kind("md_extrapolation")
    whole = kind.run(_context(_task(), Einstein(), tmp_path / "whole")).items[0]
    with pytest.raises(KeyboardInterrupt):
        kind.run(_context(_task(), Einstein(at=90, mode="interrupt"), tmp_path / "cut"))
    resumed = kind.run(_context(_task(), Einstein(), tmp_path / "cut")).items[0]
    for key, curve in whole.arrays.items():
        np.testing.assert_allclose(resumed.arrays[key], curve, rtol=0, atol=1e-9, err_msg=key)


def test_the_start_frame_comes_from_the_dataset(tmp_path: Path) -> None:
    kind = get_kind("md_extrapolation")
    task = _task(tmp_path, structure_id="cu-1", supercell=[1, 1, 1], volume_scale=0.9, n_steps=20)
    outcome = kind.run(_context(task, Einstein()))
    (record,) = outcome.items
    assert record.status == "ok" and record.n_atoms == 4 and "cu-1" in record.group
    expected = 3.7 * 0.9 ** (1 / 3) / math.sqrt(2)  # fcc nearest neighbours in the compressed cell
    assert record.arrays["min_distance_vs_time:y"][0] == pytest.approx(expected)
    missing = kind.run(_context(_task(tmp_path, structure_id="cu-7"), Einstein())).items[0]
    assert missing.status == "failed" and "cu-7" in missing.reason and "start.extxyz" in missing.reason
    with pytest.raises(TaskSpecError, match="structure_id"):
        kind.items(_task(tmp_path))


def test_a_potential_without_uncertainty_is_not_applicable() -> None:
    record = run_cell(Cell("python:ase.calculators.emt:EMT", _task()))
    assert record.status == "not_applicable" and "uncertainty" in record.message
