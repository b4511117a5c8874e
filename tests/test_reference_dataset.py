"""The dataset half of the reference role (engine/reference_dataset.py, engine/labelling.py): a
calculator labels structures (a file or a dataset task's), the suite's loaders read the file back
with the same numbers as a direct calculation, the work is cached per chunk, failures are listed and
never written, and the provenance sidecar is what each frame points at."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk

from mlip_bench.data.frames import Frame
from mlip_bench.data.registry import load_dataset, load_file
from mlip_bench.engine.executors import ProcessExecutor, SerialExecutor
from mlip_bench.engine.reference import make_reference
from mlip_bench.engine.reference_dataset import (
    PROVENANCE_LABEL,
    SPEC_LABEL,
    labels_sha256,
    make_reference_dataset,
    provenance_path,
    read_reference_dataset,
)
from mlip_bench.engine.runner import Cell, RunOptions, run_cells
from mlip_bench.engine.spec import load_task
from mlip_bench.engine.store import ResultStore
from mlip_bench.errors import ChecksumError, DataError, EvaluationError, TaskSpecError

asap3 = pytest.importorskip("asap3")


def _structures(n: int = 4) -> list[Atoms]:
    """`n` rattled, strained Al cells of 2-8 atoms, each with an id and a group label."""
    out = []
    for i in range(n):
        atoms = bulk("Al", "fcc", a=4.05 * (0.97 + 0.02 * i), cubic=i % 2 == 0).repeat((2, 1, 1))
        atoms.rattle(0.05, seed=i)
        atoms.info.update({"id": f"al-{i}", "group": "strained" if i % 2 else "rattled"})
        out.append(atoms)
    return out


def _file(tmp_path: Path, name: str, images: list[Atoms]) -> Path:
    import ase.io

    path = tmp_path / name
    ase.io.write(str(path), images)
    return path


def _direct(atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """asap3's EMT called directly, outside the suite: energy, forces, stress (Voigt)."""
    work = atoms.copy()
    work.calc = asap3.EMT()
    return work.get_potential_energy(), work.get_forces(), work.get_stress()


def _array(value: np.ndarray | None) -> np.ndarray:
    assert value is not None
    return value


def _label(tmp_path: Path, out: Path, spec: str = "emt", **kwargs):
    kwargs.setdefault("executor", SerialExecutor())
    return make_reference_dataset(spec, out_path=out, results_dir=tmp_path / "results", **kwargs)


def test_structures_file_labelled_reads_back_with_the_numbers_of_a_direct_calculation(tmp_path: Path) -> None:
    images = _structures()
    source = _file(tmp_path, "generated.traj", images)  # not extxyz: read through ase.io
    out = tmp_path / "labelled.extxyz.gz"
    result = _label(tmp_path, out, structures=source)
    written, prov = read_reference_dataset(out)
    assert [f.id for f in written.frames] == [a.info["id"] for a in images]
    sidecar = provenance_path(out).read_bytes()
    for atoms, frame in zip(images, written.frames, strict=True):
        energy, forces, stress = _direct(atoms)
        assert frame.energy_eV == pytest.approx(energy, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(_array(frame.forces_eV_per_A), forces, atol=1e-8)  # extxyz: 8 decimals
        np.testing.assert_allclose(_array(frame.stress_eV_per_A3), stress, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(frame.atoms.positions, atoms.positions, atol=1e-8)
        assert frame.labels["group"] == atoms.info["group"] and frame.labels[SPEC_LABEL] == "emt"
        assert frame.labels[PROVENANCE_LABEL] == hashlib.sha256(sidecar).hexdigest()
    assert prov["structures"] == {
        "file": str(source),
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "count": 4,
    }
    assert prov["labels"]["count"] == 4 and prov["labels"]["properties"] == ["energy", "forces", "stress"]
    assert prov["labels"]["labels_sha256"] == labels_sha256(result.frames) and prov["labels"]["failed"] == []
    assert prov["calculator"]["spec"] == "emt" and prov["calculator"]["version"].startswith("asap3")
    assert prov["work"] | {"results_dir": ""} == prov["work"] | {"computed": 4, "reused": 0, "results_dir": ""}
    assert "environment" in prov and prov["created_utc"].endswith("+00:00") and "task" not in prov
    provenance_path(out).write_text(sidecar.decode().replace("count: 4", "count: 5"))
    with pytest.raises(ChecksumError, match=r"frame 'al-0': provenance_sha256 .* is not the sha256"):
        read_reference_dataset(out)


def test_parquet_keeps_the_labels_bit_for_bit(tmp_path: Path, hf_cache: Path) -> None:
    source = _file(tmp_path, "s.extxyz", _structures(3))
    out = tmp_path / "labelled.parquet"
    result = _label(tmp_path, out, structures=source)
    back = load_file(out)
    for mine, read in zip(result.frames, back.frames, strict=True):
        assert read.id == mine.id and read.energy_eV == mine.energy_eV
        assert np.array_equal(_array(read.forces_eV_per_A), mine.forces_eV_per_A)
        assert np.array_equal(_array(read.stress_eV_per_A3), mine.stress_eV_per_A3)
        assert np.array_equal(read.atoms.positions, mine.atoms.positions)
    assert labels_sha256(back.frames) == result.provenance["labels"]["labels_sha256"]
    assert read_reference_dataset(out)[1]["labels"]["file"] == "labelled.parquet"


# the rmse kind's correlation of three nearly constant "DFT" labels divides by zero: scored, then warned
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_a_dataset_task_is_relabelled_not_copied(tmp_path: Path) -> None:
    cluster = Atoms("Al3", positions=[[0, 0, 0], [2.8, 0, 0], [1.4, 2.4, 0]], cell=[9, 9, 9], pbc=False)
    cluster.info["id"] = "cluster"
    images = [*_structures(2), cluster]
    for atoms in images:  # "DFT" labels that the reference must replace
        atoms.info["energy"] = -100.0
        atoms.info["stress"] = np.full(6, 0.5)
        atoms.arrays["forces"] = np.ones((len(atoms), 3))
    dataset = _file(tmp_path, "dft.extxyz", images)
    task = tmp_path / "rmse-tiny.yaml"
    metrics = "metrics:\n  - {name: energy_rmse_meV_per_atom, unit: meV/atom, direction: lower}\n"
    task.write_text(f"id: rmse-tiny\nversion: 1\nkind: rmse\ntitle: tiny\ndataset: {dataset}\n{metrics}")
    [record] = run_cells([Cell("emt", load_task(str(task)))], store=ResultStore(tmp_path / "results"))
    assert record.status == "ok" and record.counts.ok == 3, record.message
    result = _label(tmp_path, tmp_path / "relabelled.xyz", task=str(task))
    assert (result.computed, result.reused) == (0, 3)  # the task's predictions, shared through the store
    old = load_file(dataset)
    for before, after in zip(old.frames, load_file(tmp_path / "relabelled.xyz").frames, strict=True):
        energy, forces, stress = _direct(before.atoms)
        assert before.energy_eV == -100.0 and after.energy_eV == pytest.approx(energy, rel=1e-12)
        np.testing.assert_allclose(_array(after.forces_eV_per_A), forces, atol=1e-8)
        assert before.stress_eV_per_A3 is not None
        if before.atoms.pbc.all():
            np.testing.assert_allclose(_array(after.stress_eV_per_A3), stress, rtol=1e-10, atol=1e-14)
        else:  # the calculator gives no stress: the stale one is not kept
            assert after.stress_eV_per_A3 is None
    assert result.provenance["task"]["id"] == "rmse-tiny" and result.provenance["task"]["kind"] == "rmse"
    assert result.provenance["structures"]["task"] == "rmse-tiny"
    assert result.provenance["structures"]["sha256"] == hashlib.sha256(dataset.read_bytes()).hexdigest()


def test_registered_dataset_task(tmp_path: Path, data_root: Path) -> None:
    result = _label(tmp_path, tmp_path / "cu.extxyz", task="rmse-mlearn-cu-test", data_root=str(data_root))
    registered = load_dataset("mlearn-cu-test", data_root=data_root)
    assert [f.id for f in result.frames] == [f.id for f in registered.frames]
    assert result.provenance["structures"]["count"] == len(registered) == 31
    assert result.frames[0].energy_eV != registered.frames[0].energy_eV  # EMT, not the DFT label


def test_labels_are_cached_and_resumed_per_chunk(tmp_path: Path) -> None:
    import helpers_calculators

    source = _file(tmp_path, "s.extxyz", _structures(5))
    spec, out = "python:helpers_calculators:Counting", tmp_path / "c.extxyz"
    options = RunOptions(chunk_structures=2)
    helpers_calculators.reset_counting()
    first = _label(tmp_path, out, spec, structures=source, options=options)
    assert helpers_calculators.COUNTING_CALLS == 5 and (first.computed, first.reused) == (5, 0)
    with pytest.raises(DataError, match=r"c.extxyz: exists; pass overwrite"):
        _label(tmp_path, out, spec, structures=source, options=options)
    again = _label(tmp_path, out, spec, structures=source, options=options, overwrite=True)
    assert helpers_calculators.COUNTING_CALLS == 5 and (again.computed, again.reused) == (0, 5)
    chunks = sorted((tmp_path / "results" / "artifacts" / "predictions").rglob("*.npz"))
    assert len(chunks) == 3  # 2 + 2 + 1 structures, each stored as it finished
    with np.load(chunks[0]) as lost:
        n_lost = len(lost["keys"])
    chunks[0].unlink()  # as if the run had been killed before this chunk finished
    resumed = _label(tmp_path, out, spec, structures=source, options=options, overwrite=True)
    assert (helpers_calculators.COUNTING_CALLS, resumed.computed) == (5 + n_lost, n_lost)
    assert [f.energy_eV for f in resumed.frames] == [f.energy_eV for f in first.frames]


def test_failed_structures_are_listed_and_never_written(tmp_path: Path) -> None:
    images = _structures(4)
    lithium = Atoms("Li2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[3, 3, 3], pbc=True)
    lithium.info["id"] = "li-pair"
    source = _file(tmp_path, "s.extxyz", [*images, lithium])
    spec = "python:helpers_calculators:RaisingOnThird"  # EMT: no Li either
    with pytest.raises(EvaluationError, match=r"2 of 5 structure\(s\) not labelled .*nothing written"):
        _label(tmp_path, tmp_path / "a.extxyz", spec, structures=source)
    assert not list(tmp_path.glob("a.extxyz*"))
    partial = _label(tmp_path, tmp_path / "b.extxyz", spec, structures=source, allow_partial=True)
    failed = dict(partial.failed)
    assert set(failed) == {"al-2", "li-pair"} and "deliberate failure" in failed["al-2"]
    assert "No EMT-potential for Li" in failed["li-pair"]  # ASE's EMT raised: listed with its reason
    assert [f.id for f in load_file(tmp_path / "b.extxyz").frames] == ["al-0", "al-1", "al-3"]
    side = yaml.safe_load(provenance_path(tmp_path / "b.extxyz").read_text())
    assert {e["id"] for e in side["labels"]["failed"]} == {"al-2", "li-pair"} and side["labels"]["count"] == 3
    declared = _label(tmp_path, tmp_path / "c.extxyz", "emt", structures=source, allow_partial=True)
    assert declared.failed == (("li-pair", "elements ['Li'] not supported by emt"),)  # never sent to the calculator


def test_a_label_extxyz_cannot_hold_leaves_nothing_behind(tmp_path: Path) -> None:
    images = _structures(2)
    images[1].info["flag"] = "T"  # ASE would read it back as True
    source = _file(tmp_path, "s.traj", images)
    with pytest.raises(DataError, match=r"frame 'al-1': label 'flag' = 'T' would not read back"):
        _label(tmp_path, tmp_path / "out" / "x.extxyz", structures=source)
    assert not list((tmp_path / "out").iterdir())


def test_hostile_sources_and_outputs(tmp_path: Path) -> None:
    source = _file(tmp_path, "s.extxyz", _structures(2))
    out = tmp_path / "x.extxyz"
    with pytest.raises(TaskSpecError, match=r"exactly one of --task TASK .* --structures FILE \(neither given\)"):
        _label(tmp_path, out)
    with pytest.raises(TaskSpecError, match=r"\(both given\)"):
        _label(tmp_path, out, task="rmse-li-al-train", structures=source)
    with pytest.raises(TaskSpecError, match=r"--task al-bain-path: kind 'bain_path' has no dataset to label"):
        _label(tmp_path, out, task="al-bain-path")
    with pytest.raises(DataError, match=r"--structures .*nothing.xyz: no such file"):
        _label(tmp_path, out, structures=tmp_path / "nothing.xyz")
    (tmp_path / "junk.cif").write_text("this is no crystal\n")
    with pytest.raises(DataError, match=r"--structures .*junk.cif: not a structure file ASE can read"):
        _label(tmp_path, out, structures=tmp_path / "junk.cif")
    with pytest.raises(DataError, match=r"--out .*x.yaml: a reference dataset is written as"):
        _label(tmp_path, tmp_path / "x.yaml", structures=source)
    with pytest.raises(DataError, match=r"a dataset file name"):
        make_reference("al-bain-path", "emt", results_dir=tmp_path, out_path=out)
    provenance_path(out).write_text("left over\n")
    with pytest.raises(DataError, match=r"x.extxyz.provenance.yaml: exists"):
        _label(tmp_path, out, structures=source)
    assert not out.exists()


def test_process_executor_gives_the_serial_labels(tmp_path: Path) -> None:
    source = _file(tmp_path, "s.extxyz", _structures(4))
    serial = _label(tmp_path / "a", tmp_path / "a.extxyz", structures=source)
    with ProcessExecutor(2) as executor:
        parallel = make_reference_dataset(
            "emt", out_path=tmp_path / "b.extxyz", results_dir=tmp_path / "b", structures=source,
            executor=executor, options=RunOptions(chunk_structures=1),
        )  # fmt: skip
    assert parallel.computed == 4
    assert _numbers(parallel.frames) == _numbers(serial.frames)


def _numbers(frames: tuple[Frame, ...]) -> list[tuple[float, list[float]]]:
    return [(f.energy_eV or 0.0, np.asarray(f.forces_eV_per_A).ravel().tolist()) for f in frames]


def _parser(tmp_path: Path) -> argparse.ArgumentParser:
    from helpers_cli import reference_parser

    return reference_parser(tmp_path)


def test_cli_labels_a_file_and_refuses_flags_of_the_other_mode(tmp_path: Path, capsys) -> None:
    parser = _parser(tmp_path)
    source = _file(tmp_path, "s.extxyz", _structures(2))
    out = tmp_path / "cli.extxyz"
    argv = ["reference", "--calculator", "emt", "--structures", str(source), "--out", str(out), "--no-progress"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "2 structures labelled (energy, forces, stress), 0 left out" in capsys.readouterr().out
    assert len(read_reference_dataset(out)[0]) == 2
    for extra, message in (
        (["--key", "k"], r"--key applies to curves"),
        (["--set", "step=0.1"], r"--set applies to curves"),
    ):
        args = parser.parse_args([*argv, "--overwrite", *extra])
        with pytest.raises(TaskSpecError, match=message):
            args.func(args)
    curve_argv = ["reference", "--calculator", "emt", "--out", str(tmp_path / "c.yaml")]
    with pytest.raises(TaskSpecError, match=r"--structures labels a dataset"):
        args = parser.parse_args([*curve_argv, "--structures", str(source)])
        args.func(args)
    with pytest.raises(TaskSpecError, match=r"--task TASK is required for curves"):
        args = parser.parse_args(curve_argv)
        args.func(args)
