"""MTP (motep C engine) throughput (``nox -s bench``): atoms per second for energy, forces and
stress on the paper-001 MTP_Train, a Li-Al cell of 256 atoms and the validation set as a whole.
Printed, never asserted on time."""

from __future__ import annotations

import time

import pytest
from ase.build import bulk

from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.registry import load_dataset
from mlip_bench.engine.evaluate import predict

pytest.importorskip("motep")
pytestmark = pytest.mark.benchmark


def test_mtp_atoms_per_second(benchmark, data_root) -> None:
    calc = load_potential(f"mtp:{data_root / 'li_al/mtp/MTP_train.mtp'}").calculator()
    atoms = bulk("Al", "fcc", a=4.04, cubic=True).repeat(4)  # 256 atoms, a quarter Li
    atoms.symbols[::4] = "Li"
    atoms.rattle(0.02, seed=0)
    pred = benchmark.pedantic(predict, args=(calc, atoms), kwargs={"label": "mtp"}, rounds=5, warmup_rounds=1)
    assert pred.stress_eV_per_A3 is not None
    # timed here as well: benchmark.stats is None under the default --benchmark-disable
    start = time.perf_counter()
    predict(calc, atoms, label="mtp")
    single = time.perf_counter() - start
    frames = load_dataset("li-al-validation", data_root=data_root).frames
    n_atoms = sum(f.n_atoms for f in frames)
    start = time.perf_counter()
    for frame in frames:  # mixed sizes: the neighbour list is rebuilt at each size change
        predict(calc, frame.atoms, label="mtp")
    seconds = time.perf_counter() - start
    print(
        f"\nMTP_Train 256 atoms: {len(atoms) / single:.0f} atoms/s; Li-Al validation set "
        f"({len(frames)} structures, {n_atoms} atoms): {n_atoms / seconds:.0f} atoms/s"
    )
