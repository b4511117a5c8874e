"""ANI-Al throughput (``nox -s bench`` with torchani installed, or ``nox -s models-ani``): atoms per
second for energy, forces and stress of a 256-atom fcc cell (8-member ensemble, float64, CPU,
torchani's all-pairs neighbour list). Printed, never asserted on time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ase.build import bulk

from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine.evaluate import predict

pytest.importorskip("torchani")
pytestmark = [pytest.mark.benchmark, pytest.mark.models, pytest.mark.ani]

MODEL_DIR = Path(__file__).resolve().parents[3] / "shared" / "models" / "ani_al"


def test_ani_atoms_per_second(benchmark) -> None:
    if not MODEL_DIR.is_dir():
        pytest.skip(f"ANI-Al model folder not found at {MODEL_DIR}")
    calc = load_potential(f"ani:{MODEL_DIR}").calculator()
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(4)  # 256 atoms
    atoms.rattle(0.02, seed=0)
    pred = benchmark.pedantic(predict, args=(calc, atoms), kwargs={"label": "ani"}, rounds=3, warmup_rounds=1)
    assert pred.stress_eV_per_A3 is not None
    start = time.perf_counter()
    predict(calc, atoms, label="ani")
    seconds = time.perf_counter() - start
    print(f"\nANI-Al 256 atoms (energy, forces, stress): {len(atoms) / seconds:.0f} atoms/s ({seconds:.2f} s per call)")
