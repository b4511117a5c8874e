"""MaxVol extrapolation grade γ of the MTP adapter (``mtp:FILE;training=NAME``, adapters/active_set.py).

The MTP tests use MTP_retrain-extra-2.mtp (500 moment-basis functions) against the first 20 structures
of D_train (1872 atoms) so that building an active set takes seconds; the full paper-001 sets are
measured in the issue report, not here.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import ase.io
import numpy as np
import pytest

from mlip_bench.adapters import active_set as act
from mlip_bench.adapters.registry import load_potential
from mlip_bench.data.registry import load_dataset
from mlip_bench.errors import PotentialError
from mlip_bench.paths import using_artifact_root

SMALL_MTP = "li_al/mtp/MTP_retrain-extra-2.mtp"
N_TRAINING = 20


@pytest.fixture
def fresh_memo():
    """An empty per-process memo (other tests share theirs: the same key is built once)."""
    act.clear_memo()
    yield
    act.clear_memo()


@pytest.fixture
def build_count(monkeypatch):
    """How many active sets were built (not loaded) during the test."""
    calls = []
    original = act.build

    def counting(key, matrix):
        calls.append(key)
        return original(key, matrix)

    monkeypatch.setattr(act, "build", counting)
    return calls


@pytest.fixture(scope="module")
def small_mtp(data_root) -> Path:
    pytest.importorskip("motep")
    return data_root / SMALL_MTP


@pytest.fixture(scope="module")
def train_atoms(data_root):
    return [frame.atoms.copy() for frame in load_dataset("li-al-train", data_root=data_root).frames]


@pytest.fixture(scope="module")
def training_file(train_atoms, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("training") / "train20.extxyz"
    ase.io.write(path, train_atoms[:N_TRAINING], format="extxyz")
    return path


def squeezed(atoms, factor=0.85):
    work = atoms.copy()
    work.set_cell(work.cell * factor, scale_atoms=True)
    return work


def test_hand_built_active_set_has_the_known_grades() -> None:
    """Rows e1, e2 span the largest area of these five rows, so A = I and γ(b) = max |b_j|."""
    matrix = np.array([[0.5, 0.5], [1.0, 0.0], [-0.3, 0.2], [0.0, 1.0], [0.9, -0.8]])
    found = act.build(act.ActiveSetKey("", ("X",), ""), matrix)
    assert found.rows.tolist() == [1, 3] and found.rank == 2
    np.testing.assert_allclose(found.grades(matrix), [0.5, 1.0, 0.3, 1.0, 0.9], atol=1e-12)
    np.testing.assert_allclose(found.grades(np.array([[2.0, 0.5], [0.3, -0.4]])), [2.0, 0.4], atol=1e-12)
    with pytest.raises(PotentialError, match="at least as many atoms"):
        act.build(act.ActiveSetKey("", ("X",), ""), matrix[:1])


def test_selection_and_pseudo_inverse_equal_motep_on_a_rank_deficient_matrix() -> None:
    """MTP bases are linearly dependent (see active_set's docstring): 5 of 30 columns here are sums
    of others; motep selects by MaxVol and grades by a least-squares solve."""
    maxvol = pytest.importorskip("motep.grade.maxvol")
    rng = np.random.default_rng(3)
    base = rng.normal(size=(400, 25)) * np.exp(rng.normal(size=(400, 1)))
    matrix = np.hstack([base, base[:, :5] + base[:, 5:10]])
    found = act.build(act.ActiveSetKey("", ("X",), ""), matrix)
    reference = maxvol.MaxVol(threshold=act.THRESHOLD).run(matrix)
    assert found.rank == 25
    np.testing.assert_array_equal(found.rows, reference.indices)
    probe = np.vstack(
        [matrix[:50], 3.0 * rng.normal(size=(5, 25)) @ np.hstack([np.eye(25), np.eye(25)[:, :5] + np.eye(25)[:, 5:10]])]
    )
    expected = np.abs(np.linalg.lstsq(reference.submatrix.T, probe.T, rcond=None)[0].T).max(axis=1)
    np.testing.assert_allclose(found.grades(probe), expected, rtol=1e-8)
    assert found.grades(matrix).max() <= 1.0 + 1e-6


def test_fast_path_equals_motep_grader(small_mtp, train_atoms, training_file, data_root) -> None:
    from motep.grade.grader import Grader
    from motep.grade.setting import GradeMode

    from mlip_bench.adapters.mtp import extrapolation_grades, read_mtp_file

    validation = [f.atoms.copy() for f in load_dataset("li-al-validation", data_root=data_root).frames[:2]]
    images = [train_atoms[2], *validation, squeezed(train_atoms[3])]
    data = read_mtp_file(small_mtp)
    data.species = [3, 13]
    data.optimized = ["moment_coeffs"]
    grader = Grader(data, seed=1, mode=GradeMode.NEIGHBORHOOD)
    grader.update(train_atoms[:N_TRAINING])
    expected = grader.grade(images)

    calc = load_potential(f"mtp:{small_mtp};training={training_file}").calculator()
    for atoms, graded in zip(images, expected, strict=True):
        work = atoms.copy()
        work.calc = calc
        work.get_potential_energy()
        np.testing.assert_allclose(calc.results["uncertainties"], graded.calc.results["nbh_grades"], rtol=1e-6)
        assert calc.results["uncertainty"] == pytest.approx(graded.calc.results["MV_grade"], rel=1e-6)
    old_api = extrapolation_grades(small_mtp, train_atoms[:N_TRAINING], images)
    np.testing.assert_allclose(old_api, [g.calc.results["MV_grade"] for g in expected], rtol=1e-6)


def test_training_structure_interpolates_and_squeezed_cell_extrapolates(small_mtp, train_atoms, training_file) -> None:
    potential = load_potential(f"mtp:{small_mtp};training={training_file}")
    info = potential.info
    assert info.uncertainty is not None and info.uncertainty.measure == "extrapolation_grade"
    assert info.uncertainty.source.startswith(f"{training_file} sha256 ")
    assert info.options["training"] == str(training_file)
    calc = potential.calculator()
    grades = {}
    for name, atoms in (("inside", train_atoms[5]), ("squeezed", squeezed(train_atoms[5], 0.8))):
        work = atoms.copy()
        work.calc = calc
        energy = work.get_potential_energy()
        assert np.isfinite(energy)
        assert calc.results["uncertainties"].shape == (len(work),)
        assert calc.results["uncertainty"] == pytest.approx(calc.results["uncertainties"].max())
        grades[name] = calc.results["uncertainty"]
    assert grades["inside"] <= 1.0 + 1e-6
    assert grades["squeezed"] > 5.0  # beyond paper 002's γ_break


def test_version_and_source_follow_the_training_set(small_mtp, train_atoms, training_file, tmp_path) -> None:
    plain = load_potential(f"mtp:{small_mtp}").info
    assert plain.uncertainty is None
    graded = load_potential(f"mtp:{small_mtp};training={training_file}").info
    other_file = tmp_path / "other.extxyz"
    ase.io.write(other_file, train_atoms[: N_TRAINING + 1], format="extxyz")
    other = load_potential(f"mtp:{small_mtp};species=Li,Al;training={other_file}").info
    assert len({plain.version, graded.version, other.version}) == 3
    registered = load_potential(f"mtp:{small_mtp};training=li-al-train").info
    assert registered.uncertainty is not None
    assert registered.uncertainty.source == "li-al-train sha256 57662f6635341371"


def test_describe_builds_nothing(small_mtp, fresh_memo, build_count) -> None:
    _ = load_potential(f"mtp:{small_mtp};training=li-al-retrain").info
    assert build_count == []


def test_active_set_is_built_once_per_store(small_mtp, train_atoms, training_file, tmp_path, fresh_memo, build_count):
    spec = f"mtp:{small_mtp};training={training_file}"
    probe = squeezed(train_atoms[1], 0.9)

    def grade() -> float:
        work = probe.copy()
        work.calc = load_potential(spec).calculator()
        work.get_potential_energy()
        return float(work.calc.results["uncertainty"])

    with using_artifact_root(tmp_path):
        first = grade()
        assert grade() == first and len(build_count) == 1  # memo
        assert len(list((tmp_path / "active_sets").glob("*.npz"))) == 1
        act.clear_memo()
        assert grade() == first and len(build_count) == 1  # loaded from the artifact folder
    act.clear_memo()
    assert grade() == pytest.approx(first, rel=1e-12) and len(build_count) == 2  # no store: built again


MATRIX = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])


def test_corrupt_or_tampered_file_is_set_aside_and_recomputed(tmp_path, fresh_memo, build_count) -> None:
    key = act.ActiveSetKey("mtp", ("Li",), "train")
    with using_artifact_root(tmp_path):
        act.active_set(key, lambda: MATRIX)
        path = tmp_path / "active_sets" / f"{key.digest}.npz"
        path.write_bytes(b"not an npz at all")
        act.clear_memo()
        with pytest.warns(act.ActiveSetWarning, match=str(path)):
            found = act.active_set(key, lambda: MATRIX)
        np.testing.assert_allclose(found.inverse, np.eye(2))
        assert len(build_count) == 2
        assert path.with_name(f"{path.name}.bad-0").read_bytes() == b"not an npz at all"

        _tamper(path)
        act.clear_memo()
        with pytest.warns(act.ActiveSetWarning, match="sha256 does not match"):
            found = act.active_set(key, lambda: MATRIX)
        np.testing.assert_allclose(found.inverse, np.eye(2))
        assert len(build_count) == 3 and path.with_name(f"{path.name}.bad-1").exists()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the recomputed file is good again
            act.clear_memo()
            act.active_set(key, lambda: MATRIX)
        assert len(build_count) == 3


def _tamper(path: Path) -> None:
    """Change one number of a stored set but keep its (now wrong) checksum."""
    with np.load(path) as data:
        arrays = {name: np.array(data[name]) for name in data.files}
    arrays["inverse"][0, 0] += 1.0
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_foreign_file_is_not_used(tmp_path, fresh_memo) -> None:
    mine, theirs = act.ActiveSetKey("a", ("Li",), "t1"), act.ActiveSetKey("a", ("Li",), "t2")
    with using_artifact_root(tmp_path):
        act.active_set(theirs, lambda: 2.0 * MATRIX)
        folder = tmp_path / "active_sets"
        (folder / f"{theirs.digest}.npz").rename(folder / f"{mine.digest}.npz")
        act.clear_memo()
        with pytest.warns(act.ActiveSetWarning, match="another potential or training set"):
            found = act.active_set(mine, lambda: MATRIX)
    np.testing.assert_allclose(found.inverse, np.eye(2))


def test_spec_errors_name_the_spec_and_field(small_mtp, tmp_path) -> None:
    with pytest.raises(PotentialError, match=r"mtp:.*training=no-such-set.*field 'training'.*no-such-set"):
        _ = load_potential(f"mtp:{small_mtp};training=no-such-set").info
    with pytest.raises(PotentialError, match="field 'training'"):
        _ = load_potential(f"mtp:{small_mtp};training={tmp_path / 'missing.extxyz'}").info
    with pytest.raises(PotentialError, match=r"unknown option 'training='"):
        _ = load_potential(f"mtp:{small_mtp};training=").info
    with pytest.raises(PotentialError, match=r"unknown option 'trainig=li-al-train'"):
        _ = load_potential(f"mtp:{small_mtp};trainig=li-al-train").info


def test_too_small_training_set_is_a_potential_error(small_mtp, train_atoms, tmp_path) -> None:
    tiny = tmp_path / "tiny.extxyz"
    ase.io.write(tiny, train_atoms[8:9], format="extxyz")  # 54 atoms for 500 basis functions
    with pytest.raises(PotentialError, match="at least as many atoms"):
        load_potential(f"mtp:{small_mtp};training={tiny}").calculator()
