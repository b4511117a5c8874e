"""MD engines (``nox -s bench``): NVT steps per second of LAMMPS's own integrators against ASE's
Langevin loop over the same LAMMPS calculator (Mishin EAM, 256 atoms, 300 K), as used by the
elastic_alloy task. Printed, never asserted on time."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from mlip_bench.adapters.lammps import lammps_setup
from mlip_bench.adapters.registry import load_potential
from mlip_bench.properties.lammps_md import LammpsEngine
from mlip_bench.properties.md_elastic import MdSettings, nvt_stress
from mlip_bench.properties.md_engine import AseEngine

pytest.importorskip("lammps")
pytestmark = pytest.mark.benchmark


def test_lammps_vs_ase_md_engine(benchmark, data_root) -> None:
    potential = load_potential(f"eam:{data_root.parent / 'potentials' / 'Al99.eam.alloy'}")
    setup = lammps_setup(potential.adapter, potential.arg)
    assert setup is not None
    atoms = bulk("Al", "fcc", a=4.07, cubic=True).repeat(4)  # 256 atoms
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    steps = 500
    settings = MdSettings(temperature_K=300, nvt_steps=steps, average_steps=250)
    lammps = LammpsEngine(setup)
    result = benchmark.pedantic(nvt_stress, args=(lammps, atoms, settings, 1), rounds=3, warmup_rounds=1)
    assert result.stress_GPa.shape == (6,)
    start = time.perf_counter()
    nvt_stress(lammps, atoms, settings, 1)
    native = time.perf_counter() - start
    start = time.perf_counter()
    nvt_stress(AseEngine(potential.calculator()), atoms, settings, 1)
    ase_loop = time.perf_counter() - start
    print(
        f"\n256-atom EAM NVT, {steps} steps: LAMMPS engine {steps / native:.0f} steps/s, ASE engine "
        f"{steps / ase_loop:.0f} steps/s: {ase_loop / native:.0f}x"
    )
