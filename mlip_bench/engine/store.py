"""The result store: one JSON file per (task, potential) cell, written atomically, found again
by the content hash (key) of the cell's inputs, so an unchanged cell is never recomputed and a
killed run resumes where it stopped.

Each stored file carries its own ``checksum`` (sha256 of the canonical JSON of everything else) and
store ``schema``. Per-structure arrays (parity data: per-atom forces, stresses, curves) live in one
sidecar ``<stem>.<sha256 prefix>.npz`` per record, referenced from the JSON by name and sha256, and are
re-attached on read, so in-memory records are whole. A file that is not JSON, not a record, truncated,
of another schema, edited by hand, or whose sidecar is missing or corrupt is moved to
``<root>/quarantine/`` with a :class:`StoreIntegrityWarning` naming it: :meth:`ResultStore.get` then
answers None (the runner recomputes) and :meth:`ResultStore.records` skips it (reports use the rest).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mlip_bench.engine.integrity import TMP_PREFIX, clean_stale_tmp, quarantine, sha256_bytes, write_atomic
from mlip_bench.engine.records import ResultRecord, from_jsonable, join_item_arrays, pack_item_arrays, to_jsonable
from mlip_bench.errors import CorruptFileError, StoreIntegrityWarning

DEFAULT_RESULTS_DIR = "results"
#: version of the stored file layout (1: plain record JSON with inline arrays and no checksum)
STORE_SCHEMA = 2
#: top-level folders of a results root that hold no task records
RESERVED_DIRS = frozenset({"quarantine", "predictions", "artifacts"})
#: a sidecar not referenced by its record's JSON is deleted only when older than this (a concurrent
#: writer of the same cell may have written it and not yet its JSON)
ORPHAN_AGE_S = 60.0


def slug(text: str) -> str:
    """A file-name-safe form of a potential spec (or task id: '@' is kept, see :func:`task_dir_name`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "potential"


def task_dir_name(task_id: str) -> str:
    """The folder name of a task's records: the id itself for ids made of letters, digits, '_.-@'
    (``<task>@<file>`` for tasks run on a user's dataset), other characters replaced by '_'."""
    name = re.sub(r"[^A-Za-z0-9_.@-]+", "_", task_id).strip("_.") or "task"
    return name if name not in RESERVED_DIRS else f"{name}_"


def canonical_json(document: dict[str, Any]) -> bytes:
    """The bytes the checksum is taken of: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def record_to_json(record: ResultRecord, *, arrays_file: dict[str, str] | None = None) -> str:
    """The stored JSON of `record` (item arrays left out: they go to the sidecar named in `arrays_file`)."""
    bare = tuple(dataclasses.replace(item, arrays={}) if item.arrays else item for item in record.items)
    body = to_jsonable(dataclasses.replace(record, items=bare))
    for item in body["items"]:
        del item["arrays"]
    body["arrays_file"] = arrays_file
    checksum = sha256_bytes(canonical_json({"schema": STORE_SCHEMA, **body}))
    return json.dumps({"schema": STORE_SCHEMA, "checksum": checksum, **body}, indent=1, allow_nan=False)


class _LegacyRecord(Exception):
    """A record written before checksums (store schema 1)."""


def _parse(payload: bytes, path: Path) -> dict[str, Any]:
    """The stored document with its checksum verified (raises CorruptFileError, _LegacyRecord)."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, f"not JSON (truncated?): {exc}") from exc
    if not isinstance(document, dict):
        raise CorruptFileError(path, f"not a result record: a JSON {type(document).__name__}")
    if "checksum" not in document:
        if {"key", "task", "potential", "schema_version"} <= document.keys():
            raise _LegacyRecord
        raise CorruptFileError(path, "not a result record (no checksum, no record fields)")
    if document.get("schema") != STORE_SCHEMA:
        raise CorruptFileError(path, f"store schema {document.get('schema')!r}, this mlip-bench reads {STORE_SCHEMA}")
    claimed = document.pop("checksum")
    try:
        actual = sha256_bytes(canonical_json(document))
    except ValueError as exc:  # NaN/inf written by hand: to_jsonable never writes them
        raise CorruptFileError(path, f"not canonical JSON: {exc}") from exc
    if actual != claimed:
        raise CorruptFileError(path, f"checksum mismatch (edited by hand?): file says {claimed}, content is {actual}")
    return document


def _load_sidecar(json_path: Path, ref: Any) -> tuple[Path, dict[str, np.ndarray]]:
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or "/" in ref["name"]:
        raise CorruptFileError(json_path, f"bad arrays_file entry {ref!r}")
    path = json_path.with_name(ref["name"])
    try:
        payload = path.read_bytes()
    except FileNotFoundError as exc:
        raise CorruptFileError(json_path, f"its arrays file {path} is missing") from exc
    if sha256_bytes(payload) != ref.get("sha256"):
        raise CorruptFileError(json_path, f"its arrays file {path} fails its checksum")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            return path, {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CorruptFileError(json_path, f"its arrays file {path} is unreadable: {exc}") from exc


def read_record(path: Path) -> ResultRecord:
    """The record stored at `path`, its arrays re-attached, every checksum verified.

    Raises CorruptFileError (path and reason) for anything but a whole, current, untouched record;
    FileNotFoundError when the file vanished; other OSError when it cannot be read.
    """
    document = _parse(path.read_bytes(), path)
    ref = document.get("arrays_file")
    arrays = _load_sidecar(path, ref)[1] if ref is not None else {}
    try:
        record = from_jsonable(ResultRecord, document)
        items = join_item_arrays(record.items, arrays)
        key_in_name = path.stem.endswith(f"-{record.key[:16]}")
    except (TypeError, KeyError, AttributeError, ValueError, StopIteration) as exc:
        raise CorruptFileError(path, f"not a valid result record: {type(exc).__name__}: {exc}") from exc
    if not key_in_name:
        raise CorruptFileError(path, f"file name does not match the record's key {record.key[:16]} (copied?)")
    return record if items is record.items else dataclasses.replace(record, items=items)


class ResultStore:
    """Results under `root`/<task id>/<potential slug>-<key prefix>.json (+ .npz sidecar of item arrays).

    `durable` fsyncs each write: only power loss can lose an un-fsynced write, and a record lost or torn
    that way is quarantined and recomputed on the next run, so the default skips the cost.
    """

    def __init__(self, root: str | Path = DEFAULT_RESULTS_DIR, *, durable: bool = False) -> None:
        self.root = Path(root)
        self.durable = durable

    def path_for(self, task_id: str, potential_spec: str, key: str) -> Path:
        return self.root / task_dir_name(task_id) / f"{slug(potential_spec)}-{key[:16]}.json"

    def get(self, task_id: str, key: str) -> ResultRecord | None:
        """The stored record with this key, or None (found by key: the spec may be spelled differently).
        A bad file is quarantined (with a warning naming it) and counts as absent."""
        folder = self.root / task_dir_name(task_id)
        if not folder.is_dir():
            return None
        clean_stale_tmp(folder, root=self.root)
        legacy: list[Path] = []
        for path in sorted(folder.glob(f"*-{key[:16]}.json")):
            record = self._load(path, legacy)
            if record is not None and record.key == key:
                return record
        _warn_legacy(legacy)
        return None

    def put(self, record: ResultRecord) -> Path:
        """Write the sidecar (if any item has arrays), then the JSON, each atomically: a reader sees the
        old record or the new one, and a JSON never names a sidecar not yet written."""
        path = self.path_for(record.task.id, record.potential.spec, record.key)
        packed: dict[str, Any] = pack_item_arrays(record.items)
        arrays_file = None
        if packed:
            buffer = io.BytesIO()
            np.savez(buffer, **packed)
            payload = buffer.getvalue()
            digest = sha256_bytes(payload)
            arrays_file = {"name": f"{path.stem}.{digest[:16]}.npz", "sha256": digest}
            write_atomic(path.with_name(arrays_file["name"]), payload, durable=self.durable)
        write_atomic(path, record_to_json(record, arrays_file=arrays_file).encode(), durable=self.durable)
        _drop_orphan_sidecars(path, keep=arrays_file["name"] if arrays_file else None)
        return path

    def records(self) -> list[ResultRecord]:
        """The newest record of each (task, potential) pair in the store; bad files are quarantined
        (with a warning naming each) and skipped, records of older mlip-bench versions skipped."""
        latest: dict[tuple[str, str], ResultRecord] = {}
        legacy: list[Path] = []
        for folder in self._task_dirs():
            clean_stale_tmp(folder, root=self.root)
            for path in sorted(folder.glob("*.json")):
                record = None if path.name.startswith(TMP_PREFIX) else self._load(path, legacy)
                if record is None:
                    continue
                pair = (record.task.id, record.potential.spec)
                if pair not in latest or record.created_utc > latest[pair].created_utc:
                    latest[pair] = record
        _warn_legacy(legacy)
        return list(latest.values())

    def _task_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in sorted(self.root.iterdir()) if p.is_dir() and p.name not in RESERVED_DIRS]

    def _load(self, path: Path, legacy: list[Path]) -> ResultRecord | None:
        """The record at `path`, or None: quarantined if bad, listed in `legacy` if from before checksums."""
        try:
            return read_record(path)
        except FileNotFoundError:  # moved or replaced by another worker meanwhile
            return None
        except _LegacyRecord:
            # Not quarantined: the file is whole, only unverifiable. Its cell key holds the code version
            # of the mlip-bench that wrote it, so get() could never match it, and using it in a report
            # would pass unchecked numbers off as checked. It stays for the user to keep or delete.
            legacy.append(path)
            return None
        except CorruptFileError as exc:
            self._set_aside(path, exc.reason)
            return None
        except OSError as exc:  # e.g. permissions: not the file's fault, so leave it where it is
            warnings.warn(f"{path}: cannot be read ({exc}); skipped", StoreIntegrityWarning, stacklevel=3)
            return None

    def _set_aside(self, path: Path, reason: str) -> None:
        sidecar = _referenced_sidecar(path)
        quarantine(path, root=self.root, reason=reason)
        if sidecar is not None and sidecar.exists():
            quarantine(sidecar, root=self.root, reason=f"arrays file of the quarantined {path.name}")


def _referenced_sidecar(path: Path) -> Path | None:
    """The sidecar a (possibly bad) JSON names, if that much of it can be read and the sidecar is this
    file's own (<stem>.<hash>.npz): a copied or edited JSON may name another record's sidecar."""
    try:
        name = json.loads(path.read_bytes())["arrays_file"]["name"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    own = isinstance(name, str) and name.startswith(path.stem + ".") and "/" not in name
    return path.with_name(name) if own else None


def _drop_orphan_sidecars(json_path: Path, *, keep: str | None) -> None:
    now = time.time()
    for sidecar in json_path.parent.glob(f"{json_path.stem}.*.npz"):
        try:
            if sidecar.name != keep and now - sidecar.stat().st_mtime > ORPHAN_AGE_S:
                sidecar.unlink()
        except FileNotFoundError:
            continue


def _warn_legacy(paths: list[Path]) -> None:
    if paths:
        shown = ", ".join(str(p) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        message = f"{len(paths)} record(s) written by an older mlip-bench (no checksum) not used: {shown}"
        warnings.warn(message + "; rerun those cells, then delete the old files", StoreIntegrityWarning, stacklevel=3)
