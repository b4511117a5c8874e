"""Property-based tests (hypothesis) of the loaders a hostile file reaches first: extended XYZ,
parquet rows and files, and task specs. Valid structures round-trip exactly or are refused by name
at write time; garbage raises DataError (TaskSpecError for task specs) and nothing else, and a
frame that loads never carries a non-finite number its problems do not name."""

from __future__ import annotations

import datetime
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ase import Atoms
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mlip_bench.data.extxyz import read_extxyz, write_extxyz
from mlip_bench.data.frames import Frame, make_frame
from mlip_bench.engine.spec import parse_task
from mlip_bench.errors import DataError, TaskSpecError
from mlip_bench.paths import tasks_dir

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: multiples of 2^-8 print exactly with the 8 decimals extended XYZ writes per-atom columns with
grid = st.integers(-(2**18), 2**18).map(lambda k: k / 256)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
plain_words = st.from_regex(r"[A-Za-z][A-Za-z0-9 _.%;:-]{0,11}", fullmatch=True).filter(
    lambda s: s.strip() == s and s.lower() not in {"t", "f", "true", "false", "nan", "inf", "infinity"}
)


@st.composite
def frames(draw: Any, label_text: st.SearchStrategy[str] = plain_words, value: st.SearchStrategy[float] = grid):
    """Two to four valid frames: real elements, a well-conditioned cell, optional labels."""
    out = []
    for index in range(draw(st.integers(2, 4))):
        n = draw(st.integers(1, 5))
        numbers = draw(st.lists(st.integers(1, 94), min_size=n, max_size=n))
        positions = np.array(draw(st.lists(value, min_size=3 * n, max_size=3 * n))).reshape(n, 3)
        pbc = draw(st.sampled_from([(True, True, True), (False, False, False), (True, True, False)]))
        cell = np.diag(draw(st.lists(st.integers(20, 40), min_size=3, max_size=3))).astype(float)
        cell[0, 1] = draw(value.filter(lambda x: abs(x) < 5))
        atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
        maybe = st.none() | st.just(True)
        energy = draw(finite) if draw(maybe) else None
        forces = np.array(draw(st.lists(value, min_size=3 * n, max_size=3 * n))).reshape(n, 3) if draw(maybe) else None
        stress = np.array(draw(st.lists(finite, min_size=6, max_size=6))) if draw(maybe) else None
        keys = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda k: k not in {"id", "pbc", "energy"})
        labels = draw(st.dictionaries(keys, label_text, max_size=3))
        out.append(
            make_frame(
                source="generated",
                index=index,
                frame_id=f"s{index}",
                atoms=atoms,
                energy=energy,
                forces=forces,
                stress=stress,
                labels=labels,
            )
        )
    return out


def _same(a: Frame, b: Frame) -> None:
    assert (a.id, dict(a.labels), sorted(a.problems)) == (b.id, dict(b.labels), sorted(b.problems))
    np.testing.assert_array_equal(a.atoms.numbers, b.atoms.numbers)
    np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
    np.testing.assert_array_equal(a.atoms.pbc, b.atoms.pbc)
    if a.atoms.pbc.any():
        np.testing.assert_array_equal(a.atoms.cell.array, b.atoms.cell.array)
    assert a.energy_eV == b.energy_eV
    for x, y in ((a.forces_eV_per_A, b.forces_eV_per_A), (a.stress_eV_per_A3, b.stress_eV_per_A3)):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


def _nothing_unnoticed(frame: Frame) -> None:
    """A loaded frame's numbers are finite, or its problems name the field."""
    for name, value in (("energy", frame.energy_eV), ("forces", frame.forces_eV_per_A)):
        assert value is None or np.isfinite(value).all(), name
    assert frame.stress_eV_per_A3 is None or np.isfinite(frame.stress_eV_per_A3).all()
    assert np.isfinite(frame.atoms.positions).all() or "positions" in frame.problems
    assert np.isfinite(frame.atoms.cell.array).all() or "cell" in frame.problems


# --- extended XYZ ---------------------------------------------------------------------------------------


@FAST
@given(frames())
def test_extxyz_round_trip_is_exact(tmp_path_factory: pytest.TempPathFactory, original: list[Frame]) -> None:
    path = tmp_path_factory.mktemp("xyz") / "round.extxyz"
    back = read_extxyz(write_extxyz(original, path)).frames
    assert len(back) == len(original)
    for a, b in zip(original, back, strict=True):
        _same(a, b)


@FAST
@given(frames(label_text=st.text(max_size=6)))
def test_extxyz_any_label_round_trips_or_is_refused_by_name(tmp_path_factory, original: list[Frame]) -> None:
    path = tmp_path_factory.mktemp("xyz") / "labels.extxyz"
    try:
        write_extxyz(original, path)
    except DataError as exc:  # ASE would read it back as another value: refused, never changed
        assert "would not read back" in str(exc) or "cannot be written" in str(exc)
        return
    for a, b in zip(original, read_extxyz(path).frames, strict=True):
        _same(a, b)


_TOKENS = ["nan", "inf", "-inf", "1e999", "abc", "Xx", "", "-3", "0", "7", '"', "=", 'stress="1 2"', "energy="]


@st.composite
def mangled_extxyz(draw: Any) -> bytes:
    """A small valid file with random lines replaced, tokens swapped, lines cut, maybe gzipped."""
    base = (
        '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 '
        'stress="0.1 0 0 0 0.1 0 0 0 0.1" group=g pbc="T T T"\nCu 0 0 0 0.1 0 0\nCu 2 2 2 -0.1 0 0\n'
    ) * 2
    lines = base.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        words = lines[i].split(" ")
        j = draw(st.integers(0, len(words) - 1))
        words[j] = draw(st.sampled_from(_TOKENS) | st.text(max_size=4))
        lines[i] = " ".join(words) if words[-1].endswith("\n") else " ".join(words) + "\n"
    if draw(st.booleans()):
        lines = lines[: draw(st.integers(0, len(lines)))]
    raw = "".join(lines).encode("utf-8", "surrogatepass")
    return gzip.compress(raw)[: draw(st.integers(0, 400))] if draw(st.booleans()) else raw


@FAST
@given(mangled_extxyz() | st.binary(max_size=200))
def test_extxyz_garbage_raises_data_error_or_marks_its_frames(raw: bytes) -> None:
    try:
        dataset = read_extxyz(Path("fuzz.extxyz"), content=raw)
    except DataError:
        return
    for frame in dataset.frames:
        _nothing_unnoticed(frame)


# --- parquet ------------------------------------------------------------------------------------------------


@SLOW
@given(frames(value=finite))
def test_parquet_round_trip_is_exact(tmp_path_factory, original: list[Frame]) -> None:
    pytest.importorskip("datasets")
    from mlip_bench.data.hf import read_hf, write_hf

    path = tmp_path_factory.mktemp("pq") / "round.parquet"
    for a, b in zip(original, read_hf(write_hf(original, path)).frames, strict=True):
        _same(a, b)


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=7),
    max_leaves=12,
)
_COLUMNS = ["id", "numbers", "positions", "cell", "pbc", "energy", "forces", "stress", "labels"]


@FAST
@given(st.dictionaries(st.sampled_from(_COLUMNS), _ANY))
def test_parquet_row_garbage_raises_data_error_or_marks_its_frame(row: dict[str, Any]) -> None:
    from mlip_bench.data.hf import row_to_frame

    valid = {"id": "a", "numbers": [29, 29], "positions": [0.0] * 3 + [1.8] * 3, "cell": [4, 0, 0, 0, 4, 0, 0, 0, 4]}
    try:
        frame = row_to_frame({**valid, "pbc": [True] * 3, **row}, source="fuzz.parquet", index=0)
    except DataError:
        return
    _nothing_unnoticed(frame)


@settings(max_examples=4, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_parquet_file_of_garbage_raises_data_error(tmp_path_factory, raw: bytes) -> None:
    pytest.importorskip("datasets")
    from mlip_bench.data.hf import read_hf

    path = tmp_path_factory.mktemp("pq") / "garbage.parquet"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=r"garbage\.parquet"):
        read_hf(path)


# --- task specs ---------------------------------------------------------------------------------------------


def _task_raws() -> list[dict[str, Any]]:
    names = ("al-eos", "rmse-mlearn-cu-test", "li-al-bcc-fcc", "al-phonons")
    return [yaml.safe_load((tasks_dir() / f"{name}.yaml").read_text()) for name in names]


_YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 1, 1)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mangled_tasks(draw: Any) -> Any:
    """A real task's mapping with random keys, at any depth, replaced, added or deleted."""
    raw = draw(st.sampled_from(_task_raws()))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = raw
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            node = node[draw(st.sampled_from(list(node)))] if isinstance(node, dict) else draw(st.sampled_from(node))
        if isinstance(node, dict):
            key = draw(st.sampled_from([*node, "extra", 7]) if node else st.just("extra"))
            if draw(st.booleans()) and key in node:
                del node[key]
            else:
                node[key] = draw(_YAML_VALUES)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(_YAML_VALUES)
    return raw


def _edited(name: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    raw = yaml.safe_load((tasks_dir() / f"{name}.yaml").read_text())
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


@FAST
@given(mangled_tasks() | _YAML_VALUES)
@example(_edited("li-al-bcc-fcc", ("parameters", "references"), {1: "Fd3m-org", "LiAl3": "Pm3m-org"}))
@example(_edited("al-eos", ("structures", 0, "a_A"), float("nan")))
@example(_edited("al-eos", ("parameters", "volume_range"), float("nan")))
def test_task_spec_garbage_raises_task_spec_error_only(raw: Any) -> None:
    assume(raw is not None)
    try:
        spec = parse_task(raw, source="fuzz.yaml")
    except TaskSpecError as exc:
        assert str(exc).startswith("fuzz.yaml") or "fuzz.yaml" in str(exc)
        return
    assert spec.id and spec.metrics
