"""MTP fitting through motep, model cards, committees and the Bayesian linear model (issue 12).

Small fits only (levels 2-4 on a couple of dozen Li-Al D_train structures of <= 58 atoms): the
level-16 measurement is tests/benchmarks/fit_li_al_level16.py.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

pytest.importorskip("motep")

from mlip_bench.adapters.registry import load_potential
from mlip_bench.adapters.uncertainty import BayesianLinearModel, bayesian_energy_std
from mlip_bench.errors import DataError, PotentialError
from mlip_bench.training import bayesian, committee_fit, fit_mtp, model_card

SPECIES = ("Li", "Al")
#: alpha_scalar_moments of MLIP-2's untrained bases, levels 2..24 (motep's jax conversion map)
BASIS_SIZES = (1, 2, 5, 9, 16, 29, 52, 92, 163, 288, 500, 864)


@pytest.fixture(scope="module")
def small_train(data_root: Path) -> list[Atoms]:
    """24 D_train structures of <= 58 atoms: every mixed Li-Al one (18) and 6 pure ones."""
    frames = ase.io.read(data_root / "li_al" / "train.extxyz.gz", ":")
    small = [a for a in frames if len(a) <= 58]
    mixed = [a for a in small if len(set(a.numbers)) == 2]
    pure = [a for a in small if len(set(a.numbers)) == 1]
    return mixed + pure[:: max(len(pure) // 6, 1)][:6]


def settings(**changes: Any) -> fit_mtp.MtpFitSettings:
    base = fit_mtp.MtpFitSettings(level=4, species=SPECIES, min_dist_A=1.7, max_iterations=15)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def fitted(small_train: list[Atoms], tmp_path_factory: pytest.TempPathFactory) -> fit_mtp.MtpFit:
    return fit_mtp.fit_mtp(small_train, settings(), workdir=tmp_path_factory.mktemp("fit"))


def energies(spec: str, frames: list[Atoms]) -> np.ndarray:
    calc = load_potential(spec).calculator()
    out = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = calc
        out.append(work.get_potential_energy())
    return np.array(out)


def per_atom_rmse_meV(predicted: np.ndarray, frames: list[Atoms]) -> float:
    n = np.array([len(a) for a in frames])
    reference = np.array([a.get_potential_energy() for a in frames])
    return 1000.0 * float(np.sqrt(np.mean(((predicted - reference) / n) ** 2)))


def composition_rmse_meV(frames: list[Atoms]) -> float:
    """RMSE of the best composition-only model (a constant energy per element)."""
    counts = np.array([[np.sum(a.numbers == z) for z in (3, 13)] for a in frames], float)
    reference = np.array([a.get_potential_energy() for a in frames])
    coeffs = np.linalg.lstsq(counts, reference, rcond=None)[0]
    return per_atom_rmse_meV(counts @ coeffs, frames)


@pytest.mark.parametrize("level", fit_mtp.LEVELS)
def test_untrained_templates_have_mlip_basis_sizes(level: int, tmp_path: Path) -> None:
    from motep.io.mlip.mtp import read_mtp

    path = fit_mtp.write_untrained(settings(level=level, cutoff_A=5.5, radial_basis_size=6), tmp_path / "u.mtp")
    data = read_mtp(path)
    assert data.alpha_scalar_moments == BASIS_SIZES[fit_mtp.LEVELS.index(level)]
    assert (data.species_count, float(data.radial_basis.max), int(data.radial_basis.size)) == (2, 5.5, 6)
    assert data.moment_coeffs is None and data.radial_coeffs is None


def test_fit_beats_composition_model_and_reports_its_error(fitted: fit_mtp.MtpFit, small_train: list[Atoms]) -> None:
    predicted = energies(fitted.spec, small_train)
    rmse = per_atom_rmse_meV(predicted, small_train)
    assert rmse == pytest.approx(fitted.energy_rmse_meV_per_atom, rel=1e-6)
    assert rmse < 0.5 * composition_rmse_meV(small_train)
    assert 0.0 < fitted.force_rmse_eV_per_A < 1.0
    assert fitted.n_structures == len(small_train)
    assert fitted.training_sha256 == fit_mtp.training_sha256(small_train)


def test_written_file_is_mlip2_format_and_matches_motep(fitted: fit_mtp.MtpFit, small_train: list[Atoms]) -> None:
    from motep.calculator import make_calculator
    from motep.io.mlip.mtp import read_mtp

    text = fitted.mtp_path.read_text()
    assert "\tmin_dist = " in text and "\tmax_dist = " in text and "radial_basis_size = " in text
    data = read_mtp(fitted.mtp_path)
    data.species = [3, 13]
    theirs = []
    for atoms in small_train[:5]:
        work = atoms.copy()
        work.calc = make_calculator(data, engine="cext")
        theirs.append(work.get_potential_energy())
    assert np.allclose(energies(fitted.spec, small_train[:5]), theirs, rtol=0, atol=1e-9)


def test_fit_is_deterministic_per_seed(small_train: list[Atoms], tmp_path: Path) -> None:
    quick = settings(level=2, max_iterations=5)
    a = fit_mtp.fit_mtp(small_train[:10], quick, workdir=tmp_path / "a")
    b = fit_mtp.fit_mtp(small_train[:10], quick, workdir=tmp_path / "b")
    # level 6 has a second radial function, drawn at random (level 4's one is set by least squares)
    c = fit_mtp.fit_mtp(small_train[:10], replace(quick, level=6, seed=1), workdir=tmp_path / "c")
    d = fit_mtp.fit_mtp(small_train[:10], replace(quick, level=6, seed=2), workdir=tmp_path / "d")
    assert a.mtp_path.read_text() == b.mtp_path.read_text()
    assert c.mtp_path.read_text() != d.mtp_path.read_text()


def test_refit_from_initial_and_subset(fitted: fit_mtp.MtpFit, small_train: list[Atoms], tmp_path: Path) -> None:
    again = fit_mtp.fit_mtp(
        small_train, settings(max_iterations=3, nonlinear_structures=6), workdir=tmp_path, initial=fitted.mtp_path
    )
    assert again.energy_rmse_meV_per_atom <= fitted.energy_rmse_meV_per_atom * 1.05
    with pytest.raises(PotentialError, match="max_dist"):
        fit_mtp.fit_mtp(small_train, settings(cutoff_A=6.0), workdir=tmp_path / "x", initial=fitted.mtp_path)
    with pytest.raises(PotentialError, match="level"):
        fit_mtp.fit_mtp(small_train, settings(level=6), workdir=tmp_path / "y", initial=fitted.mtp_path)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"level": 7}, "level"),
        ({"level": 26}, "level"),
        ({"species": ()}, "species"),
        ({"species": ("Li", "Li")}, "species"),
        ({"species": ("Li", "Xx")}, "species"),
        ({"min_dist_A": 5.0}, "min_dist_A"),
        ({"force_weight": -1.0}, "force_weight"),
        ({"energy_weight": 0.0}, "energy_weight"),
        ({"max_iterations": 0}, "max_iterations"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PotentialError, match=field):
        settings(**changes)


def test_bad_structures_raise_data_error(small_train: list[Atoms], tmp_path: Path) -> None:
    bare = small_train[0].copy()
    with pytest.raises(DataError, match=r"structure 1 .*no reference energy"):
        fit_mtp.fit_mtp([small_train[1], bare], settings(), workdir=tmp_path)
    with pytest.raises(DataError, match=r"element\(s\) \['Al'\] not in species"):
        fit_mtp.fit_mtp(small_train[:2], settings(species=("Li",)), workdir=tmp_path)
    with pytest.raises(DataError, match="no training structures"):
        fit_mtp.fit_mtp([], settings(), workdir=tmp_path)
    broken = small_train[0].copy()
    broken.calc = SinglePointCalculator(broken, energy=float("nan"))
    with pytest.raises(DataError, match="energy is not finite"):
        fit_mtp.fit_mtp([broken], settings(), workdir=tmp_path)


def test_training_checksum_follows_content(small_train: list[Atoms]) -> None:
    first = fit_mtp.training_sha256(small_train[:3])
    assert first == fit_mtp.training_sha256(list(small_train[:3]))
    moved = small_train[0].copy()
    moved.calc = SinglePointCalculator(moved, **small_train[0].calc.results)
    moved.positions[0, 0] += 1e-9
    assert fit_mtp.training_sha256([moved, *small_train[1:3]]) != first
    assert fit_mtp.training_sha256(small_train[1:3]) != first


def test_model_card_round_trip_and_errors(fitted: fit_mtp.MtpFit, tmp_path: Path) -> None:
    oracle = {"code": "VASP", "version": "5.4", "settings": {"encut_eV": 500, "kpoints": [4, 4, 4]}}
    card = model_card.card_from_fit(fitted, oracle=oracle, validation_errors={"val": 3.5}, notes="a: b")
    path = model_card.write_card(card, tmp_path / "card.yaml")
    back = model_card.read_card(path)
    assert back == card
    assert back.training_sha256 == fitted.training_sha256 and back.level == 4 and back.species == SPECIES
    assert back.notes == "a: b" and back.oracle["settings"]["kpoints"] == [4, 4, 4]
    text = path.read_text()
    path.write_text(text.replace("level: 4", "level: four"))
    with pytest.raises(DataError, match=r"card.yaml: field 'level'"):
        model_card.read_card(path)
    path.write_text(text.replace("schema: mlip-bench/model-card/1", "schema: other"))
    with pytest.raises(DataError, match="field 'schema'"):
        model_card.read_card(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="YAML mapping"):
        model_card.read_card(path)
    with pytest.raises(DataError, match="cannot read"):
        model_card.read_card(tmp_path / "missing.yaml")


def test_committee_spec_loads_and_spreads(small_train: list[Atoms], tmp_path: Path) -> None:
    found = committee_fit.fit_committee(small_train[:12], settings(level=6, max_iterations=5), workdir=tmp_path, size=2)
    assert [f.settings.seed for f in found.fits] == [0, 1]
    calc = load_potential(found.spec).calculator()
    work = small_train[15].copy()
    work.calc = calc
    work.get_potential_energy()
    assert calc.results["uncertainty"] > 0.0
    with pytest.raises(PotentialError, match="at least two"):
        committee_fit.fit_committee(small_train, settings(), workdir=tmp_path, size=1)
    with pytest.raises(PotentialError, match="one per member"):
        committee_fit.fit_committee(small_train, settings(), workdir=tmp_path, size=2, initials=[Path("a")])


def test_mtp_energy_is_linear_in_its_features(fitted: fit_mtp.MtpFit, small_train: list[Atoms]) -> None:
    calc = bayesian._calculator(fitted.mtp_path, SPECIES)
    coeffs = np.concatenate([calc.mtp_data.moment_coeffs, calc.mtp_data.species_coeffs])
    for atoms in small_train[:4]:
        features = bayesian.atom_features(calc, atoms, SPECIES)
        work = atoms.copy()
        work.calc = calc
        assert features.sum(axis=0) @ coeffs == pytest.approx(work.get_potential_energy(), abs=1e-8)


def test_bayesian_model_implements_protocol(fitted: fit_mtp.MtpFit, small_train: list[Atoms]) -> None:
    model = bayesian.fit_bayesian(fitted.mtp_path, SPECIES, small_train)
    assert isinstance(model, BayesianLinearModel)
    p = len(model.coefficients)
    assert model.covariance.shape == (p, p) and np.all(np.linalg.eigvalsh(model.covariance) > -1e-12)
    sigma = bayesian_energy_std(model, small_train[0])
    assert sigma >= model.noise_std_eV_per_atom > 0.0
    # far from the data (a compressed cell) the posterior is wider than on a training structure
    squeezed = small_train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.85, scale_atoms=True)
    assert bayesian_energy_std(model, squeezed) > sigma
    # the posterior mean stays a refinement of the MTP: its training error is no worse
    reference = np.array([a.get_potential_energy() / len(a) for a in small_train])
    posterior = np.array([model.energy_per_atom(a) for a in small_train])
    assert 1000 * np.sqrt(np.mean((posterior - reference) ** 2)) <= fitted.energy_rmse_meV_per_atom * 1.01
    with pytest.raises(DataError, match="at least 3"):
        bayesian.fit_bayesian(fitted.mtp_path, SPECIES, small_train[:2])


def test_evidence_regression_recovers_weights_and_noise() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) * np.array([1.0, 10.0, 0.1, 1.0, 100.0])
    w = np.array([0.5, -0.2, 3.0, 0.0, 0.01])
    y = x @ w + rng.normal(scale=0.05, size=400)
    mean, cov, alpha, beta = bayesian.evidence_regression(x, y)
    assert np.allclose(mean, w, atol=4 * np.sqrt(np.diag(cov)) + 1e-3)
    assert 1 / np.sqrt(beta) == pytest.approx(0.05, rel=0.15)
    assert alpha > 0


def test_calibration_metric_on_gaussian_errors() -> None:
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.5, 2.0, 4000)
    error = rng.normal(scale=sigma)
    found = bayesian.calibration(sigma, error)
    assert found["within_1sigma"] == pytest.approx(0.683, abs=0.03)
    assert found["within_2sigma"] == pytest.approx(0.954, abs=0.02)
    assert found["rms_z"] == pytest.approx(1.0, abs=0.05)
    assert found["slope"] == pytest.approx(np.sqrt(2 / np.pi), abs=0.05)
    overconfident = bayesian.calibration(sigma / 4, error)
    assert overconfident["within_1sigma"] < 0.4 and overconfident["rms_z"] > 3
    assert np.isnan(bayesian.calibration([1.0], [np.nan])["pearson"])


def test_templates_are_gzip_of_mlip_text() -> None:
    from importlib.resources import files

    raw = files("mlip_bench.training").joinpath("mtp_templates", "16.mtp.gz").read_bytes()
    assert gzip.decompress(raw).decode().startswith("MTP\n")
