"""Peak memory and time of one ANI-Al energy + forces + stress call against cell size, for the two
neighbour lists of the ``ani:`` adapter (``neighbours=auto``: torchani's cell list on a wrapped copy;
``neighbours=all_pairs``), each size in a fresh process so that peak RSS is that call's.

Run: ``.nox/models-ani/bin/python tests/benchmarks/ani_neighbour_memory.py [device]`` (device: cpu or
cuda; sizes in conventional cells per edge from MLIP_BENCH_ANI_EDGES, default "4 6 8 10").
Prints one line per (list, size): atoms, seconds, peak host RSS (MiB) and, on cuda, peak GPU memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import json, resource, sys, time
from ase.build import bulk
from mlip_bench.adapters.registry import load_potential
edge, option, device = int(sys.argv[1]), sys.argv[2], sys.argv[3]
calc = load_potential(f"ani:;neighbours={option};device={device}").calculator()
atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(edge)
atoms.rattle(0.05, seed=1)
atoms.calc = calc
start = time.perf_counter()
atoms.get_forces(); atoms.get_stress()
seconds = time.perf_counter() - start
gpu = 0.0
if device == "cuda":
    import torch
    gpu = torch.cuda.max_memory_allocated() / 2**20
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"atoms": len(atoms), "seconds": seconds, "rss_MiB": rss, "gpu_MiB": gpu}))
"""


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    edges = [int(e) for e in os.environ.get("MLIP_BENCH_ANI_EDGES", "4 6 8 10").split()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHANI_NO_WARN_EXTENSIONS": "1"}
    for option in ("auto", "all_pairs"):
        for edge in edges:
            run = subprocess.run(
                [sys.executable, "-c", CHILD, str(edge), option, device], capture_output=True, text=True, env=env
            )
            if run.returncode != 0:
                print(f"{option:9s} {4 * edge**3:6d} atoms: failed ({run.stderr.strip().splitlines()[-1:]})")
                break  # larger cells fail the same way
            r = json.loads(run.stdout.strip().splitlines()[-1])
            print(
                f"{option:9s} {r['atoms']:6d} atoms: {r['seconds']:7.2f} s, peak RSS {r['rss_MiB']:8.0f} MiB"
                + (f", GPU {r['gpu_MiB']:8.0f} MiB" if device == "cuda" else ""),
                flush=True,
            )


if __name__ == "__main__":
    main()
