"""Dataset loaders: extxyz, the registry (checksums, missing data), Hugging Face I/O, frames,
and ``mlip-bench data convert``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from mlip_bench.cli import main
from mlip_bench.data import registry
from mlip_bench.data.extxyz import read_extxyz, sha256_of
from mlip_bench.data.frames import Dataset, make_frame
from mlip_bench.data.registry import (
    fingerprint,
    load_dataset,
    load_file,
    registered_datasets,
)
from mlip_bench.errors import ChecksumError, DataError, DatasetNotFoundError

CU = "mlearn-cu-test"
CU_FILE = "cu_test.extxyz.gz"
#: frame 0 of cu_test: 107 atoms -> lines 0..108; frame 1 starts at line 109
FRAME0_LINES = 109

#: frame 0's raw 3x3 stress in the file, row by row (eV/Å³)
FRAME0_STRESS_3X3 = [
    [-0.01853360350194919, 0.000170708095755032, -0.0002030198267639083],
    [0.000170708095755032, -0.024913115041005598, -0.0002684901367398607],
    [-0.0002030198267639083, -0.0002684901367398607, -0.021168719072348605],
]


@pytest.fixture(scope="module")
def cu(data_root: Path) -> Dataset:
    return load_dataset(CU, data_root=data_root)


def _bad_entry(name: str = CU):
    good = registered_datasets()
    return {**good, name: dataclasses.replace(good[name], sha256="0" * 64)}


# --- extxyz -------------------------------------------------------------------------------


def test_registered_cu_test_by_name(cu: Dataset, data_root: Path):
    assert cu.id == CU
    assert len(cu) == 31
    ids = [f.id for f in cu.frames]
    assert ids[:3] == ["cu_test:0", "cu_test:1", "cu_test:2"]
    assert ids[-1] == "cu_test:30"
    assert len(set(ids)) == 31
    assert cu.elements == frozenset({"Cu"})
    for frame in cu.frames:
        assert frame.stress_eV_per_A3 is not None and frame.stress_eV_per_A3.shape == (6,)
        assert frame.forces_eV_per_A is not None and frame.forces_eV_per_A.shape == (frame.n_atoms, 3)
        assert frame.energy_eV is not None and np.isfinite(frame.energy_eV)
        assert frame.atoms.calc is None
    first = cu.frames[0]
    assert first.n_atoms == 107
    assert first.energy_eV == pytest.approx(-426.34693886, abs=1e-8)
    # Voigt xx yy zz yz xz xy of the file's 3x3 tensor, with the registry's yz <-> xz correction
    s = FRAME0_STRESS_3X3
    expected = [s[0][0], s[1][1], s[2][2], s[0][2], s[1][2], s[0][1]]
    np.testing.assert_allclose(first.stress_eV_per_A3, expected, rtol=1e-12)
    np.testing.assert_allclose(first.forces_eV_per_A[0], [-0.45379089, 1.30609493, -0.42509356])
    assert first.labels["group"] == "Vacancy"
    assert "energy" not in first.labels and "stress" not in first.labels
    prov = cu.provenance
    assert prov.sha256 == registered_datasets()[CU].sha256
    assert Path(prov.path) == data_root / "mlearn_li_cu" / CU_FILE
    assert "Zuo" in prov.citation and prov.license == "BSD-3-Clause"


def test_read_extxyz_plain_file_ids_from_stem(tmp_path: Path, cu_test_lines: list[str]):
    path = tmp_path / "two.frames.extxyz"
    path.write_text("".join(cu_test_lines[: 2 * FRAME0_LINES]))
    data = read_extxyz(path)
    assert data.id == "two"
    assert [f.id for f in data.frames] == ["two:0", "two:1"]
    assert data.provenance.sha256 == sha256_of(path)


def test_read_extxyz_missing_file(tmp_path: Path):
    path = tmp_path / "absent.extxyz"
    with pytest.raises(DataError, match=r"absent\.extxyz: no such dataset file"):
        read_extxyz(path)


def test_read_extxyz_empty_file(tmp_path: Path):
    path = tmp_path / "empty.extxyz"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.extxyz: file holds no frames"):
        read_extxyz(path)


def test_truncated_extxyz_names_file_and_frame(tmp_path: Path, cu_test_lines: list[str]):
    path = tmp_path / "cut.extxyz"
    path.write_text("".join(cu_test_lines[: FRAME0_LINES + 50]))  # frame 1 cut after 48 atoms
    with pytest.raises(DataError) as info:
        read_extxyz(path)
    message = str(info.value)
    assert str(path) in message
    assert "frame 1" in message


def test_truncated_in_first_frame(tmp_path: Path, cu_test_lines: list[str]):
    path = tmp_path / "cut0.extxyz"
    path.write_text("".join(cu_test_lines[:40]))
    with pytest.raises(DataError, match=r"cut0\.extxyz: cannot read the first frame"):
        read_extxyz(path)


# --- frames -------------------------------------------------------------------------------


def _atoms():
    return bulk("Cu", "fcc", a=3.6, cubic=True)  # 4 atoms


def test_make_frame_wrong_forces_shape_names_field():
    # a bad label costs its frame only: kept as None, the reason recorded under the field's name
    frame = make_frame(source="x.extxyz", index=2, frame_id="s7", atoms=_atoms(), energy=-1, forces=np.zeros((4, 2)))
    assert frame.forces_eV_per_A is None and frame.energy_eV == -1.0
    message = frame.problems["forces"]
    assert "x.extxyz: frame 2 (id 's7')" in message
    assert "'forces'" in message and "(4, 2)" in message and "(4, 3)" in message
    assert frame.problem(("forces",)) == message and frame.problem(("energy",)) == ""


def test_make_frame_wrong_forces_count_names_field():
    frame = make_frame(source="x", index=0, frame_id="a", atoms=_atoms(), forces=np.zeros((3, 3)))
    assert "field 'forces' has shape (3, 3), expected (4, 3)" in frame.problems["forces"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"energy": float("nan")}, "energy"),
        ({"forces": np.full((4, 3), np.inf)}, "forces"),
        ({"stress": np.zeros(5)}, "stress"),
        ({"stress": [np.nan] * 6}, "stress"),
    ],
)
def test_make_frame_bad_values_name_field(kwargs, field):
    frame = make_frame(source="y.extxyz", index=1, frame_id="b", atoms=_atoms(), **kwargs)
    assert list(frame.problems) == [field]
    assert frame.problems[field].startswith(f"y.extxyz: frame 1 (id 'b'): field '{field}'")
    attribute = {"energy": "energy_eV", "forces": "forces_eV_per_A", "stress": "stress_eV_per_A3"}[field]
    assert getattr(frame, attribute) is None


def test_make_frame_stress_tensor_to_voigt_and_calc_dropped():
    tensor = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]])
    atoms = _atoms()
    atoms.calc = object()  # make_frame must not keep a calculator
    for stress in (tensor, tensor.ravel()):
        frame = make_frame(source="z", index=0, frame_id="c", atoms=atoms, energy=-1, stress=stress)
        np.testing.assert_array_equal(frame.stress_eV_per_A3, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        assert frame.energy_eV == -1.0 and isinstance(frame.energy_eV, float)
        assert frame.atoms.calc is None
        assert frame.forces_eV_per_A is None


# --- registry -----------------------------------------------------------------------------


def test_registry_entries():
    entries = registered_datasets()
    assert CU in entries
    entry = entries[CU]
    assert entry.path == "mlearn_li_cu/cu_test.extxyz.gz"
    assert entry.group_label == "group"
    assert len(entry.sha256) == 64
    assert {"mlearn-li-test", "li-al-validation"} <= set(entries)


def test_registered_checksums_match_shared_data(data_root: Path):
    entries = registered_datasets()
    for entry in entries.values():
        if entry.members:  # a composite: its members are file datasets checked here too
            assert all(m in entries and not entries[m].members for m in entry.members), entry.id
            continue
        path = data_root / entry.path
        assert path.is_file(), f"{entry.id}: {path} missing"
        assert sha256_of(path) == entry.sha256, entry.id


def test_registry_file_with_missing_field(tmp_path: Path):
    bad = tmp_path / "datasets.yaml"
    bad.write_text("datasets:\n  broken:\n    path: a.extxyz\n    source: s\n")
    with pytest.raises(DataError) as info:
        registered_datasets(bad)
    message = str(info.value)
    assert str(bad) in message and "'broken'" in message and "sha256" in message


def test_wrong_checksum_raises_naming_file(monkeypatch: pytest.MonkeyPatch, data_root: Path):
    monkeypatch.setattr(registry, "registered_datasets", lambda *a, **k: _bad_entry())
    with pytest.raises(ChecksumError) as info:
        load_dataset(CU, data_root=data_root)
    message = str(info.value)
    assert str(data_root / "mlearn_li_cu" / CU_FILE) in message
    assert "0" * 64 in message and registered_datasets()[CU].sha256 in message
    assert CU in message
    assert isinstance(info.value, DataError)


def test_missing_data_root_says_how_to_get_it(tmp_path: Path):
    root = tmp_path / "nothing"
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(CU, data_root=root)
    message = str(info.value)
    assert str(root) in message and CU_FILE in message
    assert "--data-root" in message and "MLIP_BENCH_DATA" in message
    assert "materialsvirtuallab/mlearn" in message  # where to get it


def test_no_data_root_at_all(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry, "resolve_data_root", lambda explicit=None: None)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(CU)
    message = str(info.value)
    assert "no data root" in message and "--data-root" in message and "MLIP_BENCH_DATA" in message
    assert "mlearn_li_cu/cu_test.extxyz.gz" in message


def test_env_var_data_root(monkeypatch: pytest.MonkeyPatch, data_root: Path, tmp_path: Path):
    monkeypatch.setenv("MLIP_BENCH_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetNotFoundError, match="elsewhere"):
        load_dataset(CU)
    monkeypatch.setenv("MLIP_BENCH_DATA", str(data_root))
    assert len(load_dataset(CU)) == 31


def test_unknown_name_lists_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        load_file("no-such-dataset")
    message = str(info.value)
    assert "'no-such-dataset'" in message and CU in message and "nor an existing file" in message


def test_fingerprint(tmp_path: Path):
    assert fingerprint(CU) == registered_datasets()[CU].sha256
    one = tmp_path / "a.extxyz"
    one.write_text("x")
    assert fingerprint(str(one)) == sha256_of(one)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "b.parquet").write_text("b")
    (folder / "a.parquet").write_text("a")
    assert fingerprint(str(folder)) == f"{sha256_of(folder / 'a.parquet')},{sha256_of(folder / 'b.parquet')}"
    assert fingerprint("someone/some-dataset") == "unresolved:someone/some-dataset"


# --- Hugging Face -------------------------------------------------------------------------


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert fa.id == fb.id
        assert fa.energy_eV == fb.energy_eV
        np.testing.assert_array_equal(fa.forces_eV_per_A, fb.forces_eV_per_A)
        np.testing.assert_array_equal(fa.stress_eV_per_A3, fb.stress_eV_per_A3)
        assert dict(fa.labels) == dict(fb.labels)
        np.testing.assert_array_equal(fa.atoms.numbers, fb.atoms.numbers)
        np.testing.assert_array_equal(fa.atoms.positions, fb.atoms.positions)
        np.testing.assert_array_equal(np.asarray(fa.atoms.cell), np.asarray(fb.atoms.cell))
        np.testing.assert_array_equal(fa.atoms.pbc, fb.atoms.pbc)


def test_parquet_round_trip(cu: Dataset, tmp_path: Path, hf_cache: Path):
    from mlip_bench.data.hf import read_hf, write_hf

    path = write_hf(cu.frames, tmp_path / "x.parquet")
    assert path == tmp_path / "x.parquet" and path.is_file()
    back = read_hf(path)
    assert back.id == "x"
    _assert_same(cu, back)
    # an unregistered parquet path also loads through the registry front door
    _assert_same(cu, load_dataset(str(path)))


def test_save_to_disk_round_trip(cu: Dataset, tmp_path: Path, hf_cache: Path):
    from mlip_bench.data.hf import read_hf, write_hf

    folder = write_hf(cu.frames[:5], tmp_path / "saved")
    assert (folder / "dataset_info.json").is_file()
    back = read_hf(folder)
    assert back.id == "saved"
    _assert_same(Dataset(cu.id, cu.frames[:5], cu.provenance), back)


def test_parquet_row_with_wrong_forces_names_field(cu: Dataset, tmp_path: Path, hf_cache: Path):
    datasets = pytest.importorskip("datasets")
    from mlip_bench.data.hf import frame_to_row, read_hf

    rows = [frame_to_row(f) for f in cu.frames[:3]]
    rows[1]["forces"] = rows[1]["forces"][:-3]  # one atom short
    path = tmp_path / "bad.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    frames = read_hf(path).frames  # the bad row costs its frame only
    assert [f.forces_eV_per_A is None for f in frames] == [False, True, False]
    message = frames[1].problems["forces"]
    assert str(path) in message and "frame 1" in message and "'cu_test:1'" in message
    assert "field 'forces' has shape (106, 3), expected (107, 3)" in message


def test_parquet_row_missing_required_column(cu: Dataset, tmp_path: Path, hf_cache: Path):
    datasets = pytest.importorskip("datasets")
    from mlip_bench.data.hf import frame_to_row, read_hf

    rows = [frame_to_row(f) for f in cu.frames[:2]]
    for row in rows:
        del row["cell"]
    path = tmp_path / "nocell.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    with pytest.raises(DataError, match=r"nocell\.parquet: row 0: required column 'cell'"):
        read_hf(path)


def test_not_a_dataset_path(tmp_path: Path, hf_cache: Path):
    from mlip_bench.data.hf import read_hf

    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: not a parquet file or a datasets folder"):
        read_hf(path)
    empty = tmp_path / "emptydir"
    empty.mkdir()
    with pytest.raises(DataError, match=r"emptydir: folder holds no \.parquet files"):
        read_hf(empty)


def test_hub_id_offline_gives_data_error(monkeypatch: pytest.MonkeyPatch, hf_cache: Path, tmp_path: Path):
    import datasets
    import huggingface_hub.constants

    from mlip_bench.data.hf import read_hf

    # the env var is read when these packages are imported, so set their flags too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    hub_id = "nonexistent-user/nonexistent-dataset"
    for loader in (read_hf, load_file, load_dataset):
        with pytest.raises(DataError) as info:
            loader(hub_id)
        message = str(info.value)
        assert message.startswith(f"{hub_id}: cannot load as a Hugging Face dataset")
        assert "needs a network" in message


def test_extxyz_round_trip_preserves_ids_and_labels(cu: Dataset, tmp_path: Path):
    from mlip_bench.data.extxyz import write_extxyz

    path = write_extxyz(cu.frames[:3], tmp_path / "three.extxyz")
    back = read_extxyz(path)
    assert [f.id for f in back.frames] == ["cu_test:0", "cu_test:1", "cu_test:2"]
    for fa, fb in zip(cu.frames[:3], back.frames, strict=True):
        assert fb.energy_eV == fa.energy_eV
        # the id travels in info['id'] and must come back as the frame id, not as an extra label
        assert dict(fb.labels) == dict(fa.labels)


@pytest.mark.parametrize("value", ["\n{", "a\rb", "x\u2028y"])
def test_a_label_with_a_line_break_is_refused_before_writing(cu: Dataset, tmp_path: Path, value: str):
    """A line break would end the comment line in the file and break every frame after it (found by
    the hypothesis round-trip test)."""
    import dataclasses

    from mlip_bench.data.extxyz import write_extxyz

    frame = dataclasses.replace(cu.frames[0], labels={**cu.frames[0].labels, "note": value})
    with pytest.raises(DataError, match=r"label 'note'.*would not read back"):
        write_extxyz([frame], tmp_path / "broken.extxyz")
    assert not (tmp_path / "broken.extxyz").exists()


# --- mlip-bench data convert --------------------------------------------------------------


def test_cli_convert_extxyz_parquet_extxyz(
    cu: Dataset, data_root: Path, tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]
):
    parquet = tmp_path / "cu.parquet"
    xyz = tmp_path / "cu_back.extxyz"
    assert main(["data", "convert", CU, str(parquet), "--data-root", str(data_root)]) == 0
    assert f"wrote 31 structures to {parquet}" in capsys.readouterr().err
    assert main(["data", "convert", str(parquet), str(xyz)]) == 0
    back = read_extxyz(xyz)
    assert [f.id for f in back.frames] == [f.id for f in cu.frames]
    np.testing.assert_array_equal([f.energy_eV for f in back.frames], [f.energy_eV for f in cu.frames])
    for fa, fb in zip(cu.frames, back.frames, strict=True):
        np.testing.assert_allclose(fb.forces_eV_per_A, fa.forces_eV_per_A, rtol=1e-12)
        np.testing.assert_allclose(fb.stress_eV_per_A3, fa.stress_eV_per_A3, rtol=1e-12)
        assert fb.labels["group"] == fa.labels["group"]


def test_cli_convert_missing_source_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["data", "convert", str(tmp_path / "absent.extxyz"), str(tmp_path / "out.parquet")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("mlip-bench: error:") and "absent.extxyz" in err


@pytest.mark.parametrize("name", ["mlearn-cu-test", "mlearn-li-test", "mlearn-li-train"])
def test_reference_shear_stress_sits_where_the_cell_is_sheared(name, data_root) -> None:
    """A cell sheared in xz (yz) must carry its shear stress in the xz (yz) Voigt slot. The Cu test
    file has the two swapped; the registry's stress_order corrects it on load."""
    checked = 0
    for frame in load_dataset(name, data_root=data_root).frames:
        cell = np.asarray(frame.atoms.cell)
        xz, yz = abs(cell[0, 2]) + abs(cell[2, 0]), abs(cell[1, 2]) + abs(cell[2, 1])
        s = frame.stress_eV_per_A3
        if xz > 0.05 and yz < 0.01:
            assert abs(s[4]) > abs(s[3]), frame.id
            checked += 1
        elif yz > 0.05 and xz < 0.01:
            assert abs(s[3]) > abs(s[4]), frame.id
            checked += 1
    assert checked >= 1


def test_duplicate_ids_are_rejected(tmp_path, data_root) -> None:
    import ase.io

    from mlip_bench.data.extxyz import frame_to_atoms

    frames = load_dataset("mlearn-cu-test", data_root=data_root).frames[:2]
    atoms = [frame_to_atoms(f) for f in frames]
    for a in atoms:
        a.info["id"] = "same"
    path = tmp_path / "dup.extxyz"
    ase.io.write(path, atoms, format="extxyz")
    with pytest.raises(DataError, match=r"frames 0 and 1 share the id 'same'"):
        load_file(path)


def test_virial_is_read_as_stress(tmp_path) -> None:
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    virial = " ".join(str(v) for v in np.diag([1.0, 2.0, 3.0]).ravel())
    header = (
        f'Lattice="3.6 0 0 0 3.6 0 0 0 3.6" Properties=species:S:1:pos:R:3 energy=-1.0 virial="{virial}" pbc="T T T"'
    )
    lines = ["4", header] + [f"Cu {x} {y} {z}" for x, y, z in atoms.positions]
    path = tmp_path / "virial.extxyz"
    path.write_text("\n".join(lines) + "\n")
    frame = read_extxyz(path).frames[0]
    np.testing.assert_allclose(frame.stress_eV_per_A3[:3], -np.array([1.0, 2.0, 3.0]) / atoms.get_volume())


def test_composite_dataset_concatenates_its_members(data_root: Path):
    from mlip_bench.data.registry import fingerprint, load_dataset

    both = load_dataset("li-al-test", data_root=data_root)
    a = load_dataset("li-al-test-a", data_root=data_root)
    b = load_dataset("li-al-test-b", data_root=data_root)
    assert [f.id for f in both.frames] == [f.id for f in a.frames] + [f.id for f in b.frames]
    assert fingerprint("li-al-test") == f"{fingerprint('li-al-test-a')}+{fingerprint('li-al-test-b')}"
    assert "test_a" in both.provenance.path and "test_b" in both.provenance.path
