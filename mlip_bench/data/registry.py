"""The dataset registry (``reference_data/datasets.yaml``): names -> files under a data root,
with provenance and a sha256 verified whenever the file is read. Loaded datasets are memoized per
process (see :func:`load_dataset`)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mlip_bench.data.extxyz import read_bytes, read_extxyz, sha256_of
from mlip_bench.data.frames import Dataset, Provenance, read_only
from mlip_bench.data.hf import read_hf
from mlip_bench.data.yaml_text import load_yaml
from mlip_bench.errors import ChecksumError, DataError, DatasetNotFoundError
from mlip_bench.paths import DATA_ENV, reference_dir, resolve_data_root

IDENTITY_ORDER = (0, 1, 2, 3, 4, 5)
_FIELDS = ("path", "sha256", "source", "citation", "license", "method")

#: datasets loaded in this process: key -> (the file's (size, mtime_ns) or a composite's member
#: objects, the dataset); see :func:`load_dataset`
_LOADED: dict[tuple[object, ...], tuple[tuple[object, ...], Dataset]] = {}
#: re-entrant: a composite loads its members under the same lock
_LOCK = threading.RLock()


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset; `path` is relative to the data root."""

    id: str
    path: str
    sha256: str
    description: str
    source: str
    citation: str
    license: str
    method: str
    group_label: str = ""
    #: permutation applied to each frame's Voigt stress on load (corrects a file's component order)
    stress_order: tuple[int, ...] = IDENTITY_ORDER
    #: a composite dataset: the registered datasets it concatenates (then `path` and `sha256` are "")
    members: tuple[str, ...] = ()

    def provenance(self) -> Provenance:
        note = "" if self.stress_order == IDENTITY_ORDER else f"; stress components reordered {list(self.stress_order)}"
        return Provenance(source=self.source, citation=self.citation, license=self.license, method=self.method + note)

    def corrected(self, dataset: Dataset) -> Dataset:
        """`dataset` with the registry's stress correction applied (unchanged when there is none)."""
        if self.stress_order == IDENTITY_ORDER:
            return dataset
        order = list(self.stress_order)
        frames = tuple(
            replace(f, stress_eV_per_A3=None if f.stress_eV_per_A3 is None else read_only(f.stress_eV_per_A3[order]))
            for f in dataset.frames
        )
        return replace(dataset, frames=frames)


@cache
def registered_datasets(registry_file: Path | None = None) -> dict[str, DatasetEntry]:
    """All registry entries by id. Raises DataError naming the file and field on a bad entry."""
    registry_file = registry_file or reference_dir() / "datasets.yaml"
    try:
        raw = load_yaml(registry_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{registry_file}: cannot read the dataset registry: {exc}") from exc
    entries: dict[str, DatasetEntry] = {}
    for name, fields in (raw.get("datasets") or {}).items():
        if fields and "members" in fields:
            entries[name] = _composite(registry_file, name, fields)
            continue
        missing = [f for f in _FIELDS if not fields or f not in fields]
        if missing:
            raise DataError(f"{registry_file}: dataset {name!r}: missing field(s) {missing}")
        order = tuple(int(i) for i in fields.pop("stress_order", IDENTITY_ORDER))
        if sorted(order) != list(IDENTITY_ORDER):
            raise DataError(f"{registry_file}: dataset {name!r}: field 'stress_order' must permute 0..5")
        text: dict[str, Any] = {k: str(v) for k, v in fields.items()}
        _check_confined(registry_file, name, text["path"])
        entries[name] = DatasetEntry(id=name, stress_order=order, **text)
    for entry in entries.values():
        unknown = [m for m in entry.members if m not in entries or entries[m].members]
        if unknown:
            raise DataError(f"{registry_file}: dataset {entry.id!r}: field 'members': {unknown} are not file datasets")
    return entries


def _check_confined(registry_file: Path, name: str, path: str) -> None:
    """A registry path names a file under the data root: relative, without '..' (raises DataError)."""
    parts = Path(path).parts
    if not path.strip() or Path(path).is_absolute() or path.startswith("~") or ".." in parts:
        raise DataError(
            f"{registry_file}: dataset {name!r}: field 'path' must be relative to the data root "
            f"without '..' components, got {path!r}"
        )


def _composite(registry_file: Path, name: str, fields: dict[str, object]) -> DatasetEntry:
    members = fields.get("members")
    if not isinstance(members, list) or len(members) < 2:
        raise DataError(f"{registry_file}: dataset {name!r}: field 'members' must list at least two datasets")
    text: dict[str, Any] = {
        k: str(fields.get(k, "")) for k in ("description", "source", "citation", "license", "method")
    }
    return DatasetEntry(
        id=name,
        path="",
        sha256="",
        group_label=str(fields.get("group_label", "")),
        members=tuple(str(m) for m in members),
        **text,
    )


def dataset_path(entry: DatasetEntry, data_root: str | Path | None = None) -> Path:
    """Absolute path of a registered dataset; raises DatasetNotFoundError saying how to get it."""
    root = resolve_data_root(data_root)
    if root is None:
        raise DatasetNotFoundError(
            f"dataset {entry.id!r}: no data root. Pass --data-root DIR or set {DATA_ENV} to the folder "
            f"holding {entry.path} (the mlip-bench shared data: {entry.source})."
        )
    path = root / entry.path
    if not os.path.normpath(path).startswith(os.path.join(os.path.normpath(root), "")):
        raise DataError(f"dataset {entry.id!r}: field 'path' {entry.path!r} leads outside the data root {root}")
    if not path.is_file():
        raise DatasetNotFoundError(
            f"dataset {entry.id!r}: {path} not found under data root {root}. Get it from "
            f"{entry.source} and pass --data-root DIR or set {DATA_ENV}."
        )
    return path


def load_dataset(name_or_path: str | Path, *, data_root: str | Path | None = None) -> Dataset:
    """Load a registered dataset by name (checksum verified) or any extxyz/parquet/HF source.

    A dataset is read once per process and the same (immutable) object is returned to every
    caller, until its file's size or mtime changes: then it is read and verified again. Composite
    datasets reuse their loaded members. Folders and hub ids are not memoized.

    Raises DatasetNotFoundError, ChecksumError (naming the file) or DataError.
    """
    entries = registered_datasets()
    entry = entries.get(str(name_or_path))
    with _LOCK:
        if entry is not None and entry.members:
            return _load_composite(entry, data_root)
        if entry is not None:
            path = dataset_path(entry, data_root)
            return _memo(("registered", entry, path.resolve()), path, lambda: _load_registered(entry, path))
        path = Path(name_or_path)
        if path.is_file():
            return _memo(("file", path.resolve()), path, lambda: load_file(name_or_path))
    return load_file(name_or_path)


def clear_dataset_cache() -> None:
    """Forget every loaded dataset (the next load reads its file again)."""
    with _LOCK:
        _LOADED.clear()


def _memo(key: tuple[object, ...], path: Path, load: Callable[[], Dataset]) -> Dataset:
    """The dataset cached under `key` while `path` keeps its size and mtime, else a fresh `load()`."""
    stat = path.stat()
    state = (stat.st_size, stat.st_mtime_ns)  # taken before reading: an edit during the read reloads next time
    cached = _LOADED.get(key)
    if cached is not None and cached[0] == state:
        return cached[1]
    dataset = load()
    _LOADED[key] = (state, dataset)
    return dataset


def _load_registered(entry: DatasetEntry, path: Path) -> Dataset:
    raw = read_bytes(path)  # one read for both the checksum and the parse
    found = hashlib.sha256(raw).hexdigest()
    if found != entry.sha256:
        raise ChecksumError(
            f"{path}: sha256 {found} differs from the registry's {entry.sha256} "
            f"for dataset {entry.id!r}: the file is corrupt or a different version"
        )
    return entry.corrected(read_extxyz(path, dataset_id=entry.id, provenance=entry.provenance(), content=raw))


def _load_composite(entry: DatasetEntry, data_root: str | Path | None) -> Dataset:
    parts = tuple(load_dataset(m, data_root=data_root) for m in entry.members)
    key = ("composite", entry, resolve_data_root(data_root))
    cached = _LOADED.get(key)
    if (
        cached is not None
        and len(cached[0]) == len(parts)
        and all(a is b for a, b in zip(cached[0], parts, strict=True))
    ):
        return cached[1]
    frames = tuple(f for part in parts for f in part.frames)
    prov = replace(entry.provenance(), sha256=fingerprint(entry.id), path=" + ".join(p.provenance.path for p in parts))
    dataset = Dataset(id=entry.id, frames=frames, provenance=prov)
    _LOADED[key] = (parts, dataset)
    return dataset


def load_file(path: str | Path, *, dataset_id: str | None = None) -> Dataset:
    """Load an unregistered dataset: extxyz/xyz (optionally .gz), parquet, a datasets folder or a hub id."""
    text = str(path)
    if any(text.endswith(ext) for ext in (".xyz", ".extxyz", ".xyz.gz", ".extxyz.gz")):
        return read_extxyz(path, dataset_id=dataset_id)
    if not Path(path).exists() and "/" not in text.strip("/") and ":" not in text:
        raise DataError(
            f"{text!r} is neither a registered dataset ({', '.join(sorted(registered_datasets()))}) "
            "nor an existing file"
        )
    return read_hf(path, dataset_id=dataset_id)


def fingerprint(name_or_path: str) -> str:
    """What identifies a dataset's content for caching: the registry sha256 for a named dataset,
    the sha256 of a file (or of every file in a folder), else the name itself (e.g. a hub id)."""
    entry = registered_datasets().get(name_or_path)
    if entry is not None and entry.members:
        return "+".join(fingerprint(m) for m in entry.members)
    if entry is not None:
        return entry.sha256
    path = Path(name_or_path)
    if path.is_file():
        return sha256_of(path)
    if path.is_dir():
        return ",".join(sha256_of(p) for p in sorted(path.rglob("*")) if p.is_file())
    return f"unresolved:{name_or_path}"
