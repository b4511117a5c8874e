"""ANI-Al speed on one device, a script (not collected by pytest): ``python tests/benchmarks/ani_gpu_bench.py
--device cuda --model DIR``.

For fcc Al supercells of N = 4 n^3 = 108, 500, 1372, 4000, 8788 atoms (up to ``--max-atoms``): the time
of one energy + forces + stress call of ``ani:DIR;device=...`` (median of 5 after 2 warm-ups), in
µs/atom/call, and the peak GPU memory of that size (torch's allocator; on CPU the process's peak RSS
so far). A size whose 7 calls would take more than ``--size-budget-s`` (60 s), projected from the
size before as at least linear in N, or shown by its first call, is skipped, and so is every larger
one; so are the sizes after one that ran out of GPU memory. On CUDA it first checks that the GPU gives
the CPU's numbers (108 atoms, rattled and strained). Then ``--md-steps`` (200) steps of ASE Langevin
NVT at 933 K (1 fs, friction 0.01/fs) on the ``--md-atoms`` (4000) cell, in µs/atom/step, skipped
when that cell is larger than ``--max-atoms``. ``--json PATH`` also writes every number.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from mlip_bench.adapters.registry import load_potential

REPEATS = (3, 5, 7, 10, 13)  # n of the n x n x n conventional cells: N = 4 n^3
PROPERTIES = ["energy", "forces", "stress"]
WARMUPS, TIMED = 2, 5


def fcc_al(n: int) -> Atoms:
    """fcc Al, a = 4.05 Å, n x n x n conventional cells (4 n^3 atoms), rattled by 0.02 Å."""
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(n)
    atoms.rattle(0.02, seed=n)
    return atoms


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_MiB(device: str) -> float:
    """torch's peak GPU allocation since the last reset, or on CPU this process's peak RSS so far."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def time_calls(calc: Any, atoms: Atoms, device: str, budget_s: float) -> list[float]:
    """Wall seconds of each of WARMUPS + TIMED full calls (energy, forces, stress); only the first
    when it shows that all of them would take more than `budget_s`."""
    seconds: list[float] = []
    for _ in range(WARMUPS + TIMED):
        sync(device)
        start = time.perf_counter()
        calc.calculate(atoms, PROPERTIES, all_changes)  # calculate() never reuses a cached result
        sync(device)
        seconds.append(time.perf_counter() - start)
        if seconds[0] * (WARMUPS + TIMED) > budget_s:
            break
    return seconds


def check_against_cpu(spec: str, device: str) -> dict[str, float]:
    """Largest |device - cpu| of energy (eV), forces (eV/Å) and stress (eV/Å³) on 108 strained atoms."""
    atoms = fcc_al(3)
    atoms.set_cell(atoms.cell[:] @ np.diag([1.004, 0.998, 1.001]), scale_atoms=True)
    results = []
    for d in ("cpu", device):
        calc = load_potential(f"{spec};device={d}").calculator()
        calc.calculate(atoms, PROPERTIES, all_changes)
        results.append(calc.results)
    return {k: float(np.abs(np.asarray(results[1][k]) - np.asarray(results[0][k])).max()) for k in PROPERTIES}


def bench_sizes(calc: Any, device: str, max_atoms: int, budget_s: float) -> list[dict[str, Any]]:
    import torch

    rows: list[dict[str, Any]] = []
    last: tuple[int, float] | None = None  # (atoms, median seconds per call) of the size before
    for n in REPEATS:
        n_atoms = 4 * n**3
        if n_atoms > max_atoms:
            break
        # at least linear in N (AEVs); all-pairs neighbour list N^2 on top, which dominates only when large
        projected = None if last is None else last[1] * n_atoms / last[0] * (WARMUPS + TIMED)
        if projected is not None and projected > budget_s:
            print(f"{n_atoms:6d} atoms: skipped (7 calls projected at {projected:.0f} s > {budget_s:.0f} s)")
            break
        reset_peak(device)
        try:
            seconds = time_calls(calc, fcc_al(n), device, budget_s)
        except torch.cuda.OutOfMemoryError as exc:
            print(f"{n_atoms:6d} atoms: out of GPU memory ({str(exc).splitlines()[0]})")
            rows.append({"atoms": n_atoms, "error": "out of memory"})
            break
        if len(seconds) == 1:
            print(f"{n_atoms:6d} atoms: skipped (first call {seconds[0]:.1f} s: 7 calls > {budget_s:.0f} s)")
            rows.append({"atoms": n_atoms, "first_call_s": seconds[0], "error": "over budget"})
            break
        median = statistics.median(seconds[WARMUPS:])
        row = {
            "atoms": n_atoms,
            "median_s_per_call": median,
            "us_per_atom_per_call": median / n_atoms * 1e6,
            "first_call_s": seconds[0],
            "timed_s": seconds[WARMUPS:],
            "peak_memory_MiB": peak_memory_MiB(device),
        }
        rows.append(row)
        print(
            f"{n_atoms:6d} atoms: {row['us_per_atom_per_call']:9.1f} µs/atom/call  ({median:.4f} s/call, "
            f"first {seconds[0]:.3f} s, spread {min(seconds[WARMUPS:]):.4f}-{max(seconds[WARMUPS:]):.4f} s)  "
            f"peak {'GPU' if device == 'cuda' else 'RSS'} {row['peak_memory_MiB']:.0f} MiB",
            flush=True,
        )
        last = (n_atoms, median)
        if sum(seconds) > budget_s:
            print(f"stopping: this size took {sum(seconds):.0f} s > {budget_s:.0f} s")
            break
    return rows


def run_md(calc: Any, device: str, n_atoms: int, steps: int) -> dict[str, Any]:
    """Langevin NVT at 933 K on the n_atoms cell; the time of `steps` steps after one warm-up step."""
    n = round((n_atoms / 4) ** (1 / 3))
    atoms = fcc_al(n)
    atoms.calc = calc
    thermalize_momenta(atoms, 933, rng=np.random.default_rng(0))
    friction = 0.01 / units.fs
    dyn = Langevin(
        atoms, 1.0 * units.fs, temperature_K=933, friction=friction, fixcm=False, rng=np.random.default_rng(1)
    )
    reset_peak(device)
    dyn.run(1)  # first forces and CUDA start-up out of the timing
    sync(device)
    start = time.perf_counter()
    dyn.run(steps)
    sync(device)
    seconds = time.perf_counter() - start
    result = {
        "atoms": len(atoms),
        "steps": steps,
        "seconds": seconds,
        "us_per_atom_per_step": seconds / steps / len(atoms) * 1e6,
        "final_temperature_K": float(atoms.get_temperature()),
        "peak_memory_MiB": peak_memory_MiB(device),
    }
    print(
        f"MD {len(atoms)} atoms, {steps} Langevin steps at 933 K: {result['us_per_atom_per_step']:.1f} µs/atom/step "
        f"({seconds / steps:.4f} s/step; final T {result['final_temperature_K']:.0f} K; "
        f"peak {result['peak_memory_MiB']:.0f} MiB)",
        flush=True,
    )
    return result


def header(device: str, spec: str) -> dict[str, Any]:
    import torch
    import torchani

    info: dict[str, Any] = {
        "spec": spec,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchani": torchani.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    print("; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--model", type=Path, default=None, help="ANI-Al model folder (default: ../shared/models)")
    parser.add_argument("--max-atoms", type=int, default=8788)
    parser.add_argument("--size-budget-s", type=float, default=60.0)
    parser.add_argument("--md-atoms", type=int, default=4000, choices=[4 * n**3 for n in REPEATS])
    parser.add_argument("--md-steps", type=int, default=200)
    parser.add_argument("--member-forces", action="store_true", help="time ;member_forces=yes (8 backward passes)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    spec = f"ani:{args.model.resolve() if args.model else ''}"
    spec += ";member_forces=yes" if args.member_forces else ""
    calc = load_potential(f"{spec};device={args.device}").calculator()  # PotentialError: no such device
    report: dict[str, Any] = {"device": args.device, **header(args.device, spec)}
    if args.device != "cpu":
        report["max_abs_diff_vs_cpu"] = check_against_cpu(spec, args.device)
        print("max |device - cpu| on 108 atoms:", report["max_abs_diff_vs_cpu"], flush=True)
    report["sizes"] = bench_sizes(calc, args.device, args.max_atoms, args.size_budget_s)
    if args.md_atoms <= args.max_atoms and args.md_steps > 0:
        try:
            report["md"] = run_md(calc, args.device, args.md_atoms, args.md_steps)
        except torch.cuda.OutOfMemoryError as exc:
            print(f"MD {args.md_atoms} atoms: out of GPU memory ({str(exc).splitlines()[0]})")
            report["md"] = {"atoms": args.md_atoms, "error": "out of memory"}
    else:
        print(f"MD skipped (--md-atoms {args.md_atoms}, --max-atoms {args.max_atoms}, --md-steps {args.md_steps})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
