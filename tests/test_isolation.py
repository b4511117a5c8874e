"""Isolation: a potential that aborts, calls os._exit, raises SystemExit or hangs costs only the
work items it was running, recorded as failures with the reason; every other cell completes; a
cell whose items all failed is failed; the next run retries only what was lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from mlip_bench.engine.executors import ProcessExecutor
from mlip_bench.engine.runner import Cell, RunOptions, run_cells
from mlip_bench.engine.spec import TaskSpec, load_task
from mlip_bench.engine.store import ResultStore

TESTS = Path(__file__).resolve().parent
IDS = ["s0", "s1", "bad2", "s3", "s4", "s5"]  # chunks of 2: (s0, s1) (bad2, s3) (s4, s5)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> TaskSpec:
    rng = np.random.default_rng(3)
    frames = []
    for sid in IDS:
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        atoms.info["id"] = sid
        frames.append(atoms)
    path = tmp_path_factory.mktemp("isolation") / "cu6.extxyz"
    write(path, frames, format="extxyz")
    return load_task("rmse-mlearn-cu-test").with_dataset(str(path))


@pytest.fixture(scope="module")
def pool():
    with ProcessExecutor(workers=1) as executor:
        yield executor


@pytest.mark.parametrize(
    ("factory", "reason"),
    [
        ("aborting", "SIGABRT"),
        ("exiting", "exit code 3"),
        ("system_exiting", "SystemExit"),
        ("hanging", "no result after"),
    ],
)
def test_bad_item_costs_only_its_chunk(task: TaskSpec, pool: ProcessExecutor, tmp_path: Path, factory, reason):
    store = ResultStore(tmp_path / "results")
    cells = [Cell(f"python:helpers_calculators:{factory}", task), Cell("emt", task)]
    options = RunOptions(chunk_structures=2, timeout_s=5.0)
    bad, good = run_cells(cells, store=store, executor=pool, options=options)
    assert good.status == "ok" and good.counts.ok == len(IDS)
    assert bad.status == "ok", bad.message
    assert (bad.counts.ok, bad.counts.failed, bad.counts.lost) == (4, 2, 2)
    lost = {i.id: i.reason for i in bad.items if i.status == "failed"}
    assert set(lost) == {"bad2", "s3"}
    assert all(reason in r and "work item lost" in r for r in lost.values()), lost
    assert any("retried by the next run" in n for n in bad.notes)
    # the next run retries the lost chunk (lost again) and takes the finished ones from the store
    [again] = run_cells(cells[:1], store=store, executor=pool, options=options)
    assert again.key == bad.key and again.counts.lost == 2
    assert again.timings.potential_calls == 0  # calls of finished items only: none was recomputed
    assert [i.values for i in again.items] == [i.values for i in bad.items]


def test_cell_whose_items_all_failed_is_failed(task: TaskSpec, pool: ProcessExecutor, tmp_path: Path):
    [record] = run_cells(
        [Cell("python:helpers_calculators:always_aborting", task)],
        store=ResultStore(tmp_path / "r"),
        executor=pool,
        options=RunOptions(chunk_structures=3),
    )
    assert record.status == "failed"
    assert "all 6 scored items failed" in record.message and "SIGABRT" in record.message


def test_cli_run_isolates_a_crash_and_exits_1(task: TaskSpec, tmp_path: Path):
    dataset = task.dataset or ""
    done = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "mlip_bench.cli",
                "run",
                "--potential",
                "python:helpers_calculators:always_aborting",
            ),
            *("--task", "rmse-mlearn-cu-test", "--dataset", dataset, "--results", str(tmp_path / "r")),
            *("--no-progress", "--json"),
        ],
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert '"status": "failed"' in done.stdout and "SIGABRT" in done.stdout


def test_dask_executor_gives_the_serial_records(task: TaskSpec, tmp_path: Path):
    pytest.importorskip("distributed")
    from mlip_bench.engine.dask_executor import DaskExecutor

    cells = [Cell("emt", task), Cell("emt", load_task("al-eos"))]
    serial = run_cells(cells, store=ResultStore(tmp_path / "serial"), options=RunOptions(chunk_structures=2))
    with DaskExecutor(workers=2) as executor:
        dask = run_cells(
            cells, store=ResultStore(tmp_path / "dask"), executor=executor, options=RunOptions(chunk_structures=2)
        )
    for a, b in zip(serial, dask, strict=True):
        assert b.status == "ok" and b.key == a.key, b.message
        assert [m.name for m in b.metrics] == [m.name for m in a.metrics]
        # other processes: asap3 sums in another order, to round-off
        assert [m.value for m in b.metrics] == pytest.approx([m.value for m in a.metrics], rel=1e-9, nan_ok=True)
    assert sum(r.timings.potential_calls for r in dask) == sum(r.timings.potential_calls for r in serial)
