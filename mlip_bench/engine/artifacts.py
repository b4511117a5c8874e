"""The artifact store: results of work items, kept as soon as each item finishes, found again by
the content hash of the item's inputs. A run killed at any point resumes from what is here.

Layout under ``<results>/artifacts/``:

* ``items/<key[:2]>/<key>.json``: a generic item result (JSON of a typed dataclass), wrapped with
  its sha256;
* ``predictions/<potential key>/<chunk key>.npz``: the predictions of one potential on one chunk of
  dataset structures (energies, forces, stresses, seconds, and the failure reason of structures the
  potential failed on), with a sha256 over all arrays. A potential's predictions are shared by every
  task that scores the same structures, found by structure id and a hash of the atoms;
* ``scratch/<key>/``: files an item writes while it runs (MD checkpoints).

A file that is truncated, foreign, of another schema or fails its checksum is set aside under
``<results>/quarantine/`` with a warning naming it, and the item is computed again; it is never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mlip_bench.data.frames import Frame
from mlip_bench.engine.evaluate import Prediction
from mlip_bench.engine.integrity import TMP_PREFIX, quarantine, sha256_bytes, write_atomic
from mlip_bench.engine.records import from_jsonable, to_jsonable

ARTIFACT_SCHEMA = 1
T = TypeVar("T")


def content_key(*parts: object) -> str:
    """sha256 of the canonical JSON of `parts`: the key of an item is the hash of its inputs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def frame_key(frame: Frame) -> str:
    """``<id>|<hash of numbers, positions, cell, pbc>``: what a prediction depends on."""
    atoms = frame.atoms
    digest = hashlib.sha256()
    for array in (atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc):
        digest.update(np.ascontiguousarray(array).tobytes())
    return f"{frame.id}|{digest.hexdigest()[:20]}"


@dataclass(frozen=True)
class ChunkPredictions:
    """One potential's results on a chunk of structures: a Prediction or the failure reason for
    each structure key (``frame_key``)."""

    predictions: dict[str, Prediction]
    failures: dict[str, str]

    @property
    def keys(self) -> list[str]:
        return sorted(self.predictions) + sorted(self.failures)


class ArtifactStore:
    """Artifacts under ``root`` (``<results>/artifacts``); quarantine under ``root.parent``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # generic item results --------------------------------------------------------------------
    def item_path(self, key: str) -> Path:
        return self.root / "items" / key[:2] / f"{key}.json"

    def put_item(self, key: str, value: Any) -> None:
        payload = json.dumps(to_jsonable(value))  # insertion order kept: a resumed record equals a fresh one
        wrapped = {"schema": ARTIFACT_SCHEMA, "key": key, "sha256": sha256_bytes(payload.encode()), "payload": payload}
        write_atomic(self.item_path(key), json.dumps(wrapped).encode())

    def get_item(self, key: str, cls: type[T]) -> T | None:
        """The stored result of item `key` as a `cls`, or None (absent, or bad and set aside)."""
        path = self.item_path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            wrapped = json.loads(raw)
            payload = wrapped["payload"]
            if wrapped.get("schema") != ARTIFACT_SCHEMA or wrapped.get("key") != key:
                raise ValueError(f"foreign artifact (schema {wrapped.get('schema')!r}, key {wrapped.get('key')!r})")
            if sha256_bytes(payload.encode()) != wrapped["sha256"]:
                raise ValueError("checksum mismatch: the file was edited or damaged")
            return from_jsonable(cls, json.loads(payload))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            quarantine(path, root=self.root.parent, reason=f"not a valid item artifact: {exc}")
            return None

    def scratch_dir(self, key: str) -> Path:
        """A folder for files an item writes while it runs (checkpoints); created on demand."""
        path = self.root / "scratch" / key[:32]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def drop_scratch(self, key: str) -> None:
        """Remove item `key`'s scratch folder: its output is stored, its checkpoints are spent."""
        shutil.rmtree(self.root / "scratch" / key[:32], ignore_errors=True)

    # predictions -----------------------------------------------------------------------------
    def predictions_dir(self, potential_key: str) -> Path:
        return self.root / "predictions" / potential_key[:24]

    def put_predictions(self, potential_key: str, chunk_key: str, chunk: ChunkPredictions) -> None:
        write_atomic(self.predictions_dir(potential_key) / f"{chunk_key[:32]}.npz", _pack(chunk))

    def load_predictions(self, potential_key: str) -> ChunkPredictions:
        """Every stored prediction of one potential (all chunks merged); bad chunks are set aside."""
        predictions: dict[str, Prediction] = {}
        failures: dict[str, str] = {}
        folder = self.predictions_dir(potential_key)
        for path in sorted(folder.glob("*.npz")) if folder.is_dir() else ():
            if path.name.startswith(TMP_PREFIX):
                continue
            try:
                chunk = _unpack(path.read_bytes())
            except (ValueError, KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
                quarantine(path, root=self.root.parent, reason=f"not a valid predictions chunk: {exc}")
                continue
            predictions.update(chunk.predictions)
            failures.update(chunk.failures)
        for key in predictions:  # a structure that once failed and later succeeded counts as computed
            failures.pop(key, None)
        return ChunkPredictions(predictions, failures)


_ARRAYS = (
    "keys",
    "energy_eV",
    "seconds",
    "n_forces",
    "forces_eV_per_A",
    "stress_eV_per_A3",
    "failed_keys",
    "reasons",
    "uncertainty",
    "n_atom_uncertainty",
    "atom_uncertainty",
)


def _pack(chunk: ChunkPredictions) -> bytes:
    keys = sorted(chunk.predictions)
    preds = [chunk.predictions[k] for k in keys]
    forces = [p.forces_eV_per_A for p in preds if p.forces_eV_per_A is not None]
    failed = sorted(chunk.failures)
    atom_u = [p.atom_uncertainty for p in preds]
    arrays: dict[str, np.ndarray] = {
        "keys": np.array(keys, dtype=str),
        "energy_eV": np.array([p.energy_eV for p in preds], dtype=float),
        "seconds": np.array([p.seconds for p in preds], dtype=float),
        "n_forces": np.array([0 if p.forces_eV_per_A is None else len(p.forces_eV_per_A) for p in preds], dtype=int),
        "forces_eV_per_A": np.concatenate(forces) if forces else np.zeros((0, 3)),
        "stress_eV_per_A3": np.array(
            [np.full(6, np.nan) if p.stress_eV_per_A3 is None else p.stress_eV_per_A3 for p in preds], dtype=float
        ).reshape(-1, 6),
        "failed_keys": np.array(failed, dtype=str),
        "reasons": np.array([chunk.failures[k] for k in failed], dtype=str),
        # NaN: the potential has no uncertainty (adapters/uncertainty.py)
        "uncertainty": np.array([np.nan if p.uncertainty is None else p.uncertainty for p in preds], dtype=float),
        "n_atom_uncertainty": np.array([0 if a is None else len(a) for a in atom_u], dtype=int),
        "atom_uncertainty": np.concatenate([a for a in atom_u if a is not None] or [np.zeros(0)]).astype(float),
    }
    arrays["sha256"] = np.array(_digest(arrays))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwargs
    return buffer.getvalue()


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(str(ARTIFACT_SCHEMA).encode())
    for name in _ARRAYS:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _unpack(raw: bytes) -> ChunkPredictions:
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        arrays = {name: data[name] for name in (*_ARRAYS, "sha256")}
    if str(arrays["sha256"]) != _digest(arrays):
        raise ValueError("checksum mismatch: the file was edited or damaged")
    offsets = np.concatenate([[0], np.cumsum(arrays["n_forces"])])
    atom_offsets = np.concatenate([[0], np.cumsum(arrays["n_atom_uncertainty"])])
    predictions: dict[str, Prediction] = {}
    for i, key in enumerate(arrays["keys"]):
        n = int(arrays["n_forces"][i])
        forces = arrays["forces_eV_per_A"][offsets[i] : offsets[i + 1]] if n else None
        stress = arrays["stress_eV_per_A3"][i]
        energy, seconds = float(arrays["energy_eV"][i]), float(arrays["seconds"][i])
        u = float(arrays["uncertainty"][i])
        has_atom_u = bool(arrays["n_atom_uncertainty"][i])
        atom_u = arrays["atom_uncertainty"][atom_offsets[i] : atom_offsets[i + 1]] if has_atom_u else None
        predictions[str(key)] = Prediction(
            energy, forces, None if np.isnan(stress).all() else stress, seconds, None if np.isnan(u) else u, atom_u
        )
    failures = {str(k): str(r) for k, r in zip(arrays["failed_keys"], arrays["reasons"], strict=True)}
    return ChunkPredictions(predictions, failures)


def chunked(frames: Iterable[Frame], *, max_structures: int, max_atoms: int) -> list[list[Frame]]:
    """Consecutive chunks of at most `max_structures` structures and about `max_atoms` atoms (a
    structure larger than `max_atoms` is a chunk of its own): the unit of work and of resume for
    dataset kinds."""
    chunks: list[list[Frame]] = []
    current: list[Frame] = []
    atoms = 0
    for frame in frames:
        if current and (len(current) >= max_structures or atoms + frame.n_atoms > max_atoms):
            chunks.append(current)
            current, atoms = [], 0
        current.append(frame)
        atoms += frame.n_atoms
    if current:
        chunks.append(current)
    return chunks
