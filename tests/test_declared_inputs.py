"""Declared inputs: everything outside a task file that changes a result is part of the cell key
(a python: potential's model files, the packages that compute), and work items are keyed by it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from mlip_bench.adapters.registry import load_potential
from mlip_bench.engine import identity
from mlip_bench.engine.runner import Cell, cell_key
from mlip_bench.engine.spec import load_task
from mlip_bench.errors import PotentialError


@pytest.fixture
def weighted_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user module whose factory declares the weights file it reads."""
    (tmp_path / "weights.txt").write_text("epsilon 0.0104\n")
    (tmp_path / "weighted_pot.py").write_text(
        textwrap.dedent(
            """
            from ase.calculators.emt import EMT

            def make():
                return EMT()

            make.model_files = ["weights.txt"]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("weighted_pot", None)


def test_changed_model_file_changes_version_and_cell_key(weighted_module: Path):
    task = load_task("al-eos")
    spec = "python:weighted_pot:make"
    version = load_potential(spec).info.version
    key = cell_key(Cell(spec, task))
    assert "weights.txt sha256" in version
    (weighted_module / "weights.txt").write_text("epsilon 0.0105\n")
    assert load_potential(spec).info.version != version
    assert cell_key(Cell(spec, task)) != key


def test_missing_declared_model_file_is_named(weighted_module: Path):
    (weighted_module / "weights.txt").unlink()
    with pytest.raises(PotentialError, match=r"weights\.txt.*does not exist"):
        load_potential("python:weighted_pot:make")


def test_package_versions_are_part_of_the_cell_key(monkeypatch: pytest.MonkeyPatch):
    cell = Cell("emt", load_task("al-eos"))
    key = cell_key(cell)
    real = identity.package_version

    def bumped(dist: str) -> str:
        return "99.0" if dist == "ase" else real(dist)

    monkeypatch.setattr(identity, "package_version", bumped)
    identity._version.cache_clear()  # versions are looked up once per process
    assert cell_key(cell) != key
    identity._version.cache_clear()
