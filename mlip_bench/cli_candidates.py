"""``mlip-bench candidate add|list``: the argparse wiring of :mod:`mlip_bench.engine.candidates` (the CLI
calls :func:`add_candidate_command` with its subparsers and its common options)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlip_bench.engine.candidates import Candidate, load_candidates, write_candidate


def add_candidate_command(sub: Any, *, parents: list[argparse.ArgumentParser]) -> None:
    """``mlip-bench candidate add|list``: register a potential fitted elsewhere (or by hand) for
    leaderboards, as ``mlip-bench train`` does for its own, or list what a store holds."""
    cand = sub.add_parser("candidate", help="trained candidates scored on leaderboards")
    verbs = cand.add_subparsers(dest="candidate_command", required=True)
    p = verbs.add_parser("add", parents=parents, help="register a potential for leaderboards (in --results)")
    p.add_argument("--id", required=True, help="candidate id (a plain name; names its file)")
    p.add_argument("--spec", required=True, help="potential spec, e.g. 'mtp:FILE.mtp;species=Li,Al'")
    p.add_argument("--label", required=True, help="its rows' label (must differ from the leaderboard's)")
    p.add_argument("--leaderboard", action="append", required=True, help="leaderboard id; repeatable")
    p.add_argument("--model-card", default="", help="its model card (YAML), shown with the candidate")
    p.set_defaults(func=_cmd_add)
    p = verbs.add_parser("list", parents=parents, help="the candidates registered in --results")
    p.set_defaults(func=_cmd_list)


def _cmd_add(args: argparse.Namespace) -> int:
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.reports.leaderboard import load_leaderboard

    load_potential(args.spec)  # a bad spec or a missing file fails here, not in the leaderboard
    boards = [load_leaderboard(name).id for name in args.leaderboard]
    path = write_candidate(
        args.results, Candidate(args.id, args.spec, args.label, tuple(boards), model_card=args.model_card)
    )
    print(f"registered {args.id} for {', '.join(boards)}: {path}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    found, problems = load_candidates(args.results)
    for c in found:
        print(f"{c.id}: {c.spec} ({c.label}) -> {', '.join(c.leaderboards) or 'no leaderboard'}")
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    return 0
