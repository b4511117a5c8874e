"""Resume: a real `mlip-bench run` killed with SIGKILL (its whole process group, workers included)
at several points and started again loses at most the work items in flight, computes no finished
item twice, and ends with a record identical to an uninterrupted run's.

Potential calls are counted across processes by ``helpers_calculators.CallLogging``, which logs
each call to a file before computing (a call in flight when the run dies counts too).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

TESTS = Path(__file__).resolve().parent
CHUNK = 4
N_STRUCTURES = 24
SPEC = "python:helpers_calculators:CallLogging"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 rattled Cu cells with EMT labels (ids s0..s23)."""
    rng = np.random.default_rng(7)
    frames = []
    for i in range(N_STRUCTURES):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = EMT()
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e + 0.01 * i, forces=f, stress=s)
        atoms.info["id"] = f"s{i}"
        frames.append(atoms)
    path = tmp_path_factory.mktemp("resume") / "cu.extxyz"
    write(path, frames, format="extxyz")
    return path


@pytest.fixture(scope="module")
def eos_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An EOS task on three crystals: three work items."""
    path = tmp_path_factory.mktemp("resume-task") / "eos3.yaml"
    path.write_text(
        "id: eos-three\nversion: 1\nkind: eos\ntitle: EOS of three crystals\n"
        "structures:\n"
        "  - {id: cu, element: Cu, crystal: fcc, a_A: 3.6}\n"
        "  - {id: al, element: Al, crystal: fcc, a_A: 4.05}\n"
        "  - {id: ni, element: Ni, crystal: fcc, a_A: 3.52}\n"
        "parameters: {n_points: 7}\n"
        "metrics:\n  - {name: cu.B_GPa, unit: GPa, direction: none}\n"
    )
    return path


def _command(results: Path, *task: str) -> list[str]:
    return [
        sys.executable, "-m", "mlip_bench.cli", "run", "--potential", SPEC, *task,
        "--results", str(results), "--chunk-structures", str(CHUNK), "--no-progress", "--json",
    ]  # fmt: skip


def _env(log: Path, sleep: float) -> dict[str, str]:
    env = dict(os.environ)
    env |= {"PYTHONPATH": str(TESTS), "MLIP_BENCH_TEST_CALL_LOG": str(log), "MLIP_BENCH_TEST_CALL_SLEEP": str(sleep)}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _kill_after(command: list[str], env: dict[str, str], log: Path, calls: int) -> None:
    """Start `command` in its own process group and SIGKILL the group once `log` holds `calls` lines."""
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_lines(log)) < calls:
        assert proc.poll() is None, f"the run ended before {calls} calls: no kill happened"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _run(command: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _result(record: dict) -> tuple:
    """What must be identical: status, metrics, groups and every item (timings and dates may differ)."""
    items = [(i["id"], i["status"], i["values"], i["arrays"]) for i in record["items"]]
    return record["status"], record["metrics"], record["groups"], items


def test_killed_dataset_run_resumes_without_recomputing(dataset: Path, tmp_path: Path):
    task = ("--task", "rmse-mlearn-cu-test", "--dataset", str(dataset))
    clean_log, log = tmp_path / "clean.log", tmp_path / "killed.log"
    clean = _run(_command(tmp_path / "clean", *task), _env(clean_log, 0.0))
    assert sorted(_lines(clean_log)) == sorted(f"s{i}" for i in range(N_STRUCTURES))  # once per structure
    assert clean["timings"]["potential_calls"] == N_STRUCTURES

    command = _command(tmp_path / "killed", *task)
    kills = (2, 9, 15)  # calls seen (over all runs so far) when each run is killed: mid-chunk points
    for point in kills:
        _kill_after(command, _env(log, 0.05), log, point)
    resumed = _run(command, _env(log, 0.0))

    assert _result(resumed) == _result(clean)
    counts = Counter(_lines(log))
    assert set(counts) == {f"s{i}" for i in range(N_STRUCTURES)}
    repeated = sum(n - 1 for n in counts.values())
    # each kill loses at most the one chunk in flight (one worker), never a finished one
    assert repeated <= CHUNK * len(kills), counts
    assert resumed["timings"]["potential_calls"] < N_STRUCTURES  # the last run found the finished chunks

    again = _run(command, _env(log, 0.0))  # a finished cell: nothing is recomputed
    assert sum(Counter(_lines(log)).values()) == sum(counts.values())
    assert again["key"] == resumed["key"]


def test_killed_property_run_keeps_finished_items(eos_task: Path, tmp_path: Path):
    clean_log, log = tmp_path / "clean.log", tmp_path / "killed.log"
    clean = _run(_command(tmp_path / "clean", "--task", str(eos_task)), _env(clean_log, 0.0))
    assert clean["status"] == "ok" and [i["status"] for i in clean["items"]] == ["ok"] * 3
    per_item = [int(i["values"]["potential_calls"]) for i in clean["items"]]
    total = len(_lines(clean_log))
    assert total == sum(per_item)

    command = _command(tmp_path / "killed", "--task", str(eos_task))
    _kill_after(command, _env(log, 0.01), log, per_item[0] + 3)  # inside the second item
    resumed = _run(command, _env(log, 0.0))

    assert _result(resumed) == _result(clean)
    calls = len(_lines(log))
    assert total <= calls <= total + per_item[1] + 1  # at most the item in flight is redone
    assert resumed["timings"]["potential_calls"] == per_item[1] + per_item[2]  # the first item was stored
