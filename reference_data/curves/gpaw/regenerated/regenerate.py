"""Regenerate the hand-run 15^3 k-point PBE paths (../paths_k15.json, from ../paths_dft_mv.py-style
scripts with GPAW 22.8) through the suite's reference role: `gpaw:` adapter + make_reference.

    OMP_NUM_THREADS=1 .nox/gpaw/bin/python reference_data/curves/gpaw/regenerated/regenerate.py bain [trigonal]

Each path point is a work item stored in RESULTS: a killed run resumes where it stopped.
CLI equivalent (once wired): mlip-bench reference --calculator "$SPEC" --task al-bain-path \
    --set lattice_constant_A=4.04151733404665 --set step=0.05 --set reference_curve=null --out FILE
"""
import sys
import time

from mlip_bench.engine.executors import make_executor
from mlip_bench.engine.reference import make_reference

SPEC = "gpaw:ecut_eV=300;xc=PBE;kpts=15x15x15;smearing=methfessel-paxton:0.2:1;conv_energy_eV=1e-6"
A0 = 4.04151733404665  # paths_k15.json's own PBE a0 (Birch-Murnaghan over its fcc scan)
RESULTS = "/tmp/h7_regen/results"
JOBS = {
    # subsets of the hand-run grids (0.6 ... 1.1 and 0.2 ... 1.1 by 0.05) to stay in a 30 min budget
    "bain": ("al-bain-path", {"start": 0.6, "stop": 1.1, "step": 0.1}),
    "trigonal": ("al-trigonal-path", {"start": 0.25, "stop": 1.0, "step": 0.25}),
}


def main() -> None:
    for name in sys.argv[1:]:
        task, params = JOBS[name]
        start = time.time()
        with make_executor("process", 1) as executor:
            result = make_reference(
                task, SPEC, results_dir=RESULTS, out_path=f"reference_data/curves/gpaw/regenerated/al_{name}_k15.yaml",
                key=f"al/{name}/dft-pbe-gpaw-k15-regenerated",
                parameters=params | {"lattice_constant_A": A0, "reference_curve": None},
                executor=executor, overwrite=True, progress=True,
            )
        print(name, "wall_s", round(time.time() - start, 1), "calculator_s", round(result.record.timings.calculator_s, 1))
        for x, y in zip(result.curves[0].x, result.curves[0].y):
            print(name, x, y)


if __name__ == "__main__":
    main()
