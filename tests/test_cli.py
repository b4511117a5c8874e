"""The command line, as a user drives it."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from mlip_bench.cli import main


def test_list_potentials_says_why_an_optional_family_is_missing(capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sevenn" else real(name, *a))
    assert main(["list", "potentials"]) == 0
    out = capsys.readouterr().out
    assert "sevenn not installed: pip install -e '" in out and "[sevenn]'" in out  # from this checkout
    assert "eam:Al_mm.eam.fs" in out


def test_list_tasks_and_datasets(capsys, data_root) -> None:
    assert main(["list", "tasks"]) == 0
    assert "rmse-mlearn-cu-test" in capsys.readouterr().out
    assert main(["list", "datasets", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"mlearn-cu-test +mlearn_li_cu/cu_test\.extxyz\.gz +found", out)
    assert main(["list", "datasets", "--data-root", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "data root: /nonexistent" in out and re.search(
        r"mlearn-cu-test +mlearn_li_cu/cu_test\.extxyz\.gz +missing", out
    )


def test_run_json_prints_one_parseable_record(capsys, tmp_path, data_root) -> None:
    args = [
        "run",
        "--potential",
        "emt",
        "--task",
        "rmse-mlearn-cu-test",
        "--json",
        "--no-progress",
        "--results",
        str(tmp_path),
        "--data-root",
        str(data_root),
    ]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok"
    assert record["dataset"]["sha256"].startswith("c201c9fd")
    names = {m["name"] for m in record["metrics"]}
    assert {"energy_rmse_meV_per_atom", "force_rmse_eV_per_A", "stress_rmse_GPa"} <= names
    assert record["environment"]["packages"]["ase"]
    assert record["timings"]["calculator_s"] > 0


def test_run_on_any_dataset_file(capsys, tmp_path, data_root) -> None:
    path = data_root / "mlearn_li_cu" / "cu_test.extxyz.gz"
    args = [
        "run",
        "--potential",
        "eam:Al_mm.eam.fs",
        "--task",
        "rmse-mlearn-cu-test",
        "--dataset",
        str(path),
        "--results",
        str(tmp_path),
        "--no-progress",
        "--json",
    ]
    assert main(args) == 0  # Al potential on Cu data: nothing to score, said so
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "not_applicable" and "supports (Al)" in record["message"]


def test_unknown_task_is_a_clear_error(capsys) -> None:
    assert main(["run", "--potential", "emt", "--task", "no-such-task"]) == 2
    assert "unknown task 'no-such-task'" in capsys.readouterr().err


def test_leaderboard_then_report_rebuild(tmp_path, capsys, data_root) -> None:
    spec = tmp_path / "mini.yaml"
    spec.write_text(
        "id: mini\ntitle: Mini <board>\npotentials:\n  - {spec: emt, label: EMT}\n"
        "  - {spec: 'eam:Al_mm.eam.fs', label: Mendelev}\ntasks: [al-eos, rmse-mlearn-cu-test]\n"
    )
    out = tmp_path / "report"
    results = str(tmp_path / "results")
    args = [
        "leaderboard",
        str(spec),
        "--out",
        str(out),
        "--results",
        results,
        "--no-progress",
        "--data-root",
        str(data_root),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Al fcc equation of state" in text and "Mendelev" in text
    html = (out / "index.html").read_text()
    assert "Mini &lt;board&gt;" in html and "Mini <board>" not in html
    assert "<script src=" not in html
    board = json.loads((out / "leaderboard.json").read_text())
    assert [t["task"] for t in board["tables"]] == ["al-eos", "rmse-mlearn-cu-test"]
    assert "| EMT" in (out / "leaderboard.md").read_text()
    rebuilt = tmp_path / "rebuilt"
    assert main(["report", "--results", results, "--out", str(rebuilt)]) == 0
    assert (rebuilt / "index.html").is_file()


@pytest.mark.parametrize("target", ["x.parquet", "x.extxyz"])
def test_data_convert_round_trip(tmp_path, target, data_root) -> None:
    out = tmp_path / target
    assert main(["data", "convert", "mlearn-cu-test", str(out), "--data-root", str(data_root)]) == 0
    back = tmp_path / "back.extxyz"
    assert main(["data", "convert", str(out), str(back)]) == 0
    assert back.stat().st_size > 0
