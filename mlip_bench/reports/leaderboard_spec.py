"""Leaderboard files (``tasks/leaderboards/*.yaml``): which potentials on which tasks, checked when
they load; the subset of potentials a command line asks for; the cells a result store lacks and the
commands that compute them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.engine.spec import TaskSpec, all_tasks
from mlip_bench.errors import TaskSpecError, UnknownChoiceError
from mlip_bench.paths import tasks_dir

#: a leaderboard id names its report folder (reports/<id>/): a plain name, never a path
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class PotentialEntry:
    spec: str
    label: str
    optional: bool = False


@dataclass(frozen=True)
class LeaderboardSpec:
    id: str
    title: str
    description: str
    potentials: tuple[PotentialEntry, ...]
    tasks: tuple[str, ...]
    #: leaderboard-level scores (:mod:`mlip_bench.reports.scores`), computed over the rows
    scores: tuple[Any, ...] = ()
    #: the YAML file it was read from ("" when built in code)
    source: str = ""
    #: for a ``--potentials`` subset, how many potentials the file lists (0: this is the whole file)
    subset_of: int = 0

    def label_for(self, spec: str) -> str | None:
        return next((p.label for p in self.potentials if p.spec == spec), None)


@dataclass(frozen=True)
class MissingCell:
    """A (potential, task) cell of a leaderboard with no record in the result store, and the
    command line that computes it."""

    potential: str
    label: str
    task: str
    optional: bool
    command: str


def load_leaderboard(name_or_path: str) -> LeaderboardSpec:
    """A leaderboard by name (``tasks/leaderboards/NAME.yaml``) or YAML path. Raises TaskSpecError
    naming the file and the field (``tasks/2``, ``potentials/0/spec``) for a malformed file, an
    unknown or repeated task id, a repeated potential spec or label, or a score naming a task or
    metric that the leaderboard does not show."""
    path = Path(name_or_path)
    if not path.is_file():
        path = tasks_dir() / "leaderboards" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (tasks_dir() / "leaderboards").glob("*.yaml"))
        raise TaskSpecError(f"unknown leaderboard {name_or_path!r} (known: {', '.join(known)})")
    source = str(path)
    try:
        raw = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{source}: cannot read leaderboard: {exc}") from exc
    if not isinstance(raw, dict):
        raise TaskSpecError(f"{source}: a leaderboard file must be a mapping (id, title, potentials, tasks)")
    board_id = _text(raw, "id", source)
    if not _ID.match(board_id):
        raise TaskSpecError(f"{source}: field id: {board_id!r} must be a plain name (it names reports/<id>/)")
    potentials = _potentials(raw.get("potentials"), source)
    tasks = _tasks(raw.get("tasks"), source)
    from mlip_bench.reports.scores import parse_scores

    return LeaderboardSpec(
        id=board_id,
        title=_text(raw, "title", source, default=board_id),
        description=_text(raw, "description", source, default=""),
        potentials=potentials,
        tasks=tuple(tasks),
        scores=parse_scores(
            raw.get("scores"),
            source=source,
            tasks=tuple(tasks),
            potentials=tuple(p.spec for p in potentials),
            produces=lambda task, metric: _produces(tasks[task], metric),
        ),
        source=source,
    )


def _text(raw: dict[str, Any], key: str, source: str, *, at: str = "", default: str | None = None) -> str:
    """The string `raw[key]` (`default` when absent; required when `default` is None); `at` is the
    field path of `raw` in the file (``potentials/3/``)."""
    value = raw.get(key, default)
    if not isinstance(value, str) or (value != default and not value.strip()):
        raise TaskSpecError(f"{source}: field {at}{key}: expected a non-empty string, got {value!r}")
    return value


def _potentials(raw: object, source: str) -> tuple[PotentialEntry, ...]:
    if not isinstance(raw, list) or not raw:
        raise TaskSpecError(f"{source}: field potentials: expected a non-empty list of {{spec, label}}")
    out: list[PotentialEntry] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise TaskSpecError(f"{source}: field potentials/{i}: expected a mapping with spec and label")
        spec = _text(entry, "spec", source, at=f"potentials/{i}/")
        label = _text(entry, "label", source, at=f"potentials/{i}/", default=spec)
        optional = entry.get("optional", False)
        if not isinstance(optional, bool):
            raise TaskSpecError(f"{source}: field potentials/{i}/optional: expected true or false")
        for j, other in enumerate(out):
            if spec == other.spec or label == other.label:
                what = "spec" if spec == other.spec else "label"
                raise TaskSpecError(f"{source}: field potentials/{i}/{what}: same as potentials/{j}")
        out.append(PotentialEntry(spec, label, optional))
    return tuple(out)


def _tasks(raw: object, source: str) -> dict[str, TaskSpec]:
    """Task specs by id, in the file's order; every task must be a registered task id, since the
    report shows tasks by id."""
    if not isinstance(raw, list) or not raw:
        raise TaskSpecError(f"{source}: field tasks: expected a non-empty list of task ids")
    known = all_tasks()
    out: dict[str, TaskSpec] = {}
    for i, task in enumerate(raw):
        if not isinstance(task, str) or task not in known:
            raise TaskSpecError(
                f"{source}: field tasks/{i}: {task!r} is not a task id the report can show "
                f"(known: {', '.join(sorted(known))})"
            )
        if task in out:
            raise TaskSpecError(f"{source}: field tasks/{i}: {task!r} is listed twice")
        out[task] = known[task]
    return out


def _produces(task: TaskSpec, metric: str) -> bool:
    """Whether a run of `task` yields `metric`: listed, or produced by its kind."""
    from mlip_bench.engine.kinds import get_kind

    return any(m.name == metric for m in task.metrics) or get_kind(task.kind).accepts_metric(metric, task)


def select_potentials(spec: LeaderboardSpec, names: Sequence[str]) -> LeaderboardSpec:
    """The leaderboard restricted to the potentials named by spec or label (each string of `names`
    may hold several, comma-separated; a spec with commas, e.g. ``mtp:F.mtp;species=Li,Al``, is
    matched whole). Raises UnknownChoiceError listing the choices."""
    wanted: list[PotentialEntry] = []
    for text in names:
        for name in _split_names(text, spec):
            entry = next(p for p in spec.potentials if name in (p.spec, p.label))
            if entry not in wanted:
                wanted.append(entry)
    order = tuple(p for p in spec.potentials if p in wanted)
    total = spec.subset_of or len(spec.potentials)
    note = f" Subset: {len(order)} of the leaderboard's {total} potentials (--potentials)."
    return replace(spec, potentials=order, description=spec.description.rstrip() + note, subset_of=total)


def with_candidates(spec: LeaderboardSpec, candidates: Sequence[Any]) -> tuple[LeaderboardSpec, tuple[str, ...]]:
    """The leaderboard with each trained candidate (:class:`~mlip_bench.engine.candidates.Candidate`:
    ``spec``, ``label``, ``id``) appended as a potential, and a reason for each one left out because
    its spec or label is already listed (a candidate never replaces a listed potential's row)."""
    entries = list(spec.potentials)
    skipped: list[str] = []
    for candidate in candidates:
        clash = next((p for p in entries if candidate.spec == p.spec or candidate.label == p.label), None)
        if clash is not None:
            skipped.append(
                f"candidate {candidate.id}: left off leaderboard {spec.id}: same spec or label as {clash.label}"
            )
            continue
        entries.append(PotentialEntry(candidate.spec, candidate.label))
    return replace(spec, potentials=tuple(entries)), tuple(skipped)


def _split_names(text: str, spec: LeaderboardSpec) -> list[str]:
    known = {n for p in spec.potentials for n in (p.spec, p.label)}
    parts, out, current = text.split(","), [], ""
    for part in parts:
        current = f"{current},{part}" if current else part
        if current.strip() in known:
            out.append(current.strip())
            current = ""
    if current.strip() or not out:
        choices = "; ".join(f"{p.spec} ({p.label})" for p in spec.potentials)
        bad = current.strip() or text
        raise UnknownChoiceError(f"leaderboard {spec.id}: --potentials: no potential {bad!r} (choices: {choices})")
    return out


def missing_cells(
    spec: LeaderboardSpec, present: Collection[tuple[str, str]], *, results: str, data_root: str | None = None
) -> tuple[MissingCell, ...]:
    """The cells of `spec` absent from `present` ((task id, potential spec) pairs), each with the
    ``mlip-bench run`` line that computes it into the store `results`."""
    options = _options(results, data_root)
    return tuple(
        MissingCell(p.spec, p.label, task, p.optional, f"{_run_line(p.spec, task)} {options}")
        for task in spec.tasks
        for p in spec.potentials
        if (task, p.spec) not in present
    )


def leaderboard_command(
    spec: LeaderboardSpec, missing: Sequence[MissingCell], *, results: str, data_root: str | None = None
) -> str:
    """The one ``mlip-bench leaderboard`` line that computes every cell of `missing` (stored cells
    are reused, so only the missing ones run)."""
    name = spec.id if Path(spec.source) == tasks_dir() / "leaderboards" / f"{spec.id}.yaml" else spec.source
    specs = list(dict.fromkeys(m.potential for m in missing))
    everyone = len(specs) == (spec.subset_of or len(spec.potentials))
    subset = "" if everyone else f" --potentials {shlex.quote(','.join(specs))}"
    return f"mlip-bench leaderboard {shlex.quote(name or spec.id)}{subset} {_options(results, data_root)}"


def _run_line(potential: str, task: str) -> str:
    return f"mlip-bench run --potential {shlex.quote(potential)} --task {shlex.quote(task)}"


def _options(results: str, data_root: str | None) -> str:
    root = f" --data-root {shlex.quote(data_root)}" if data_root else ""
    return f"--results {shlex.quote(results)}{root}"
