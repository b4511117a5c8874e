"""Throughput benchmarks (``nox -s bench``). Targets are printed as ratios, never asserted on time.

- asap3 EMT vs ASE's pure-Python EMT (the brief expects about 60x),
- LAMMPS EAM vs ASE's pure-Python EAM on the same file (300-700x expected),
- suite overhead of the rmse task: wall time outside the calculator per structure.
"""

from __future__ import annotations

import time

import pytest
from ase.build import bulk

from mlip_bench.adapters.lammps import resolve_file
from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine.evaluate import predict
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task

pytestmark = pytest.mark.benchmark


def _atoms(n: int = 4):  # 4x4x4 conventional cells: 256 atoms
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(n)
    atoms.rattle(0.02, seed=0)
    return atoms


def _seconds(calc, atoms, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        predict(calc, atoms, label="bench")
    return (time.perf_counter() - start) / repeat


def test_emt_asap3_vs_ase(benchmark) -> None:
    from ase.calculators.emt import EMT

    atoms = _atoms()
    fast = load_potential("emt").calculator()
    benchmark(predict, fast, atoms, label="asap3")
    ratio = _seconds(EMT(), atoms, 2) / _seconds(fast, atoms, 20)
    print(f"\nEMT 256 atoms: asap3 is {ratio:.0f}x faster than ASE's EMT")


def test_eam_lammps_vs_ase(benchmark) -> None:
    from ase.calculators.eam import EAM

    atoms = _atoms()
    fast = load_potential("eam:Al_zhou.eam.alloy").calculator()
    benchmark(predict, fast, atoms, label="lammps")
    slow = EAM(potential=str(resolve_file("Al_zhou.eam.alloy")))
    ratio = _seconds(slow, atoms, 1) / _seconds(fast, atoms, 20)
    print(f"\nEAM 256 atoms: LAMMPS is {ratio:.0f}x faster than ASE's EAM")


def test_rmse_task_overhead(benchmark, data_root) -> None:
    task = load_task("rmse-mlearn-cu-test")
    record = benchmark.pedantic(run_cell, args=(Cell("emt", task, str(data_root)),), rounds=3)
    t = record.timings
    per_structure_ms = t.suite_s / record.counts.ok * 1000
    print(
        f"\nrmse cu_test with EMT: calculator {t.calculator_s:.3f} s, suite {t.suite_s:.3f} s "
        f"({per_structure_ms:.1f} ms per structure outside the potential, incl. loading and checksum)"
    )
