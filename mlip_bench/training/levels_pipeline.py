"""``mlip-bench train CONFIG`` for a ``mode: levels`` config: paper 002's cost-accuracy view.

Into the run folder (``<results>/artifacts/training/<id>-<16 hex>/``, as every training run):

- ``set.extxyz``: the labelled systematic set (systematic_set.py; kept, so a rerun relaxes and
  labels nothing);
- ``levels/level_NN/``: each level's fit, ``level.mtp`` and ``result.json`` (levels.py; finished
  levels are loaded, not refitted);
- ``pareto.json`` and ``pareto.html``: the points, the front, settings and provenance;
- ``levels/level_NN/model_card.yaml``: each level's model card (training-part checksum, settings,
  training and held-out errors, oracle provenance).

Each level is registered as a candidate (``<results>/candidates/<id>-level-NN.yaml``), so the
leaderboards the config names score every level next to the published potentials.
"""

from __future__ import annotations

import dataclasses
import io
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ase import Atoms

from mlip_bench.data.extxyz import sha256_of
from mlip_bench.engine.candidates import Candidate, write_candidate
from mlip_bench.engine.executors import Executor
from mlip_bench.engine.integrity import write_atomic
from mlip_bench.errors import TaskSpecError
from mlip_bench.training.active_learning import training_atoms
from mlip_bench.training.config import TrainConfig
from mlip_bench.training.fit_mtp import MtpFit, training_sha256
from mlip_bench.training.levels import MODEL_NAME, LevelPoint, fit_levels, split_set
from mlip_bench.training.levels_report import table, write_pareto_figure, write_pareto_json
from mlip_bench.training.oracle import Oracle
from mlip_bench.training.systematic_set import build_systematic_set

SET_NAME = "set.extxyz"
COUNTS_NAME = "set_counts.json"


@dataclass(frozen=True)
class LevelsResult:
    """A levels run: its folder, the points (config order, front marked), the labelled set and the
    two outputs. `spec` is the ``mtp:`` spec of the level with the lowest held-out energy RMSE
    (what ``mlip-bench train`` prints)."""

    folder: Path
    points: tuple[LevelPoint, ...]
    set_path: Path
    json_path: Path
    html_path: Path
    species: tuple[str, ...]

    @property
    def best(self) -> LevelPoint:
        return min(self.points, key=lambda p: (p.test_energy_rmse_meV_per_atom, p.cost_us_per_atom_call))

    @property
    def mtp_path(self) -> Path:
        return self.folder / "levels" / f"level_{self.best.level:02d}" / MODEL_NAME

    @property
    def spec(self) -> str:
        return f"mtp:{self.mtp_path};species={','.join(self.species)}"


def train_levels(
    config: TrainConfig,
    *,
    results: str | Path = "results",
    data_root: str | None = None,
    say: Callable[[str], None] | None = None,
    executor: Executor | None = None,
) -> LevelsResult:
    """Build (or load) the labelled set, fit every level (or load it), write ``pareto.json`` and
    ``pareto.html``; `executor` runs the oracle's calls (None: in this process). Raises TaskSpecError
    for a config without its levels sections, PotentialError for a bad oracle spec, EvaluationError
    when the oracle labels nothing."""
    from mlip_bench.training.pipeline import run_folder

    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    if config.levels is None or config.systematic_set is None:
        raise TaskSpecError(f"{config.path}: mode 'levels' needs the sections 'levels' and 'systematic_set'")
    oracle = Oracle(config.oracle, results=results, data_root=data_root, executor=executor)
    folder = run_folder(config, oracle, Path(results))
    say(f"train {config.id} (levels {list(config.levels.levels)}): oracle {oracle.name}; run folder {folder}")
    structures, counts = labelled_set(config, oracle, folder)
    say(f"  set: {len(structures)} structures, {sum(len(a) for a in structures)} atoms ({_counts_text(counts)})")
    points = fit_levels(structures, config.levels, workdir=folder / "levels", say=say)
    provenance = {
        "config": config.path, "config_sha256": config.sha256, "oracle_spec": config.oracle,
        "oracle_name": oracle.name, "oracle_identity": oracle.identity, "set_file": SET_NAME,
        "set_file_sha256": sha256_of(folder / SET_NAME), "set_sha256": training_sha256(structures),
        "set_counts": counts, "n_structures": len(structures), "n_atoms": sum(len(a) for a in structures),
        "motep_version": _version("motep"), "mlip_bench_version": _version("mlip-bench"),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor()} ({os.cpu_count()} cores)".strip(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
    }  # fmt: skip
    json_path = write_pareto_json(points, folder / "pareto.json", settings=config.levels, provenance=provenance)
    html_path = write_pareto_figure(points, folder / "pareto.html", title=config.title)
    say(table(points))
    say(f"pareto: {json_path}\nfigure: {html_path}")
    result = LevelsResult(folder, points, folder / SET_NAME, json_path, html_path, config.levels.fit.species)
    registered = register_levels(config, result, structures, provenance, results=results)
    say(f"registered {len(registered)} candidates for leaderboards {list(config.leaderboards)}: {registered[0].parent}")
    return result


def register_levels(
    config: TrainConfig,
    result: LevelsResult,
    structures: Sequence[Atoms],
    provenance: dict,
    *,
    results: str | Path,
) -> list[Path]:
    """Write each level's model card next to its ``.mtp`` and register the level as the candidate
    ``<id>-level-NN`` for the config's leaderboards; returns the candidate files (level order)."""
    from mlip_bench.training.model_card import card_from_fit, write_card

    assert config.levels is not None
    train, _ = split_set(structures, test_share=config.levels.test_share, seed=config.levels.split_seed)
    train_sha256 = training_sha256(train)
    oracle = {key: provenance[key] for key in ("oracle_spec", "oracle_name", "oracle_identity", "config", "set_sha256")}
    paths = []
    for point in result.points:
        folder = result.folder / "levels" / f"level_{point.level:02d}"
        fit = MtpFit(
            mtp_path=folder / MODEL_NAME, settings=dataclasses.replace(config.levels.fit, level=point.level),
            n_structures=len(train), training_sha256=train_sha256,
            energy_rmse_meV_per_atom=point.train_energy_rmse_meV_per_atom,
            force_rmse_eV_per_A=point.train_force_rmse_eV_per_A, seconds=point.fit_seconds,
            motep_version=provenance["motep_version"],
        )  # fmt: skip
        held_out = {
            "held-out energy RMSE meV/atom": point.test_energy_rmse_meV_per_atom,
            "held-out force RMSE eV/A": point.test_force_rmse_eV_per_A,
        }
        card = write_card(card_from_fit(fit, oracle=oracle, validation_errors=held_out), folder / "model_card.yaml")
        spec = f"mtp:{fit.mtp_path.resolve()};species={','.join(fit.settings.species)}"
        candidate = Candidate(
            f"{config.id}-level-{point.level:02d}", spec, f"{config.id} level {point.level} (fitted by mlip-bench)",
            config.leaderboards, model_card=str(card), config=config.path,
        )  # fmt: skip
        paths.append(write_candidate(results, candidate))
    return paths


def labelled_set(config: TrainConfig, oracle: Oracle, folder: Path) -> tuple[list[Atoms], dict[str, int]]:
    """The labelled set: read from ``set.extxyz`` when there (and whole), else built, labelled and
    kept; with its per-set counts."""
    import json

    assert config.systematic_set is not None
    path, counts_path = folder / SET_NAME, folder / COUNTS_NAME
    if path.is_file() and counts_path.is_file():
        try:
            return training_atoms(path), json.loads(counts_path.read_text())
        except (OSError, ValueError, KeyError, IndexError):
            path.unlink()  # a damaged file (the write is atomic, so edited by hand): made again
    structures, counts = build_systematic_set(config.systematic_set, oracle)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(counts_path, json.dumps(counts, indent=1).encode())
    _write_extxyz(path, structures)
    return training_atoms(path), counts


def _write_extxyz(path: Path, structures: Sequence[Atoms]) -> None:
    from ase.io import write

    buffer = io.StringIO()
    write(buffer, list(structures), format="extxyz")
    write_atomic(path, buffer.getvalue().encode())


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if not k.endswith("_made") and v)


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""
