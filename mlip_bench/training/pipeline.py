"""``mlip-bench train CONFIG``: from an oracle and a config to a fitted MTP, its model card and the
learning curves, end to end and resumable.

Everything goes under ``<results>/artifacts/training/<config id>-<16 hex>/`` (the hex: the config's
content, the oracle's identity and the training code's version, so a changed config or a fixed code
never trains over another's iterations):

- ``test.extxyz``: the held-out oracle set (oracle MD snapshots; kept, so a rerun does no oracle MD);
- ``initial/``: iteration 0 (the initial set and its fit), shared by every strategy;
- ``<strategy>/iter_NNN/``: each iteration's training set, model and log (active_learning.py);
- ``learning_curves.json``, ``learning_curves.html``: both strategies' curves (learning_curve.py);
- ``final/<id>.mtp`` and ``final/model_card.yaml``: the candidate potential (the last model of the
  config's ``final`` strategy), usable as ``mtp:<path>;species=...``, registered in
  ``<results>/candidates/<id>.yaml`` for the leaderboards the config names (engine/candidates.py).

Oracle calls are cached by structure in the result store (oracle.py) and finished iterations are
loaded, not redone, so rerunning a killed or finished command costs only what was not done.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from mlip_bench.engine.candidates import Candidate, write_candidate
from mlip_bench.engine.executors import Executor
from mlip_bench.engine.integrity import write_atomic
from mlip_bench.engine.records import to_jsonable
from mlip_bench.errors import EvaluationError
from mlip_bench.properties.md_engine import AseEngine, Observer, Snapshot
from mlip_bench.training.active_learning import LoopSettings, fit_state, run_loop, training_atoms
from mlip_bench.training.config import TestSetSettings, TrainConfig, load_config
from mlip_bench.training.learning_curve import (
    METRICS,
    Comparison,
    LearningCurve,
    ModelState,
    compare,
    load_state,
    table,
    write_figure,
)
from mlip_bench.training.oracle import Oracle
from mlip_bench.training.sampling import md_spec, perturbed_cells, start_cell, temperature_for

if TYPE_CHECKING:
    from mlip_bench.training.levels_pipeline import LevelsResult

TEST_NAME = "test.extxyz"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: its folder, each strategy's states (iterations 0..n), the
    curves, the comparison of the first strategy against the second (energy and forces; None with
    one strategy), the candidate's ``.mtp``, model card and ``mtp:`` spec."""

    folder: Path
    states: dict[str, list[ModelState]]
    curves: tuple[LearningCurve, ...]
    comparisons: tuple[Comparison, ...]
    mtp_path: Path
    card_path: Path
    spec: str


def run_folder(config: TrainConfig, oracle: Oracle, results: Path) -> Path:
    """``<results>/artifacts/training/<id>-<hash>``, the hash of the config, the oracle's identity and
    the code that trains (a fix in the fitting, sampling or selection code, or another motep, must
    not resume iterations the old code made)."""
    import hashlib

    key = f"{config.sha256}|{oracle.digest}|{training_code_version()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(results) / "artifacts" / "training" / f"{config.id}-{digest}"


def training_code_version() -> str:
    """sha256 (16 hex) of the training package's sources, the suite's computing code
    (:func:`~mlip_bench.engine.identity.code_version`) and motep's version."""
    import hashlib

    from mlip_bench.engine.identity import code_version

    digest = hashlib.sha256(f"{code_version()}|{_motep_version()}".encode())
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train(
    config_path: str | Path,
    *,
    results: str | Path = "results",
    data_root: str | None = None,
    say: Callable[[str], None] | None = None,
    executor: Executor | None = None,
) -> TrainResult | LevelsResult:
    """Run (or resume) the training config at `config_path`; `say` gets progress lines (default:
    stderr); `executor` runs the oracle's calls (worker processes, Dask; None: in this process). A
    ``mode: levels`` config runs levels_pipeline.train_levels (a LevelsResult; it has `spec` too).
    Raises TaskSpecError for a bad config, PotentialError for a bad oracle spec,
    DataError, EvaluationError when the oracle fails on every test or initial structure."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    config = load_config(config_path)
    if config.mode == "levels":
        from mlip_bench.training.levels_pipeline import train_levels

        return train_levels(config, results=results, data_root=data_root, say=say, executor=executor)
    oracle = Oracle(config.oracle, results=results, data_root=data_root, executor=executor)
    folder = run_folder(config, oracle, Path(results))
    say(f"train {config.id}: oracle {oracle.name} ({config.oracle}); run folder {folder}")
    test = held_out_set(config, oracle, folder)
    initial = initial_state(config, oracle, folder, test)
    say(_line(initial))
    states = {}
    for strategy in config.loop.strategies:
        loop = loop_settings(config, strategy)
        states[strategy] = run_loop(
            loop, oracle=oracle, initial=initial, test=test, workdir=folder / strategy, report=lambda s: say(_line(s))
        )
    curves = tuple(LearningCurve.from_logs(s, [state.log for state in states[s]]) for s in config.loop.strategies)
    comparisons: tuple[Comparison, ...] = ()
    if len(curves) >= 2:
        comparisons = tuple(compare(curves[0], curves[1], metric=m) for m in METRICS)
    _write_curves(folder, config, curves, comparisons)
    say(table(curves))
    for comparison in comparisons:
        say(_comparison_text(comparison, curves[0].strategy, curves[1].strategy))
    mtp_path, card_path = write_final(config, oracle, folder, states[config.final][-1])
    spec = f"mtp:{mtp_path.resolve()};species={','.join(config.fit.species)}"
    registered = write_candidate(
        results, Candidate(config.id, spec, f"{config.id} (fitted by mlip-bench)", config.leaderboards,
                           model_card=str(card_path), config=config.path),
    )  # fmt: skip
    say(f"candidate: {spec}\nmodel card: {card_path}\ncurves: {folder / 'learning_curves.html'}")
    say(f"registered for leaderboards {list(config.leaderboards)}: {registered}")
    return TrainResult(folder, states, curves, comparisons, mtp_path, card_path, spec)


def loop_settings(config: TrainConfig, strategy: str) -> LoopSettings:
    """The loop of one strategy as the config sets it."""
    return LoopSettings(
        strategy=strategy,
        n_iterations=config.loop.n_iterations,
        calls_per_iteration=config.loop.calls_per_iteration,
        fit=config.fit,
        cells=config.cells,
        sampling=config.sampling,
        gamma_select=config.loop.gamma_select,
        gamma_break=config.loop.gamma_break,
        seed=config.seed,
    )


def held_out_set(config: TrainConfig, oracle: Oracle, folder: Path) -> list[Atoms]:
    """The held-out oracle set: read from ``test.extxyz`` when there, else made by oracle MD and
    labelled (labels from the oracle cache) and kept. Raises EvaluationError when none is left."""
    path = folder / TEST_NAME
    if path.is_file():
        try:
            return training_atoms(path)
        except (OSError, ValueError, KeyError, IndexError):
            path.unlink()  # a damaged file (the write is atomic, so edited by hand): made again
    snapshots = oracle_snapshots(oracle, config.test, config)
    batch = oracle.label(snapshots)
    if not batch.labelled:
        raise EvaluationError(f"{config.path}: the oracle failed on every test structure: {batch.failed[:1]}")
    _write_extxyz(path, batch.labelled)
    return training_atoms(path)


def oracle_snapshots(oracle: Oracle, settings: TestSetSettings, config: TrainConfig) -> list[Atoms]:
    """Snapshots of Langevin MD with the oracle from fresh start cells, `n_trajectories` of each
    test kind (see TestSetSettings); each keeps its kind in ``info["kind"]``."""
    rng = np.random.default_rng([settings.seed, 7])
    sampling = dataclasses.replace(
        config.sampling, timestep_fs=settings.timestep_fs, temperature_range_K=settings.temperature_range_K
    )
    n_steps = settings.equilibration_steps + settings.n_snapshots * settings.snapshot_every_steps
    snapshots: list[Atoms] = []
    kinds = [kind for kind in settings.kinds for _ in range(settings.n_trajectories)]
    for index, kind in enumerate(kinds):
        cell = start_cell(config.cells, kind, rng)
        spec = md_spec(sampling, temperature_for(config.cells, sampling, kind, rng), n_steps=n_steps,
                       seed=settings.seed, stream=index)  # fmt: skip

        def keep(snapshot: Snapshot, cell: Atoms = cell) -> None:
            if snapshot.step > settings.equilibration_steps:
                atoms = Atoms(cell.numbers, positions=snapshot.positions_A, cell=snapshot.cell_A, pbc=cell.pbc)
                atoms.wrap()
                atoms.info["kind"] = cell.info["kind"]
                snapshots.append(atoms)

        AseEngine(oracle.calculator()).run(cell, spec, observers=[Observer(keep, settings.snapshot_every_steps, True)])
    return snapshots


def initial_state(config: TrainConfig, oracle: Oracle, folder: Path, test: Sequence[Atoms]) -> ModelState:
    """Iteration 0: the initial cells labelled and fitted (loaded when already done)."""
    found = load_state(folder / "initial")
    if found is not None:
        return found
    cells = perturbed_cells(config.cells, config.initial.n_structures, np.random.default_rng([config.seed, 3]))
    batch = oracle.label(cells)
    if not batch.labelled:
        raise EvaluationError(f"{config.path}: the oracle failed on every initial structure: {batch.failed[:1]}")
    stats = {"iteration": 0, "strategy": "initial", "oracle_calls": len(cells), "new_structures": len(batch.labelled)}
    stats["oracle_failures"] = len(batch.failed)
    return fit_state(batch.labelled, folder / "initial", config.fit, test=test, initial=None, stats=stats)


def write_final(config: TrainConfig, oracle: Oracle, folder: Path, state: ModelState) -> tuple[Path, Path]:
    """Copy the candidate model to ``final/<id>.mtp`` and write its model card; returns both paths."""
    from mlip_bench.training.fit_mtp import MtpFit, training_sha256
    from mlip_bench.training.model_card import card_from_fit, write_card

    final = folder / "final"
    final.mkdir(parents=True, exist_ok=True)
    mtp_path = final / f"{config.id}.mtp"
    shutil.copyfile(state.mtp_path, mtp_path)
    log = state.log
    fit = MtpFit(
        mtp_path=mtp_path, settings=config.fit, n_structures=log.n_training,
        training_sha256=training_sha256(training_atoms(state.training_path)),
        energy_rmse_meV_per_atom=log.train_energy_rmse_meV_per_atom, force_rmse_eV_per_A=log.train_force_rmse_eV_per_A,
        seconds=log.fit_seconds, motep_version=_motep_version(),
    )  # fmt: skip
    provenance = {
        "spec": config.oracle, "name": oracle.name, "identity": oracle.identity, "config": config.path,
        "config_sha256": config.sha256, "strategy": config.final, "iteration": log.iteration,
        "oracle_calls": log.oracle_calls,
    }  # fmt: skip
    errors = {
        "test_energy_rmse_meV_per_atom": log.test_energy_rmse_meV_per_atom,
        "test_force_rmse_eV_per_A": log.test_force_rmse_eV_per_A,
    }
    card = card_from_fit(fit, oracle=provenance, validation_errors=errors)
    return mtp_path, write_card(card, final / "model_card.yaml")


def _motep_version() -> str:
    from importlib.metadata import version

    return version("motep")


def _write_extxyz(path: Path, structures: Sequence[Atoms]) -> None:
    from ase.io import write

    buffer = io.StringIO()
    write(buffer, list(structures), format="extxyz")
    write_atomic(path, buffer.getvalue().encode())


def _write_curves(
    folder: Path, config: TrainConfig, curves: Sequence[LearningCurve], comparisons: Sequence[Comparison]
) -> None:
    document = {"config": config.id, "curves": to_jsonable(list(curves)), "comparisons": to_jsonable(list(comparisons))}
    write_atomic(folder / "learning_curves.json", json.dumps(document, indent=1).encode())
    write_figure(curves, folder / "learning_curves.html", title=config.title)


def _line(state: ModelState) -> str:
    log = state.log
    avoided = "" if not log.md_steps else f", calls avoided {100 * log.calls_avoided_share:.1f}%"
    grades = "" if log.iteration == 0 else f", γ_max {log.max_gamma:.3g}, {log.above_select} of {log.snapshots} > γ_sel"
    return (
        f"  {log.strategy:<7} iter {log.iteration:>2}: {log.oracle_calls:>4} oracle calls, "
        f"test E {log.test_energy_rmse_meV_per_atom:.3f} meV/atom, F {log.test_force_rmse_eV_per_A:.4f} eV/Å"
        f"{grades}{avoided} (fit {log.fit_seconds:.0f} s)"
    )


def _comparison_text(comparison: Comparison, active: str, baseline: str) -> str:
    unit = "eV/Å" if comparison.metric == "forces" else "meV/atom"
    lines = [f"{comparison.metric}: calls {baseline} needs for the error {active} reaches"]
    for (calls, error, need), ratio in zip(comparison.rows, comparison.ratios(), strict=True):
        got = f"{need:.1f} ({ratio:.2f}x)" if need is not None else f"> {comparison.baseline_max_calls} (not reached)"
        lines.append(f"  {active} {calls:>4} calls -> {error:.4g} {unit}; {baseline}: {got}")
    lines.append(f"  {active} reaches an error {baseline} needs >= 2x the calls for: {comparison.reaches_factor(2.0)}")
    return "\n".join(lines)
