"""``mlip-bench reference``: the argparse wiring of :func:`mlip_bench.engine.reference.make_reference`
(curves: a .yaml ``--out``) and :func:`mlip_bench.engine.reference_dataset.make_reference_dataset`
(a labelled dataset: an .extxyz[.gz], .xyz[.gz] or .parquet ``--out``). The CLI calls
:func:`add_reference_command` with its subparsers and its common options."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from mlip_bench.data.yaml_text import load_yaml


def _override(text: str) -> tuple[str, Any]:
    """NAME=VALUE of ``--set`` (VALUE read as YAML: numbers, null, lists)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--set {text!r}: expected NAME=VALUE")
    try:
        return name.strip(), load_yaml(value)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"--set {text!r}: value is not valid YAML: {exc}") from exc


def add_reference_command(sub: Any, *, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``mlip-bench reference --calculator SPEC (--task TASK | --structures FILE) --out FILE`` to
    the CLI's subparsers (`parents`: the CLI's common and work options: --results, --data-root,
    --executor, --force ...)."""
    p = sub.add_parser(
        "reference", parents=parents, help="a calculator as the reference: write a task's curves or a labelled dataset"
    )
    p.add_argument("--calculator", required=True, help="potential spec, e.g. 'gpaw:kpts=15x15x15', emt, eam:FILE")
    p.add_argument("--task", help="task id or task YAML file (for a dataset --out: a dataset task, e.g. rmse-*)")
    p.add_argument("--structures", help="label the structures of this file (any ASE-readable format; dataset --out)")
    p.add_argument(
        "--out",
        required=True,
        help="curve file (YAML; reference_data/curves/*.yaml is read by tasks) or dataset to write "
        "(.extxyz[.gz], .xyz[.gz], .parquet; provenance in <out>.provenance.yaml)",
    )
    p.add_argument("--key", help="curve key (default <task id>/<calculator family>; several curves get /item/name)")
    p.add_argument("--set", dest="overrides", action="append", type=_override, default=[], metavar="NAME=VALUE",
                   help="override a task parameter (VALUE as YAML; null removes it); repeatable")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--allow-partial", action="store_true", help="write the curve (dataset) even if some points (structures) failed"
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(func=cmd_reference)
    return p


def cmd_reference(args: argparse.Namespace) -> int:
    """The ``reference`` subcommand: prints what was written and where; 0 on success. Raises
    TaskSpecError for flags that do not fit the kind of ``--out``."""
    # imported here: building the CLI's parser stays light (no engine, no kinds)
    from mlip_bench.engine.executors import make_executor
    from mlip_bench.engine.reference import is_dataset_path
    from mlip_bench.engine.runner import RunOptions

    dataset = is_dataset_path(args.out)
    _check_flags(args, dataset)
    options = RunOptions(chunk_structures=args.chunk_structures, timeout_s=args.timeout)
    with make_executor(args.executor, args.workers, scheduler=args.scheduler) as executor:
        return _dataset(args, executor, options) if dataset else _curves(args, executor, options)


def _check_flags(args: argparse.Namespace, dataset: bool) -> None:
    from mlip_bench.errors import TaskSpecError

    if not dataset:
        if args.structures is not None:
            raise TaskSpecError(
                f"--structures labels a dataset: --out must end in .extxyz[.gz], .xyz[.gz] or .parquet, not {args.out}"
            )
        if args.task is None:
            raise TaskSpecError("--task TASK is required for curves (a .yaml --out)")
        return
    for flag, given in (("--key", args.key is not None), ("--set", bool(args.overrides))):
        if given:
            raise TaskSpecError(f"{flag} applies to curves (a .yaml --out), not to the dataset {args.out}")


def _curves(args: argparse.Namespace, executor: Any, options: Any) -> int:
    from mlip_bench.engine.reference import make_reference

    result = make_reference(
        args.task, args.calculator, results_dir=args.results, out_path=args.out, key=args.key,
        parameters=dict(args.overrides), executor=executor, options=options, data_root=args.data_root,
        force=args.force, overwrite=args.overwrite, allow_partial=args.allow_partial, progress=not args.no_progress,
    )  # fmt: skip
    for curve in result.curves:
        print(f"{curve.key}: {len(curve.x)} points, x {curve.x[0]:g} .. {curve.x[-1]:g}")
    print(f"wrote {result.out_path} ({result.record.timings.calculator_s:.1f} s in the calculator)")
    return 0


def _dataset(args: argparse.Namespace, executor: Any, options: Any) -> int:
    from mlip_bench.engine.reference_dataset import make_reference_dataset

    result = make_reference_dataset(
        args.calculator, out_path=args.out, results_dir=args.results, task=args.task, structures=args.structures,
        executor=executor, options=options, data_root=args.data_root, force=args.force, overwrite=args.overwrite,
        allow_partial=args.allow_partial, progress=not args.no_progress,
    )  # fmt: skip
    for structure_id, reason in result.failed:
        print(f"not labelled: {structure_id}: {reason}")
    labels = result.provenance["labels"]
    print(
        f"wrote {result.out_path}: {len(result.frames)} structures labelled ({', '.join(labels['properties'])}), "
        f"{len(result.failed)} left out; {result.computed} computed, {result.reused} reused; "
        f"provenance in {result.provenance_path}"
    )
    return 0
