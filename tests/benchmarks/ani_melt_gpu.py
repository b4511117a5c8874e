"""ANI-Al's melting point at 1 bar on one GPU: the ``melt`` kind (interface method, paper 003 Sec.
III.H) with ``ani:MODEL;device=cuda``, its trials run at once as supervised worker processes that
share the GPU (a device check, not a test: one trial needs hours on a CPU core).

The protocol is al-melt-quick's with the cell and run lengths given here (an ML potential on one GPU
affords about a tenth of an EAM's atom-steps); run the same command with ``--potential
eam:Al_mm.eam.fs`` on a CPU for the same-protocol control that puts the small cell's bias next to
ANI-Al's number. First times one energy + forces + stress call per cell size (``--probe``), then
runs the task into the result store ``--results`` and prints every trial's verdict.

    python tests/benchmarks/ani_melt_gpu.py --model DIR --workers 8 --results DIR --json OUT.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
from ani_liquid_gpu import report  # the same record printout as the liquid device check (same folder)

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.engine.executors import make_executor
from mlip_bench.engine.runner import Cell, RunOptions, run_cells
from mlip_bench.engine.spec import load_task, parse_task
from mlip_bench.engine.store import ResultStore


def _probe(spec: str, cells: list[tuple[int, int, int]], calls: int = 10) -> None:
    """Seconds per energy + forces + stress call of the fcc crystal repeated by each of `cells`."""
    from ase.build import bulk

    from mlip_bench.adapters.registry import load_potential

    calc = load_potential(spec).calculator()
    for reps in cells:
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(reps)
        atoms.rattle(0.05, seed=1)
        atoms.calc = calc
        times = []
        for i in range(calls + 3):
            atoms.positions[0, 0] += 1e-4 * (i + 1)  # a new geometry each call: nothing cached
            start = time.perf_counter()
            atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times[3:]))
        per_atom = 1e6 * seconds / len(atoms)
        print(f"probe {reps}: {len(atoms)} atoms, {seconds * 1e3:.1f} ms/call, {per_atom:.1f} µs/atom/call")


def _timed_calls(spec: str, reps: tuple[int, int, int], calls: int, barrier: object, queue: object) -> None:
    """One worker of :func:`_concurrent_probe`: median seconds per call once every worker is ready."""
    from ase.build import bulk

    from mlip_bench.adapters.registry import load_potential

    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=1)
    atoms.calc = load_potential(spec).calculator()
    atoms.get_forces(), atoms.get_stress()
    barrier.wait()  # type: ignore[attr-defined]
    times = []
    for i in range(calls):
        atoms.positions[0, 0] += 1e-4 * (i + 1)
        start = time.perf_counter()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        times.append(time.perf_counter() - start)
    queue.put(float(np.median(times)))  # type: ignore[attr-defined]


def _concurrent_probe(spec: str, reps: tuple[int, int, int], workers: int, calls: int = 10) -> float:
    """Seconds per call when `workers` processes call at once (the GPU shared as the trials share it)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_timed_calls, args=(spec, reps, calls, barrier, queue)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    medians = [queue.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    return float(max(medians))


SMALLER_CELLS = ((5, 5, 10), (4, 4, 10))


def _steps_for(budget_s: float, seconds_per_call: float) -> list[int]:
    """Solid, melt, cool and coexistence steps that fit `budget_s` at `seconds_per_call` (the
    longest trial runs every step; 15 % kept for sampling and start-up)."""
    total = int(0.85 * budget_s / seconds_per_call)
    if total >= 5000:
        return [500, 1000, 500, min(8000, (total - 2000) // 500 * 500)]
    return [250, 500, 250, max(2000, (total - 1000) // 500 * 500)]


def _task(args: argparse.Namespace) -> object:
    source = Path(load_task("al-melt-quick").source)
    raw = load_yaml(source.read_text())
    steps = dict(zip(("solid_steps", "melt_steps", "cool_steps", "coexist_steps"), args.steps, strict=True))
    raw["parameters"] |= {"cells": list(args.cells), **steps, "settle_steps": args.steps[3] // 8,
                          "trial_offsets": list(args.offsets), "seeds": [0]}  # fmt: skip
    where = f"{source} (cells {args.cells}, steps {args.steps}, offsets {args.offsets})"
    return parse_task(raw, source=where)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="ANI-Al NeuroChem folder")
    parser.add_argument("--potential", default="", help="another spec instead (control: eam:Al_mm.eam.fs)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cells", type=int, nargs=3, default=[6, 6, 12])
    parser.add_argument("--steps", type=int, nargs=4, default=[500, 1000, 500, 5000],
                        help="solid, melt, cool and coexistence steps (2 fs)")  # fmt: skip
    parser.add_argument("--offsets", type=float, nargs="+", default=[-0.1, -0.06, -0.03, -0.01, 0.01, 0.03, 0.06, 0.1])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--item-timeout", type=float, default=3600.0, help="seconds per trial")
    parser.add_argument("--probe", action="store_true", help="time single calls first")
    parser.add_argument("--budget-s", type=float, help="pick --steps so that the longest trial fits this many seconds")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = args.potential or f"ani:{args.model};device={args.device}"
    if args.probe:
        _probe(spec, [(4, 4, 10), (5, 5, 10), (6, 6, 12)])
    if args.budget_s:  # the largest cell (from --cells down) whose trials fit with >= 4000 coexistence steps
        workers = min(args.workers, len(args.offsets))
        for reps in [tuple(args.cells), *[c for c in SMALLER_CELLS if c[0] < args.cells[0]]]:
            seconds = _concurrent_probe(spec, reps, workers)
            args.cells, args.steps = list(reps), _steps_for(args.budget_s, seconds)
            print(f"{reps}: {workers} processes at once, {seconds * 1e3:.1f} ms/call each; steps {args.steps}")
            if args.steps[3] >= 4000:
                break
    task = _task(args)
    start = time.perf_counter()
    with make_executor("process", args.workers) as executor:
        [record] = run_cells(
            [Cell(spec, task)], store=ResultStore(args.results), executor=executor,
            options=RunOptions(timeout_s=args.item_timeout),
        )  # fmt: skip
    report(record, time.perf_counter() - start, args.json, item_line=_trial_line)


def _trial_line(item: Any) -> str:
    v, nan = item.values, float("nan")
    return (
        f"{item.id:28s} {item.status:8s} T={v.get('temperature_K', nan):7.1f} outcome={v.get('outcome', nan):.0f} "
        f"rate={v.get('rate_per_ps', nan):+.4f}/ps steps={v.get('md_steps', nan):.0f} {item.reason}"
    )


if __name__ == "__main__":
    main()
