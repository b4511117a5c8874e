"""Result store integrity: every record carries its checksum, item arrays live in a checked .npz
sidecar, and a bad file (truncated, foreign, edited, of another schema, a dead writer's temporary
file, a corrupt or missing sidecar) is named, set aside under quarantine/ and never used, while the
rest of the store keeps working."""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import pytest

from mlip_bench.engine.integrity import quarantine, sha256_bytes, write_atomic
from mlip_bench.engine.records import (
    Counts,
    Environment,
    ItemRecord,
    MetricValue,
    PotentialRecord,
    ResultRecord,
    TaskRecord,
    Timings,
    to_jsonable,
)
from mlip_bench.engine.store import ResultStore
from mlip_bench.errors import CorruptFileError, ResultStoreError, StoreIntegrityWarning

TASK = "rmse-toy"


def _record(spec: str = "emt", *, task: str = TASK, key: str = "", value: float = 1.5) -> ResultRecord:
    forces = [0.1 * k - 0.35 * value for k in range(12)]
    items = (
        ItemRecord("s0", "ok", "", 4, "bulk", {"e_err_meV_per_atom": 2.0}, {"forces_ref_eV_per_A": forces,
                   "forces_pred_eV_per_A": [f + 1e-17 for f in forces], "gsfe:x": [0.0, 0.25]}),
        ItemRecord("s1", "skipped", "elements ['Li'] not supported", 2, "slab"),
        ItemRecord("s2", "ok", "", 1, "slab", {"e_err_meV_per_atom": math.nan},
                   {"forces_ref_eV_per_A": [1.0, math.nan, -2.0], "forces_pred_eV_per_A": [], "stress_ref_GPa": [
                       1e-300, 3.0e12, -0.0, 5.0, 6.0, 7.0]}),
    )  # fmt: skip
    return ResultRecord(
        key=key or sha256_bytes(f"{task}|{spec}".encode()),
        task=TaskRecord(task, 1, "rmse", "toy", "0" * 64),
        potential=PotentialRecord(spec, spec.upper(), "emt", "1", ("Al",)),
        dataset=None,
        status="ok",
        message="",
        metrics=(MetricValue("force_rmse_eV_per_A", value, "eV/Å", "lower", n=2),),
        groups=(),
        items=items,
        counts=Counts(ok=2, skipped=1),
        timings=Timings(1.0, 2.0, 3.0),
        environment=Environment("3.11", "linux", "0", {"numpy": "2"}, "1", 2),
        parameters={"properties": ["energy", "forces"]},
        created_utc="2026-01-01T00:00:00Z",
    )


def _same(a: object, b: object) -> bool:
    """Equal in every value and array (NaN equal to NaN, which == on records is not)."""
    return a is not None and to_jsonable(a) == to_jsonable(b)


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    return ResultStore(tmp_path / "results")


def _quarantined(store: ResultStore) -> list[Path]:
    return sorted(p for p in (store.root / "quarantine").rglob("*") if p.is_file() and p.suffix != ".txt")


def _assert_set_aside(store: ResultStore, bad: Path, caught: list[warnings.WarningMessage], reason: str) -> None:
    messages = [str(w.message) for w in caught if issubclass(w.category, StoreIntegrityWarning)]
    assert any(str(bad) in m and reason in m for m in messages), messages
    assert not bad.exists()
    moved = [p for p in _quarantined(store) if p.name.startswith(bad.name + ".")]
    assert len(moved) == 1, _quarantined(store)
    assert reason in moved[0].with_name(moved[0].name + ".reason.txt").read_text()


def test_round_trip_is_exact_and_json_holds_no_arrays(store: ResultStore) -> None:
    record = _record()
    path = store.put(record)
    back = store.get(TASK, record.key)
    assert back is not None
    assert to_jsonable(back) == to_jsonable(record)  # NaN-safe comparison of everything
    assert back.items[0].arrays == record.items[0].arrays  # exact floats, not approximately
    assert math.isnan(back.items[2].arrays["forces_ref_eV_per_A"][1])
    assert back.items[2].arrays["forces_pred_eV_per_A"] == [] and back.items[1].arrays == {}
    stored = json.loads(path.read_text())
    assert all("arrays" not in item for item in stored["items"])
    assert "forces_ref" not in path.read_text()
    sidecar = path.with_name(stored["arrays_file"]["name"])
    assert sidecar.suffix == ".npz" and sha256_bytes(sidecar.read_bytes()) == stored["arrays_file"]["sha256"]
    assert _same(store.records(), [record])


def test_record_without_arrays_has_no_sidecar(store: ResultStore) -> None:
    record = _record()
    bare = record.__class__(**{**record.__dict__, "items": (record.items[1],)})
    path = store.put(bare)
    assert json.loads(path.read_text())["arrays_file"] is None
    assert not list(path.parent.glob("*.npz"))
    assert _same(store.get(TASK, bare.key), bare)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not JSON"),
        (lambda p: p.write_text(json.dumps({"hello": "world"})), "not a result record"),
        (lambda p: p.write_text("[1, 2, 3]"), "not a result record"),
        (lambda p: p.write_text(p.read_text().replace('"value": 1.5', '"value": 0.5')), "checksum mismatch"),
        (lambda p: p.write_text(p.read_text().replace('"schema": 2', '"schema": 3')), "store schema 3"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "not JSON"),
    ],
    ids=["truncated", "foreign-object", "foreign-list", "edited", "other-schema", "binary"],
)
def test_bad_json_is_set_aside_and_recomputed(store: ResultStore, damage, reason: str) -> None:
    good = store.put(_record("good"))
    record = _record("emt")
    path = store.put(record)
    damage(path)
    with pytest.warns(StoreIntegrityWarning) as caught:
        assert store.get(TASK, record.key) is None
    _assert_set_aside(store, path, caught.list, reason)
    assert [r.potential.spec for r in store.records()] == ["good"]
    assert good.is_file()
    assert store.put(record) == path  # a fresh put of the same record works
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreIntegrityWarning)
        assert _same(store.get(TASK, record.key), record)


@pytest.mark.parametrize("damage", ["truncate", "delete", "replace"])
def test_bad_sidecar_sets_aside_record_and_sidecar(store: ResultStore, damage: str) -> None:
    store.put(_record("good"))
    record = _record("emt")
    path = store.put(record)
    sidecar = path.with_name(json.loads(path.read_text())["arrays_file"]["name"])
    if damage == "truncate":
        sidecar.write_bytes(sidecar.read_bytes()[:100])
    elif damage == "delete":
        sidecar.unlink()
    else:  # a whole, valid npz, but not the one the record names
        other = store.put(_record("other", value=2.5))
        sidecar.write_bytes(other.with_name(json.loads(other.read_text())["arrays_file"]["name"]).read_bytes())
    expected = ["good", "other"] if damage == "replace" else ["good"]
    with pytest.warns(StoreIntegrityWarning) as caught:
        assert sorted(r.potential.spec for r in store.records()) == expected
    _assert_set_aside(store, path, caught.list, "arrays file")
    assert not sidecar.exists()
    assert (damage == "delete") != any(p.name.startswith(sidecar.name) for p in _quarantined(store))
    store.put(record)
    assert _same(store.get(TASK, record.key), record)


def test_stale_tmp_file_is_set_aside_young_one_left_alone(store: ResultStore) -> None:
    record = _record()
    path = store.put(record)
    stale = path.with_name(".tmp-dead123.json")
    stale.write_text('{"schema": 2, "checks')  # a writer killed mid-write
    os.utime(stale, (time.time() - 120, time.time() - 120))
    young = path.with_name(".tmp-live456.json")
    young.write_text("{")
    with pytest.warns(StoreIntegrityWarning) as caught:
        assert _same(store.records(), [record])
    _assert_set_aside(store, stale, caught.list, "killed writer")
    assert young.is_file()
    assert _same(store.get(TASK, record.key), record)


def test_record_in_the_wrong_file_is_set_aside(store: ResultStore) -> None:
    path = store.put(_record("emt"))
    copy = path.with_name("emt-0123456789abcdef.json")
    copy.write_bytes(path.read_bytes())
    with pytest.warns(StoreIntegrityWarning) as caught:
        assert len(store.records()) == 1
    _assert_set_aside(store, copy, caught.list, "does not match the record's key")


def test_record_of_older_version_is_skipped_not_quarantined(store: ResultStore) -> None:
    record = _record()
    old = store.path_for(TASK, "old", "f" * 64)
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(to_jsonable(_record("old", key="f" * 64))))  # the format before checksums
    store.put(record)
    with pytest.warns(StoreIntegrityWarning, match=r"older mlip-bench.*" + str(old.name)):
        assert _same(store.records(), [record])
    with pytest.warns(StoreIntegrityWarning, match="older mlip-bench"):
        assert store.get(TASK, "f" * 64) is None
    assert old.is_file() and not (store.root / "quarantine").exists()


def test_task_ids_with_at_sign_and_odd_characters(store: ResultStore) -> None:
    ids = [f"{TASK}@my data.extxyz", f"{TASK}@quarantine", "quarantine", "x/../y"]
    records = [_record("emt", task=t, key=sha256_bytes(t.encode())) for t in ids]
    paths = [store.put(r) for r in records]
    assert paths[0].parent.name == f"{TASK}@my_data.extxyz"
    assert all(store.root in p.parents and p.parent.parent == store.root for p in paths)
    assert paths[2].parent.name != "quarantine"
    for r in records:
        assert _same(store.get(r.task.id, r.key), r)
    assert sorted(r.task.id for r in store.records()) == sorted(ids)


def test_integrity_helpers(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two", durable=True)
    assert target.read_bytes() == b"two" and [p.name for p in target.parent.iterdir()] == ["b.bin"]
    with pytest.warns(StoreIntegrityWarning, match=str(target) + ".*because"):
        moved = quarantine(target, root=tmp_path, reason="because")
    assert moved.parent == tmp_path / "quarantine" / "a" and moved.read_bytes() == b"two"
    with pytest.warns(StoreIntegrityWarning, match="already gone"):  # another worker moved it: no error
        quarantine(target, root=tmp_path, reason="because")
    error = CorruptFileError(target, "truncated")
    assert isinstance(error, ResultStoreError) and str(target) in str(error) and error.reason == "truncated"
