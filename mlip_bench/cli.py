"""Command line: ``mlip-bench list | run | leaderboard | report | train | data convert``.

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
from typing import Any

from mlip_bench.errors import MlipBenchError
from mlip_bench.reports.text_layout import fit_columns

#: torch and LAMMPS slow down badly when threads oversubscribe small machines
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "potentials":
        _list_potentials()
    elif args.what == "tasks":
        from mlip_bench.engine.spec import all_tasks

        rows = [
            [t.id, t.kind, t.dataset or ", ".join(s.id for s in t.structures), t.title] for t in all_tasks().values()
        ]
        print(fit_columns(["task", "kind", "data", "title"], rows))
    elif args.what == "datasets":
        _list_datasets(args.data_root)
    else:
        from mlip_bench.paths import tasks_dir

        for path in sorted((tasks_dir() / "leaderboards").glob("*.yaml")):
            print(path.stem)
    return 0


def _list_potentials() -> None:
    """Families with an example spec; why a missing one is missing and the command that installs
    it follow the table, one line each, so that the command stays whole."""
    from mlip_bench.adapters.registry import adapters
    from mlip_bench.reports.text_layout import wrap_line

    found = list(adapters().values())
    missing = {a.name: reason for a in found if (reason := a.missing())}
    rows = [
        [a.name, a.example or a.name, "not installed" if a.name in missing else "available", a.summary] for a in found
    ]
    print(fit_columns(["family", "example spec", "status", "what"], rows))
    if missing:
        print("\n" + "\n".join(wrap_line(f"{name}: {reason}", prefix="- ") for name, reason in missing.items()))


def _list_datasets(data_root: str | None) -> None:
    """Registered datasets, each file under the data root (printed first) and whether it is there."""
    from mlip_bench.data.registry import dataset_path, registered_datasets
    from mlip_bench.paths import resolve_data_root

    rows = []
    for entry in registered_datasets().values():
        if entry.members:
            rows.append([entry.id, "= " + " + ".join(entry.members), "", entry.description])
            continue
        try:
            status = "found" if dataset_path(entry, data_root) else "missing"
        except MlipBenchError:
            status = "missing"
        rows.append([entry.id, entry.path, status, entry.description])
    print(f"data root: {resolve_data_root(data_root) or 'none found (--data-root DIR or $MLIP_BENCH_DATA)'}\n")
    print(fit_columns(["dataset", "file (under the data root)", "status", "what"], rows))
    if any(row[2] == "missing" for row in rows):
        print("\nmissing: put the files under the data root (--data-root DIR, $MLIP_BENCH_DATA or ../shared/data)")


def _executor(args: argparse.Namespace) -> Any:
    from mlip_bench.engine.executors import make_executor

    return make_executor(args.executor, args.workers, scheduler=args.scheduler)


def _options(args: argparse.Namespace) -> Any:
    from mlip_bench.engine.runner import RunOptions

    return RunOptions(chunk_structures=args.chunk_structures, timeout_s=args.timeout)


def _cmd_run(args: argparse.Namespace) -> int:
    from mlip_bench.engine.records import to_jsonable
    from mlip_bench.engine.runner import Cell, run_cells
    from mlip_bench.engine.spec import load_task
    from mlip_bench.engine.store import ResultStore
    from mlip_bench.reports.leaderboard import build_tables
    from mlip_bench.reports.publish import render_text

    task = load_task(args.task)
    if args.dataset:
        from mlip_bench.engine.kinds import get_kind
        from mlip_bench.errors import TaskSpecError

        if not get_kind(task.kind).needs_dataset:  # never silently ignored: the user expects it scored
            raise TaskSpecError(
                f"--dataset {args.dataset}: task {task.id} (kind {task.kind}) takes no dataset; "
                "--dataset applies to dataset tasks (mlip-bench list tasks shows each task's dataset)"
            )
        task = task.with_dataset(str(args.dataset))
    cell = Cell(potential=args.potential, task=task, data_root=args.data_root)
    # model packages print banners to stdout: keep stdout for the result alone
    with contextlib.redirect_stdout(sys.stderr), _executor(args) as executor:
        [record] = run_cells(
            [cell],
            store=ResultStore(args.results),
            executor=executor,
            force=args.force,
            progress=not args.no_progress,
            options=_options(args),
        )
    if args.json:
        import json

        print(json.dumps(to_jsonable(record), indent=1))
    else:
        print(render_text(build_tables([record])))
        if record.message:
            print(record.message, file=sys.stderr)
    return 0 if record.status in ("ok", "not_applicable") else 1


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from mlip_bench.engine.runner import Cell, run_cells
    from mlip_bench.engine.spec import load_task
    from mlip_bench.engine.store import ResultStore
    from mlip_bench.reports.leaderboard import load_leaderboard
    from mlip_bench.reports.leaderboard_spec import select_potentials

    spec = _with_candidates(load_leaderboard(args.name), args.results)
    if args.potentials:
        spec = select_potentials(spec, args.potentials)
    tasks = [load_task(t) for t in spec.tasks]
    cells = [Cell(p.spec, t, args.data_root) for t in tasks for p in spec.potentials]
    with contextlib.redirect_stdout(sys.stderr), _executor(args) as executor:
        records = run_cells(
            cells,
            store=ResultStore(args.results),
            executor=executor,
            force=args.force,
            progress=not args.no_progress,
            options=_options(args),
        )
    out = Path(args.out or Path("reports") / spec.id)
    _publish(records, out, spec, args)
    print(f"report: {out / 'index.html'} (also leaderboard.md, leaderboard.json)", file=sys.stderr)
    return 0


def _with_candidates(spec: Any, results: str) -> Any:
    """`spec` with the candidates that ``mlip-bench train`` registered in `results` for it; a candidate
    file that cannot be used is reported on stderr and left out (the leaderboard goes on)."""
    from mlip_bench.engine.candidates import candidates_for
    from mlip_bench.reports.leaderboard_spec import with_candidates

    found, problems = candidates_for(results, spec.id, spec.source)
    spec, skipped = with_candidates(spec, found)
    for line in (*problems, *skipped):
        print(f"mlip-bench: warning: {line}", file=sys.stderr)
    return spec


def _publish(records: Sequence[Any], out: Path, spec: Any, args: argparse.Namespace) -> None:
    """Write the report folder and print its tables, with the command that computes missing cells."""
    from mlip_bench.reports.publish import publish, render_text, rerun_command

    tables = publish(records, out, spec, results=args.results, data_root=args.data_root)
    print(render_text(tables, rerun=rerun_command(tables, spec, results=args.results, data_root=args.data_root)))


def _cmd_report(args: argparse.Namespace) -> int:
    from mlip_bench.engine.store import ResultStore
    from mlip_bench.reports.leaderboard import load_leaderboard

    spec = _with_candidates(load_leaderboard(args.leaderboard), args.results) if args.leaderboard else None
    records = ResultStore(args.results).records()
    if not records:
        hint = f" (compute them: mlip-bench leaderboard {spec.id} --results {args.results})" if spec else ""
        print(f"no results in {args.results}{hint}", file=sys.stderr)
        return 1
    out = Path(args.out or Path("reports") / (spec.id if spec else "results"))
    _publish(records, out, spec, args)
    print(f"report: {out / 'index.html'}", file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from mlip_bench.reports.leaderboard import load_leaderboard
    from mlip_bench.training.config import load_config
    from mlip_bench.training.pipeline import train

    boards = [] if args.no_leaderboards else list(load_config(args.config).leaderboards)
    for name in boards:  # a misspelt leaderboard fails now, not after hours of training
        load_leaderboard(name)
    # model packages and motep print to stdout: keep stdout for the candidate's spec alone
    with contextlib.redirect_stdout(sys.stderr):
        with _executor(args) as executor:  # the oracle's calls: worker processes by default (a crash costs one)
            result = train(args.config, results=args.results, data_root=args.data_root, executor=executor)
        for name in boards:  # the candidate, registered by train(), is scored like any listed potential
            _cmd_leaderboard(argparse.Namespace(**{**vars(args), "name": name, "out": None, "potentials": None}))
    print(result.spec)
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
    work = argparse.ArgumentParser(add_help=False)
    work.add_argument(
        "--executor",
        default="process",
        choices=["process", "serial", "dask"],
        help="process: supervised worker processes, a crash or hang costs only its items (default); "
        "serial: in this process, no isolation (debugging); dask: a dask.distributed cluster",
    )
    work.add_argument("--scheduler", help="dask scheduler address (default: a local cluster of --workers)")
    work.add_argument("--timeout", type=float, help="seconds per work item (default: the task's, else the kind's)")
    work.add_argument("--chunk-structures", type=int, default=64, help="dataset structures per work item (default 64)")
    work.add_argument("--force", action="store_true", help="recompute stored results and work items")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common], help="available potentials, tasks, datasets, leaderboards")
    p.add_argument("what", choices=["potentials", "tasks", "datasets", "leaderboards"])
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", parents=[common, work], help="score one potential on one task")
    p.add_argument("--potential", required=True, help="spec, e.g. emt, eam:Al_mm.eam.fs, python:module:factory")
    p.add_argument("--task", required=True, help="task id (mlip-bench list tasks) or a task YAML file")
    p.add_argument("--dataset", help="score on this extxyz/parquet file instead of the task's dataset")
    p.add_argument("--json", action="store_true", help="print the result record as JSON on stdout")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("leaderboard", parents=[common, work], help="run a leaderboard and publish its report")
    p.add_argument("name", nargs="?", default="default", help="leaderboard name or YAML file (default: default)")
    p.add_argument("--out", help="report folder (default reports/<name>)")
    p.add_argument(
        "--potentials",
        action="append",
        metavar="SPEC_OR_LABEL,...",
        help="run and report only these of the leaderboard's potentials (specs or labels, comma-separated)",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("report", parents=[common], help="rebuild reports from stored results")
    p.add_argument("--leaderboard", help="restrict to and order by this leaderboard")
    p.add_argument("--out", help="report folder (default reports/<leaderboard or results>)")
    p.set_defaults(func=_cmd_report)

    from mlip_bench.engine.reference_cli import add_reference_command

    add_reference_command(sub, parents=[common, work])

    from mlip_bench.cli_candidates import add_candidate_command

    add_candidate_command(sub, parents=[common])

    p = sub.add_parser(
        "train", parents=[common, work], help="fit an MTP by active learning against an oracle (resumable)"
    )
    p.add_argument("config", help="training config YAML (tasks/training/*.yaml)")
    p.add_argument(
        "--no-leaderboards", action="store_true", help="register the candidate but do not run the config's leaderboards"
    )
    p.add_argument(
        "--workers", type=int, default=2, help="worker processes for oracle calls and leaderboards (default 2)"
    )
    p.set_defaults(func=_cmd_train)

    data = sub.add_parser("data", help="dataset utilities").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("convert", parents=[common], help="convert between extxyz and parquet / datasets folders")
    p.add_argument("source", help="registered dataset name, extxyz, parquet or datasets folder")
    p.add_argument("target", help="*.extxyz[.gz] / *.xyz, *.parquet, or a folder for save_to_disk")
    p.set_defaults(func=_cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from mlip_bench.paths import using_data_root

    try:
        # data-relative files (potentials, datasets) resolve under --data-root here; work items carry it
        # to worker processes explicitly
        with using_data_root(getattr(args, "data_root", None)):
            return int(args.func(args))
    except MlipBenchError as exc:
        print(f"mlip-bench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """The reader of stdout went away (``mlip-bench run --json | head -1``): end quietly, as a
    shell tool killed by SIGPIPE does (status 141), without a traceback at interpreter exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's final flush of stdout would raise again
    return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
