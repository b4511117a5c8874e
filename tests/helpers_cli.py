"""The ``reference`` subcommand's parser for tests: the real ``add_reference_command`` wiring with the
CLI's common and work options, results under `tmp_path` and the serial executor by default."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlip_bench.engine.reference_cli import add_reference_command


def reference_parser(tmp_path: Path) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    for flag, default in (("--results", str(tmp_path / "results")), ("--data-root", None)):
        common.add_argument(flag, default=default)
    common.add_argument("--no-progress", action="store_true")
    for flag, default in (("--executor", "serial"), ("--scheduler", None), ("--timeout", None)):
        common.add_argument(flag, default=default)
    common.add_argument("--chunk-structures", type=int, default=64)
    common.add_argument("--force", action="store_true")
    parser = argparse.ArgumentParser()
    add_reference_command(parser.add_subparsers(dest="command"), parents=[common])
    return parser
