"""The oracle cache, the active-learning loop and ``mlip-bench train`` (issue 12), on a tiny config:
a level-6 MTP, Mendelev's Al EAM as the oracle, two iterations of two calls per strategy, bulk and
surface start cells, a held-out set of both kinds."""

from __future__ import annotations

import math
import textwrap
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_bench.cli import main
from mlip_bench.data.extxyz import sha256_of
from mlip_bench.errors import PotentialError, TaskSpecError
from mlip_bench.training import active_learning
from mlip_bench.training.active_learning import Candidate, Sample, select
from mlip_bench.training.config import load_config
from mlip_bench.training.learning_curve import CurvePoint, LearningCurve, compare, load_state
from mlip_bench.training.oracle import Oracle, structure_hash
from mlip_bench.training.pipeline import TrainResult, train
from mlip_bench.training.sampling import CellSettings, draw_kinds, start_cell

pytest.importorskip("motep")
pytest.importorskip("lammps")

TINY = """
id: tiny-al
title: tiny loop
oracle: eam:Al_mm.eam.fs
fit: {level: 6, species: [Al], max_iterations: 20}
cells: {kinds: [bulk, surface], weights: [1, 1]}
initial: {n_structures: 3}
sampling: {n_trajectories: 2, n_steps: 40, snapshot_every_steps: 5, temperature_range_K: [300, 1200]}
loop: {n_iterations: 2, calls_per_iteration: 2}
test: {kinds: [bulk, surface], n_trajectories: 1, n_snapshots: 2, snapshot_every_steps: 10, equilibration_steps: 10}
"""


def _write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, TrainResult]:
    folder = tmp_path_factory.mktemp("train")
    config = _write(folder, TINY)
    results = folder / "results"
    return config, results, train(config, results=results, say=lambda _: None)


def test_loop_counts_calls_and_scores_every_iteration(trained: tuple[Path, Path, TrainResult]) -> None:
    _, _, result = trained
    assert set(result.states) == {"gamma", "random"}
    for strategy, states in result.states.items():
        logs = [s.log for s in states]
        assert [log.iteration for log in logs] == [0, 1, 2]
        calls = [log.oracle_calls for log in logs]
        if strategy == "random":
            assert calls == [3, 5, 7]  # 3 initial + 2 per iteration
        else:  # at most 2 per iteration: only snapshots past γ_select are asked for
            assert calls[0] == 3 and all(0 <= b - a <= 2 for a, b in pairwise(calls))
        assert [log.n_training for log in logs] == calls
        assert all(math.isfinite(log.test_energy_rmse_meV_per_atom) for log in logs)
        for log in logs:  # the held-out set has both kinds; the largest error bounds every kind's RMSE
            assert set(log.test_energy_rmse_by_kind_meV_per_atom) == {"bulk", "surface"}
            assert max(log.test_energy_rmse_by_kind_meV_per_atom.values()) <= log.test_energy_max_meV_per_atom
            assert log.test_force_max_eV_per_A >= log.test_force_rmse_eV_per_A * 0.999
        assert logs[-1].md_steps > logs[1].md_steps > 0
        assert 0.0 < logs[-1].calls_avoided_share < 1.0
    # both strategies start from the same initial fit, and the first sampling is the same run
    assert result.states["gamma"][0].log == result.states["random"][0].log
    assert result.states["gamma"][1].log.max_gamma == result.states["random"][1].log.max_gamma
    assert [len(c.points) for c in result.curves] == [3, 3]
    assert (result.folder / "learning_curves.html").is_file()


def test_candidate_is_an_mtp_spec_with_a_model_card(trained: tuple[Path, Path, TrainResult]) -> None:
    from mlip_bench.adapters.registry import load_potential
    from mlip_bench.training.model_card import read_card

    _, _, result = trained
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    atoms.calc = load_potential(result.spec).calculator()
    assert -4.0 < atoms.get_potential_energy() / len(atoms) < -3.0  # Mendelev's EAM: -3.36 eV/atom
    card = read_card(result.card_path)
    assert card.mtp_sha256 == sha256_of(result.mtp_path)
    assert card.level == 6 and card.n_structures == result.states["gamma"][-1].log.n_training
    assert card.oracle["spec"] == "eam:Al_mm.eam.fs"


def test_rerun_skips_finished_iterations_and_redoes_a_lost_one(
    trained: tuple[Path, Path, TrainResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, results, first = trained
    fits: list[int] = []
    real_fit = active_learning.fit_mtp

    def counting_fit(*args: Any, **kwargs: Any) -> Any:
        fits.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(active_learning, "fit_mtp", counting_fit)
    again = train(config, results=results, say=lambda _: None)
    assert fits == []
    assert [s.log for s in again.states["gamma"]] == [s.log for s in first.states["gamma"]]
    # a lost iteration is redone, from the same seeds and cached oracle labels: the same model
    lost = first.states["random"][2]
    (lost.folder / "log.json").unlink()
    redone = train(config, results=results, say=lambda _: None)
    assert len(fits) == 1
    assert redone.states["random"][2].log.mtp_sha256 == lost.log.mtp_sha256
    assert load_state(lost.folder) is not None


def test_a_damaged_iteration_is_not_loaded(trained: tuple[Path, Path, TrainResult], tmp_path: Path) -> None:
    import shutil

    _, _, result = trained
    copy = tmp_path / "iter"
    shutil.copytree(result.states["gamma"][1].folder, copy)
    assert load_state(copy) is not None
    (copy / "model.mtp").write_text((copy / "model.mtp").read_text() + "\n")
    assert load_state(copy) is None


def test_oracle_caches_by_structure(tmp_path: Path) -> None:
    oracle = Oracle(EMT(), name="EMT", version="ase", results=tmp_path)
    cells = [bulk("Cu", "fcc", a=a, cubic=True) for a in (3.55, 3.6)]
    first = oracle.label(cells)
    assert (first.computed, first.cached) == (2, 0)
    again = Oracle(EMT(), name="EMT", version="ase", results=tmp_path).label([cells[1], cells[0]])
    assert (again.computed, again.cached) == (0, 2)
    assert again.labelled[1].get_potential_energy() == first.labelled[0].get_potential_energy()
    moved = cells[0].copy()
    moved.positions[0, 0] += 1e-9
    assert structure_hash(moved) != structure_hash(cells[0])
    assert oracle.label([moved]).computed == 1
    other = Oracle(EMT(), name="EMT-2", results=tmp_path).label(cells)  # another oracle: its own calls
    assert other.computed == 2
    with pytest.raises(PotentialError, match="needs a name"):
        Oracle(EMT(), results=tmp_path)


def test_oracle_failures_are_listed_not_raised(tmp_path: Path) -> None:
    bad = Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[5, 5, 5], pbc=True)
    batch = Oracle(EMT(), name="EMT", results=tmp_path).label([bulk("Cu", "fcc", a=3.6), bad])
    assert len(batch.labelled) == 1 and [index for index, _ in batch.failed] == [1]


def _sample(grades: list[tuple[int, float]]) -> Sample:
    atoms = bulk("Al")
    return Sample(tuple(Candidate(atoms, g, t, k) for k, (t, g) in enumerate(grades)), 100, 0, 0.0)


def test_gamma_selection_takes_the_most_extrapolative_from_each_trajectory_in_turn() -> None:
    found = _sample([(0, 9.0), (0, 8.0), (0, 7.0), (1, 1.5), (1, 0.9), (2, 1.0005)])
    chosen = select(found, strategy="gamma", n=3, gamma_select=1.001, seed=0)
    assert [c.gamma for c in chosen] == [9.0, 1.5, 8.0]
    assert len(select(found, strategy="gamma", n=10, gamma_select=1.001, seed=0)) == 4
    picks = select(found, strategy="random", n=3, gamma_select=1.001, seed=0)
    assert len(picks) == 3 and picks == select(found, strategy="random", n=3, gamma_select=1.001, seed=0)


def test_compare_finds_the_calls_random_needs() -> None:
    def curve(name: str, points: list[tuple[int, float]]) -> LearningCurve:
        return LearningCurve(name, tuple(CurvePoint(c, e, 0.1, math.nan) for c, e in points))

    active = curve("gamma", [(4, 10.0), (8, 2.0), (12, 1.0)])
    random = curve("random", [(4, 10.0), (8, 5.0), (12, 3.0), (16, 2.0), (24, 1.5)])
    comparison = compare(active, random)
    assert comparison.rows == ((8, 2.0, 16), (12, 1.0, None))
    assert comparison.ratios() == [2.0, math.inf]
    assert comparison.reaches_factor(2.0)
    assert not compare(random, active).reaches_factor(1.01)
    # between points the baseline is interpolated (log error, linear calls), not charged its spacing
    need = random.calls_to_reach(math.sqrt(3.0 * 2.0))
    assert need == pytest.approx(14.0)
    assert random.calls_to_reach(10.0) == 4.0 and random.calls_to_reach(1.0) is None
    # a first crossing counts, even when the curve goes up again later
    bumpy = curve("random", [(4, 10.0), (8, 2.0), (12, 6.0), (16, 1.0)])
    assert bumpy.calls_to_reach(3.0) == pytest.approx(4 + 4 * math.log(10 / 3) / math.log(5))


def test_start_cells_of_each_kind() -> None:
    from mlip_bench.training.generators.common import min_distance_A

    settings = CellSettings(kinds=("bulk", "vacancy", "surface", "liquid"), weights=(1, 1, 1, 1), n_vacancies=2)
    rng = np.random.default_rng(0)
    cells = {kind: start_cell(settings, kind, rng) for kind in settings.kinds}
    assert [len(cells[k]) for k in settings.kinds] == [32, 30, 32, 32]
    assert all(cells[k].info["kind"] == k for k in settings.kinds)
    bulk_c, surface_c = cells["bulk"].cell.lengths()[2], cells["surface"].cell.lengths()[2]
    assert surface_c > 8.0 + 0.9 * bulk_c  # the vacuum is there, and no atom sits in it
    assert np.ptp(cells["surface"].positions[:, 2]) < surface_c - 7.0
    assert min_distance_A(cells["liquid"]) >= settings.liquid_r_min_A
    volume_per_atom = cells["liquid"].get_volume() / 32
    assert volume_per_atom == pytest.approx(26.98 / (2.3 * 0.60221), rel=1e-3)
    drawn = draw_kinds(CellSettings(kinds=("bulk", "surface"), weights=(0.9, 0.1)), 2000, np.random.default_rng(1))
    assert 0.07 < drawn.count("surface") / 2000 < 0.13
    with pytest.raises(ValueError, match="weights"):
        CellSettings(kinds=("bulk", "surface"), weights=(1.0,))
    with pytest.raises(ValueError, match="kinds"):
        CellSettings(kinds=("bulk", "gas"), weights=(1.0, 1.0))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("loop: {n_iterations: 0}", "field 'loop.n_iterations': must be >= 1"),
        ("loop: {strategies: [gamma, magic]}", "field 'loop.strategies'"),
        ("sampling: {n_steps: ten}", "field 'sampling.n_steps': expected int"),
        ("sampling: {temperature_range_K: [900, 300]}", "field 'sampling.temperature_range_K'"),
        ("fit: {level: 7, species: [Al]}", "field 'fit'"),
        ("colour: blue", "unknown field 'colour'"),
        ("test: {n_snapshots: 2, speed: 3}", "unknown field 'test.speed'"),
        ("oracle: ''", "field 'oracle'"),
        ("cells: {kinds: [bulk, gas], weights: [1, 1]}", "field 'cells'"),
        ("cells: {kinds: [bulk], weights: [-1]}", "field 'cells.weights': must be >= 0"),
        ("test: {kinds: [bulk, plasma]}", "field 'test.kinds'"),
    ],
)
def test_bad_configs_name_the_file_and_field(tmp_path: Path, edit: str, message: str) -> None:
    base = {line.split(":")[0]: line for line in TINY.strip().splitlines()}
    base[edit.split(":")[0]] = edit
    path = _write(tmp_path, "\n".join(base.values()))
    with pytest.raises(TaskSpecError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_train_command_reports_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "id: x\ntitle: [unclosed\n")
    assert main(["train", str(path), "--results", str(tmp_path / "r")]) == 2
    assert str(path) in capsys.readouterr().err
    missing = _write(tmp_path, "id: x\ntitle: t\noracle: emt\n", "missing.yaml")
    assert main(["train", str(missing), "--results", str(tmp_path / "r")]) == 2
    assert "missing field 'fit'" in capsys.readouterr().err


def test_shipped_config_loads() -> None:
    config = load_config("al-eam-active-learning")
    assert config.oracle == "eam:Al_mm.eam.fs" and config.loop.strategies == ("gamma", "random")


def test_train_command_scores_the_candidate_on_the_leaderboards_it_names(
    trained: tuple[Path, Path, TrainResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``leaderboards:`` in the config: the candidate is registered in the store and the named
    leaderboard runs with it next to its listed potentials. Naming leaderboards does not change the
    run folder, so the trained iterations are reused (nothing is refitted)."""
    import json

    config, results, result = trained
    board = _write(
        tmp_path, "id: tiny-board\ntitle: t\npotentials: [{spec: emt, label: EMT}]\ntasks: [al-eos]\n", "b.yaml"
    )
    named = _write(tmp_path, config.read_text() + f"leaderboards: [{board}]\n")
    monkeypatch.chdir(tmp_path)  # the report goes to ./reports/<id>/
    argv = ["train", str(named), "--results", str(results), "--executor", "serial", "--no-progress"]
    assert main(argv) == 0
    assert load_config(named).sha256 == load_config(config).sha256
    document = json.dumps(json.loads((tmp_path / "reports" / "tiny-board" / "leaderboard.json").read_text()))
    assert "tiny-al (fitted by mlip-bench)" in document and "EMT" in document
    assert (result.folder / "gamma" / "iter_002").is_dir()


def test_run_folder_follows_the_training_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fix in the training code (or another motep) trains into a new folder: old iterations are
    never resumed by new code."""
    from mlip_bench.training import pipeline

    config = load_config(_write(tmp_path, TINY))
    oracle = Oracle(config.oracle, results=tmp_path)
    before = pipeline.run_folder(config, oracle, tmp_path)
    assert pipeline.run_folder(config, oracle, tmp_path) == before
    monkeypatch.setattr(pipeline, "_motep_version", lambda: "0.0.0-other")
    assert pipeline.run_folder(config, oracle, tmp_path) != before


def test_spec_oracle_calls_run_on_its_executor(tmp_path: Path) -> None:
    """A spec oracle given an executor (``train --executor process --workers 2``) sends its calls
    to worker processes: the same labels as in-process calls, stored in the same cache."""
    from mlip_bench.engine.executors import make_executor

    cells = [bulk("Al", "fcc", a=a, cubic=True) for a in (4.0, 4.05, 4.1)]
    here = Oracle("eam:Al_mm.eam.fs", results=tmp_path / "a").label(cells)
    with make_executor("process", 2) as executor:
        oracle = Oracle("eam:Al_mm.eam.fs", results=tmp_path / "b", executor=executor)
        there = oracle.label(cells)
    assert (there.computed, there.cached) == (3, 0)
    energies = [a.get_potential_energy() for a in there.labelled]
    assert energies == pytest.approx([a.get_potential_energy() for a in here.labelled], abs=1e-10)
    assert Oracle("eam:Al_mm.eam.fs", results=tmp_path / "b").label(cells).cached == 3
