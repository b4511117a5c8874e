"""Trained candidate potentials registered in a result store, for the leaderboards that should score
them: ``mlip-bench train`` writes one file per config under ``<results>/candidates/<id>.yaml``, and
``mlip-bench leaderboard NAME --results DIR`` adds every candidate that names ``NAME`` to the
potentials it runs and reports, next to the published ones.

A candidate file is data from disk, so it is checked like any input: a file that cannot be read, or
that lacks a field or has one of the wrong type, is skipped with a reason naming the file and the field
(the leaderboard goes on without it), never taken half-read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.engine.integrity import write_atomic
from mlip_bench.errors import TaskSpecError

CANDIDATES_DIR = "candidates"
#: a candidate id names its file: a plain name, never a path
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FIELDS = ("id", "spec", "label", "leaderboards", "model_card", "config")


@dataclass(frozen=True)
class Candidate:
    """A fitted potential waiting to be scored: its spec (``mtp:FILE;species=...``), the label its rows
    carry, the leaderboards (ids) that should score it, its model card and the config that made it."""

    id: str
    spec: str
    label: str
    leaderboards: tuple[str, ...]
    model_card: str = ""
    config: str = ""


def write_candidate(results: str | Path, candidate: Candidate) -> Path:
    """Register `candidate` in the store at `results` (replacing the one of the same id); returns
    the file. Raises TaskSpecError for an id that is not a plain name."""
    if not _ID.match(candidate.id):
        raise TaskSpecError(f"candidate id {candidate.id!r}: expected a plain name (letters, digits, . _ -)")
    path = Path(results) / CANDIDATES_DIR / f"{candidate.id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {name: getattr(candidate, name) for name in _FIELDS}
    document["leaderboards"] = list(candidate.leaderboards)
    write_atomic(path, yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode())
    return path


def load_candidates(results: str | Path) -> tuple[tuple[Candidate, ...], tuple[str, ...]]:
    """Every candidate registered at `results`, in file-name order, and a reason for each file that
    was skipped (naming the file and field). No folder: nothing, no reasons."""
    folder = Path(results) / CANDIDATES_DIR
    if not folder.is_dir():
        return (), ()
    found: list[Candidate] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            found.append(_parse(path))
        except TaskSpecError as exc:
            problems.append(f"{exc} (skipped)")
    return tuple(found), tuple(problems)


def candidates_for(
    results: str | Path, leaderboard_id: str, source: str = ""
) -> tuple[tuple[Candidate, ...], tuple[str, ...]]:
    """The candidates at `results` that name the leaderboard `leaderboard_id` (by its id, or by its
    YAML file `source` as a config may), and the reasons of skipped files."""
    found, problems = load_candidates(results)
    names = {leaderboard_id, *([str(Path(source).resolve())] if source else [])}
    return tuple(c for c in found if names & {_as_name(b) for b in c.leaderboards}), problems


def _as_name(board: str) -> str:
    return str(Path(board).resolve()) if board.endswith((".yaml", ".yml")) else board


def _parse(path: Path) -> Candidate:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"candidate {path}: unreadable: {exc}") from exc
    if not isinstance(raw, dict):
        raise TaskSpecError(f"candidate {path}: expected a mapping of {', '.join(_FIELDS)}")
    text = {}
    for name in ("id", "spec", "label", "model_card", "config"):
        value = raw.get(name, "" if name in ("model_card", "config") else None)
        if not isinstance(value, str) or (name in ("id", "spec", "label") and not value.strip()):
            raise TaskSpecError(f"candidate {path}: field {name}: expected a non-empty string")
        text[name] = value
    if not _ID.match(text["id"]) or path.stem != text["id"]:
        raise TaskSpecError(f"candidate {path}: field id: {text['id']!r} must be a plain name equal to the file's")
    boards = raw.get("leaderboards")
    if not isinstance(boards, list) or not all(isinstance(b, str) and b for b in boards):
        raise TaskSpecError(f"candidate {path}: field leaderboards: expected a list of leaderboard ids")
    return Candidate(
        text["id"], text["spec"], text["label"], tuple(boards), model_card=text["model_card"], config=text["config"]
    )
