"""Loading and import benchmarks (``nox -s bench``). Targets are printed as ratios, never asserted on time.

- the nine Li-Al ``*.extxyz.gz`` files: load time over decompress-only time (linear loading keeps it
  near the cost of ASE's per-frame parser, ~10x; ``ase.io.iread`` on the ``.gz`` path was ~900x),
- one file read the old way (``ase.io.iread`` on the gzip path) against the in-memory read,
- ``import mlip_bench`` over ``import ase.io`` (target: at most 0.3 s more), median of 5 fresh processes.
"""

from __future__ import annotations

import gzip
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import pytest

from mlip_bench.data.extxyz import read_extxyz
from mlip_bench.data.registry import clear_dataset_cache, load_dataset, registered_datasets

pytestmark = pytest.mark.benchmark


def _li_al_ids() -> list[str]:
    return [e.id for e in registered_datasets().values() if e.path.startswith("li_al/")]


def _load_all(ids: list[str], root: Path) -> int:
    clear_dataset_cache()
    return sum(len(load_dataset(i, data_root=root)) for i in ids)


def _decompress_all(root: Path, ids: list[str]) -> float:
    entries = registered_datasets()
    start = time.perf_counter()
    for i in ids:
        gzip.decompress((root / entries[i].path).read_bytes())
    return time.perf_counter() - start


def test_li_al_load_vs_decompress(benchmark, data_root: Path) -> None:
    ids = _li_al_ids()
    assert len(ids) == 9
    n_frames = benchmark.pedantic(_load_all, args=(ids, data_root), rounds=1, iterations=1)
    start = time.perf_counter()
    _load_all(ids, data_root)
    load_s = time.perf_counter() - start
    decompress_s = _decompress_all(data_root, ids)
    print(
        f"\nnine Li-Al files ({n_frames} frames): load {load_s:.2f} s, decompress only {decompress_s:.2f} s, "
        f"ratio {load_s / decompress_s:.1f}x"
    )


def test_gzip_path_iread_vs_in_memory(benchmark, data_root: Path) -> None:
    path = data_root / "li_al" / "validation.extxyz.gz"  # 66 frames: the old way stays under seconds
    dataset = benchmark.pedantic(read_extxyz, args=(path,), rounds=1, iterations=1)
    start = time.perf_counter()
    read_extxyz(path)
    new_s = time.perf_counter() - start
    start = time.perf_counter()
    n_old = sum(1 for _ in ase.io.iread(str(path), index=":", format="extxyz"))
    old_s = time.perf_counter() - start
    assert n_old == len(dataset)
    print(
        f"\n{path.name} ({n_old} frames): iread on the gzip path {old_s:.2f} s, in memory {new_s:.2f} s, "
        f"{old_s / new_s:.0f}x"
    )


def _import_seconds(statement: str, repeat: int = 5) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_import_time(benchmark) -> None:
    benchmark.pedantic(_import_seconds, args=("import mlip_bench",), kwargs={"repeat": 1}, rounds=1, iterations=1)
    base = _import_seconds("import ase.io")
    lines = [f"\nimport ase.io: {base:.2f} s (median of 5 processes)"]
    for module in ("mlip_bench", "mlip_bench.data.registry", "mlip_bench.metrics", "mlip_bench.adapters.registry"):
        extra = _import_seconds(f"import ase.io; import {module}") - base
        lines.append(f"import {module}: +{extra:.2f} s over ase.io (target for mlip_bench: <= 0.3 s)")
    print("\n".join(lines))
