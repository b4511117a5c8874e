"""ANI-Al's liquid density and g(r) on a GPU: the ``al-liquid`` task (paper 003 Fig. 4) at the
temperatures given, run in this process with ``ani:MODEL;device=cuda`` (a device check, not a test:
a CPU core needs hours for it). Prints the cell's metrics and timings; writes the record as JSON.

    python tests/benchmarks/ani_liquid_gpu.py --model DIR --temperatures 1183 --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.engine.records import to_jsonable
from mlip_bench.engine.runner import Cell, run_cell
from mlip_bench.engine.spec import load_task, parse_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="ANI-Al NeuroChem folder")
    parser.add_argument("--potential", default="", help="another spec instead (smoke run: eam:Al_mm.eam.fs)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1183.0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--steps-divisor", type=int, default=1, help="divide every step count (smoke runs)")
    args = parser.parse_args()
    task_file = Path(load_task("al-liquid").source)
    raw = load_yaml(task_file.read_text())
    raw["parameters"]["temperatures_K"] = args.temperatures
    for name, value in raw["parameters"].items():
        if name.endswith("_steps") and name != "segment_steps":
            raw["parameters"][name] = max(value // args.steps_divisor, 500)
    kept = {f"{t:g}K" for t in args.temperatures}
    raw["metrics"] = [m for m in raw["metrics"] if "." not in m["name"] or m["name"].split(".")[0] in kept]
    task = parse_task(raw, source=f"{task_file} (temperatures {args.temperatures})")
    start = time.perf_counter()
    record = run_cell(Cell(args.potential or f"ani:{args.model};device={args.device}", task))
    report(record, time.perf_counter() - start, args.json)


def report(record: Any, wall_s: float, json_path: Path | None, item_line: Callable[[Any], str] | None = None) -> None:
    """Print a device run's record (status, metrics, one line per item when `item_line` is given,
    notes, timings) and write it as JSON to `json_path`."""
    print(f"status {record.status} {record.message}")
    for metric in record.metrics:
        print(f"  {metric.name:32s} {metric.value:12.5g} {metric.unit}")
    for item in record.items if item_line else ():
        print(f"  {item_line(item)}")
    for note in record.notes:
        print(f"  note: {note}")
    timings = record.timings
    print(f"wall {wall_s:.1f} s, calculator {timings.calculator_s:.1f} s, calls {timings.potential_calls}")
    if json_path:
        json_path.write_text(json.dumps(to_jsonable(record), indent=1))


if __name__ == "__main__":
    main()
