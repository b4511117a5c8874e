"""Summarise the melt trials stored in a result store (finished work items, also of a run still going):
each trial's verdict, and Tm per seed and over all seeds by the kind's own reduction. A measurement
helper, not a test.

    python tests/benchmarks/melt_trials_summary.py RESULTS_DIR --pressure 0 --json OUT.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from mlip_bench.engine.kinds.melt import _verdict
from mlip_bench.engine.records import to_jsonable
from mlip_bench.properties.melt_point import Trial, melting_point


def stored_trials(results: Path, pressure_GPa: float) -> list[dict]:
    """Records of the finished melt trials at `pressure_GPa` in the store's item artifacts."""
    tag = f"P{pressure_GPa:g}GPa_".replace(".", "p")
    found = []
    for path in sorted((results / "artifacts" / "items").glob("*/*.json")):
        payload = json.loads(json.loads(path.read_text())["payload"])
        record = payload.get("record") if isinstance(payload, dict) else None
        if record and str(record.get("id", "")).startswith(tag) and record.get("status") == "ok":
            found.append(record)
    return sorted(found, key=lambda r: (r["values"]["seed"], r["values"]["temperature_K"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--pressure", type=float, default=0.0)
    parser.add_argument("--parent", default="fcc")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    records = stored_trials(args.results, args.pressure)
    trials = [Trial(r["values"]["temperature_K"], int(r["values"]["seed"]), _verdict(r["values"], args.parent))
              for r in records]  # fmt: skip
    seeds = sorted({t.seed for t in trials})
    points = {str(s): melting_point([t for t in trials if t.seed == s], parent=args.parent) for s in seeds}
    points["all"] = melting_point(trials, parent=args.parent)
    for r in records:
        v = r["values"]
        print(f"{r['id']:22s} {v['outcome']:.0f} rate {v['rate_per_ps']:+.4f} ± {v['rate_sem_per_ps']:.4f} /ps "
              f"change {v['change']:+.3f} steps {v['md_steps']:.0f} ({v['md_seconds']:.0f} s)")  # fmt: skip
    for name, point in points.items():
        print(f"seeds {name}: Tm {point.tm_K:.1f} K, bracket {point.low_K:g}-{point.high_K:g} K {point.note}")
    if args.json:
        document = {"trials": [{"id": r["id"], "n_atoms": r["n_atoms"], "values": r["values"]} for r in records],
                    "melting_point": {k: asdict(p) for k, p in points.items()}}  # fmt: skip
        args.json.write_text(json.dumps(to_jsonable(document), indent=1))


if __name__ == "__main__":
    main()
