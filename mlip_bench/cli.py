"""Command line: ``mlip-bench list | run | leaderboard | report | data convert``.

Progress bars and messages go to stderr; ``run --json`` prints the result record (the stable,
documented interface for scripts) alone on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from mlip_bench.errors import MlipBenchError

#: torch and LAMMPS slow down badly when threads oversubscribe small machines
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "potentials":
        from mlip_bench.adapters.registry import adapters

        rows = [[a.name, a.example or a.name, a.missing() or "available", a.summary] for a in adapters().values()]
        print(tabulate(rows, headers=["family", "example spec", "status", "what"], tablefmt="simple"))
    elif args.what == "tasks":
        from mlip_bench.engine.spec import all_tasks

        rows = [
            [t.id, t.kind, t.dataset or ", ".join(s.id for s in t.structures), t.title] for t in all_tasks().values()
        ]
        print(tabulate(rows, headers=["task", "kind", "data", "title"], tablefmt="simple"))
    elif args.what == "datasets":
        from mlip_bench.data.registry import dataset_path, registered_datasets

        rows = []
        for entry in registered_datasets().values():
            if entry.members:
                rows.append([entry.id, "= " + " + ".join(entry.members), entry.description])
                continue
            try:
                status = f"found: {dataset_path(entry, args.data_root)}"
            except MlipBenchError:
                status = f"missing (needs {entry.path} under --data-root)"
            rows.append([entry.id, status, entry.description])
        print(tabulate(rows, headers=["dataset", "status", "what"], tablefmt="simple"))
    else:
        from mlip_bench.paths import tasks_dir

        for path in sorted((tasks_dir() / "leaderboards").glob("*.yaml")):
            print(path.stem)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from mlip_bench.engine.records import to_jsonable
    from mlip_bench.engine.runner import Cell, run_cells
    from mlip_bench.engine.spec import load_task
    from mlip_bench.engine.store import ResultStore
    from mlip_bench.reports.leaderboard import build_tables
    from mlip_bench.reports.publish import render_text

    task = load_task(args.task)
    if args.dataset:
        task = task.with_dataset(str(args.dataset))
    cell = Cell(potential=args.potential, task=task, data_root=args.data_root, progress=not args.no_progress)
    # model packages print banners to stdout: keep stdout for the result alone
    with contextlib.redirect_stdout(sys.stderr):
        [record] = run_cells([cell], store=ResultStore(args.results), force=args.force)
    if args.json:
        import json

        print(json.dumps(to_jsonable(record), indent=1))
    else:
        print(render_text(build_tables([record])))
        if record.message:
            print(record.message, file=sys.stderr)
    return 0 if record.status in ("ok", "not_applicable") else 1


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from mlip_bench.engine.executors import make_executor
    from mlip_bench.engine.runner import Cell, run_cells
    from mlip_bench.engine.spec import load_task
    from mlip_bench.engine.store import ResultStore
    from mlip_bench.reports.leaderboard import load_leaderboard
    from mlip_bench.reports.publish import publish, render_text

    spec = load_leaderboard(args.name)
    tasks = [load_task(t) for t in spec.tasks]
    cells = [
        Cell(p.spec, t, args.data_root, progress=not args.no_progress and args.executor == "serial")
        for t in tasks
        for p in spec.potentials
    ]
    with contextlib.redirect_stdout(sys.stderr):
        records = run_cells(
            cells,
            store=ResultStore(args.results),
            executor=make_executor(args.executor, args.workers),
            force=args.force,
            progress=not args.no_progress,
        )
    out = Path(args.out or Path("reports") / spec.id)
    tables = publish(records, out, spec)
    print(render_text(tables))
    print(f"report: {out / 'index.html'} (also leaderboard.md, leaderboard.json)", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from mlip_bench.engine.store import ResultStore
    from mlip_bench.reports.leaderboard import load_leaderboard
    from mlip_bench.reports.publish import publish, render_text

    spec = load_leaderboard(args.leaderboard) if args.leaderboard else None
    records = ResultStore(args.results).records()
    if not records:
        print(f"no results in {args.results}", file=sys.stderr)
        return 1
    out = Path(args.out or Path("reports") / (spec.id if spec else "results"))
    print(render_text(publish(records, out, spec)))
    print(f"report: {out / 'index.html'}", file=sys.stderr)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from mlip_bench.data.extxyz import write_extxyz
    from mlip_bench.data.hf import write_hf
    from mlip_bench.data.registry import load_dataset

    dataset = load_dataset(args.source, data_root=args.data_root)
    target = str(args.target)
    xyz = target.endswith((".xyz", ".extxyz", ".xyz.gz", ".extxyz.gz"))
    (write_extxyz if xyz else write_hf)(dataset.frames, target)
    print(f"wrote {len(dataset)} structures to {target}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlip-bench", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-root", help="folder holding the registered datasets (default $MLIP_BENCH_DATA or ../shared/data)"
    )
    common.add_argument("--results", default="results", help="result store folder (default ./results)")
    common.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common], help="available potentials, tasks, datasets, leaderboards")
    p.add_argument("what", choices=["potentials", "tasks", "datasets", "leaderboards"])
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", parents=[common], help="score one potential on one task")
    p.add_argument("--potential", required=True, help="spec, e.g. emt, eam:Al_mm.eam.fs, python:module:factory")
    p.add_argument("--task", required=True, help="task id (mlip-bench list tasks) or a task YAML file")
    p.add_argument("--dataset", help="score on this extxyz/parquet file instead of the task's dataset")
    p.add_argument("--json", action="store_true", help="print the result record as JSON on stdout")
    p.add_argument("--force", action="store_true", help="recompute even if the result is stored")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("leaderboard", parents=[common], help="run a leaderboard and publish its report")
    p.add_argument("name", nargs="?", default="default", help="leaderboard name or YAML file (default: default)")
    p.add_argument("--out", help="report folder (default reports/<name>)")
    p.add_argument("--executor", default="serial", choices=["serial", "process"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--force", action="store_true", help="recompute stored results")
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("report", parents=[common], help="rebuild reports from stored results")
    p.add_argument("--leaderboard", help="restrict to and order by this leaderboard")
    p.add_argument("--out", help="report folder (default reports/<leaderboard or results>)")
    p.set_defaults(func=_cmd_report)

    data = sub.add_parser("data", help="dataset utilities").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("convert", parents=[common], help="convert between extxyz and parquet / datasets folders")
    p.add_argument("source", help="registered dataset name, extxyz, parquet or datasets folder")
    p.add_argument("target", help="*.extxyz[.gz] / *.xyz, *.parquet, or a folder for save_to_disk")
    p.set_defaults(func=_cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "data_root", None):
        # adapters resolve data-relative potential files (and workers inherit the environment)
        from mlip_bench.paths import DATA_ENV

        os.environ[DATA_ENV] = str(Path(args.data_root).expanduser().absolute())
    try:
        return int(args.func(args))
    except MlipBenchError as exc:
        print(f"mlip-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
