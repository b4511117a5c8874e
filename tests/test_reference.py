"""The reference role (engine/reference.py): a cheap potential (EMT) runs a path task as the
reference; the curve file it writes carries provenance, is read by the suite like any curve file,
and a later task scores against it. Hostile input fails with errors that name the culprit."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import mlip_bench.data.curves as curves_module
import mlip_bench.engine.reference as reference_module
from mlip_bench.data.curves import reference_curve, reference_curves
from mlip_bench.engine.executors import SerialExecutor
from mlip_bench.engine.reference import curves_of, make_reference, task_with
from mlip_bench.engine.runner import run_cell
from mlip_bench.engine.spec import load_task
from mlip_bench.errors import DataError, EvaluationError, TaskSpecError, UnknownPotentialError

pytest.importorskip("asap3")

#: a coarse Bain path (7 points with bcc) without the PBE curve's extra points: a few EMT calls
CHEAP = {"step": 0.1, "reference_curve": None}


@pytest.fixture
def curve_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A reference_data folder of its own whose curves/ the suite reads (the real curves copied in)."""
    root = tmp_path / "reference_data"
    (root / "curves").mkdir(parents=True)
    for path in (curves_module.reference_dir() / "curves").glob("*.yaml"):
        (root / "curves" / path.name).write_text(path.read_text())
    monkeypatch.setattr(curves_module, "reference_dir", lambda: root)
    monkeypatch.setattr(reference_module, "reference_dir", lambda: root)
    reference_curves.cache_clear()
    yield root / "curves"
    reference_curves.cache_clear()


def _make(tmp_path: Path, out: Path, spec: str = "emt", **kwargs):
    parameters = kwargs.pop("parameters", CHEAP)
    return make_reference(
        "al-bain-path", spec, results_dir=tmp_path / "results", out_path=out, parameters=parameters,
        executor=SerialExecutor(), **kwargs,
    )  # fmt: skip


def test_emt_reference_curve_has_provenance_and_matches_the_record(tmp_path: Path) -> None:
    out = tmp_path / "emt_bain.yaml"
    result = _make(tmp_path, out)
    written = yaml.safe_load(out.read_text())
    [entry] = written["curves"]
    prov = written["provenance"]
    assert entry["key"] == "al-bain-path/emt" and entry["kind"] == "potential: emt"
    assert entry["x"] == sorted(entry["x"]) and len(entry["x"]) == 7
    assert entry["x"][2] == pytest.approx(1 / math.sqrt(2))
    [item] = [i for i in result.record.items if i.id == "Al-fcc"]
    assert dict(zip(entry["x"], entry["y"], strict=True)) == dict(
        zip(item.arrays["bain_path:x"], item.arrays["bain_path:y"], strict=True)
    )
    assert entry["y"][entry["x"].index(1.0)] == 0.0 and max(entry["y"]) > 1.0  # relative to fcc, not flat
    digest = hashlib.sha256(json.dumps([entry["x"], entry["y"]]).encode()).hexdigest()
    assert entry["provenance"]["data_sha256"] == digest
    task_file = Path(prov["task"]["file"])
    assert prov["task"]["file_sha256"] == hashlib.sha256(task_file.read_bytes()).hexdigest()
    assert prov["task"]["parameters"]["step"] == 0.1 and prov["task"]["parameters"]["lattice_constant_A"] == 4.0423
    assert prov["calculator"]["spec"] == "emt" and prov["calculator"]["version"] == result.record.potential.version
    assert prov["cells"]["Al-fcc"]["atoms"] == 1 and prov["created_utc"].endswith("+00:00")
    assert prov["environment"]["omp_num_threads"] == result.record.environment.omp_num_threads
    assert prov["values"]["E_bcc_bain_path_meV_per_atom"]["value"] == pytest.approx(
        entry["y"][2]
    )  # the metric and the curve agree


def test_rerun_reuses_the_stored_work_and_refuses_to_overwrite_unasked(tmp_path: Path) -> None:
    import helpers_calculators

    out, spec = tmp_path / "counted.yaml", "python:helpers_calculators:Counting"
    helpers_calculators.reset_counting()
    first = _make(tmp_path, out, spec)
    assert helpers_calculators.COUNTING_CALLS == 8  # 7 points and the undistorted cell
    with pytest.raises(DataError, match=r"exists; pass overwrite"):
        _make(tmp_path, out, spec)
    again = _make(tmp_path, out, spec, overwrite=True)
    assert helpers_calculators.COUNTING_CALLS == 8  # nothing recomputed: the result store had it all
    assert again.curves[0].y == first.curves[0].y
    forced = _make(tmp_path, out, spec, overwrite=True, force=True)
    assert helpers_calculators.COUNTING_CALLS == 16 and forced.curves[0].y == first.curves[0].y


def test_a_later_task_scores_against_the_written_curve(tmp_path: Path, curve_dir: Path) -> None:
    out = curve_dir / "al_bain_emt.yaml"
    written = _make(tmp_path, out, key="al/bain/emt-reference").curves[0]
    curve = reference_curve("al/bain/emt-reference")
    assert curve.source == str(out) and curve.y == written.y and curve.kind == "potential: emt"
    task = task_with(load_task("al-bain-path"), {"reference_curve": "al/bain/emt-reference", "step": 0.1})
    same = run_cell(_cell("emt", task))
    assert same.status == "ok", same.message
    assert _value(same, "bain_rmse_meV_per_atom") == pytest.approx(0.0, abs=1e-9)
    assert _value(same, "n_reference_points") == 7
    # another potential on the same curve: a real, non-zero error
    other = run_cell(_cell("python:ase.calculators.emt:EMT", task))
    assert other.status == "ok" and _value(other, "bain_rmse_meV_per_atom") > 0.1


def _value(record, name: str) -> float:
    metric = record.metric(name)
    assert metric is not None, f"{record.task.id}: no metric {name}"
    return metric.value


def _cell(spec: str, task):
    from mlip_bench.engine.runner import Cell

    return Cell(spec, task)


def test_key_clash_with_another_curve_file_is_refused(tmp_path: Path, curve_dir: Path) -> None:
    with pytest.raises(DataError, match=r"al/bain/dft-pbe-gpaw.*already defined in .*al_paths.yaml"):
        _make(tmp_path, curve_dir / "clash.yaml", key="al/bain/dft-pbe-gpaw")
    assert not (curve_dir / "clash.yaml").exists()


def test_failed_points_stop_the_reference_unless_partial_is_allowed(tmp_path: Path) -> None:
    spec = "python:helpers_calculators:RaisingOnThird"
    with pytest.raises(EvaluationError, match=r"1 item\(s\) not ok .*deliberate failure"):
        _make(tmp_path, tmp_path / "a.yaml", spec)
    assert not (tmp_path / "a.yaml").exists()
    partial = _make(tmp_path, tmp_path / "b.yaml", spec, allow_partial=True)
    assert len(partial.curves[0].x) == 6
    cells = yaml.safe_load((tmp_path / "b.yaml").read_text())["provenance"]["cells"]
    assert sorted(c["status"] for c in cells.values()) == ["failed", "ok"]


def test_hostile_task_potential_and_overrides(tmp_path: Path) -> None:
    out = tmp_path / "x.yaml"
    with pytest.raises(TaskSpecError, match="unknown task 'no-such-task'"):
        make_reference("no-such-task", "emt", results_dir=tmp_path, out_path=out)
    with pytest.raises(UnknownPotentialError, match="nosuch"):
        _make(tmp_path, out, "nosuch:thing")
    with pytest.raises(TaskSpecError, match=r"parameters/stepp"):
        _make(tmp_path, out, parameters={"stepp": 0.1})
    with pytest.raises(TaskSpecError, match=r"parameters/step"):
        _make(tmp_path, out, parameters={"step": -1})
    with pytest.raises(TaskSpecError, match=r"unknown reference curve 'nope'"):
        _make(tmp_path, out, parameters={"reference_curve": "nope"})
    assert not out.exists()


def test_curve_points_are_checked(tmp_path: Path) -> None:
    record = _make(tmp_path, tmp_path / "c.yaml").record
    item = next(i for i in record.items if i.id == "Al-fcc")

    def with_arrays(x: list[float], y: list[float]):
        arrays = {**item.arrays, "bain_path:x": x, "bain_path:y": y}
        return dataclasses.replace(record, items=(dataclasses.replace(item, arrays=arrays),))

    kept = curves_of(with_arrays([1.0, 0.9, 0.8], [0.0, float("nan"), 3.0]), key="k")[0]
    assert kept.x == (0.8, 1.0) and kept.y == (3.0, 0.0)  # sorted, NaN point dropped
    with pytest.raises(EvaluationError, match=r"x = 0.9 appears twice"):
        curves_of(with_arrays([0.9, 0.9, 1.0], [1.0, 2.0, 0.0]), key="k")
    with pytest.raises(EvaluationError, match="fewer than 2 finite points"):
        curves_of(with_arrays([0.9, 1.0], [float("inf"), float("nan")]), key="k")
    no_curve = dataclasses.replace(record, items=(dataclasses.replace(item, arrays={}),))
    with pytest.raises(EvaluationError, match="holds no curve"):
        curves_of(no_curve, key="k")


def test_cli_wiring_runs_the_reference(tmp_path: Path) -> None:
    from helpers_cli import reference_parser

    parser = reference_parser(tmp_path)
    out = tmp_path / "cli.yaml"
    argv = ["reference", "--calculator", "emt", "--task", "al-bain-path", "--out", str(out), "--no-progress"]
    args = parser.parse_args([*argv, "--set", "step=0.1", "--set", "reference_curve=null"])
    assert args.overrides == [("step", 0.1), ("reference_curve", None)]
    assert args.func(args) == 0
    assert yaml.safe_load(out.read_text())["curves"][0]["key"] == "al-bain-path/emt"
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--set", "step"])
