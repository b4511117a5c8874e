"""Predictions kept between tasks: several alloy tasks score the same structures (the Li-Al test
set feeds ranking, LEC, ground phase and hull tasks), so a potential is called once per structure.

One ``.npz`` per potential under ``<results>/predictions/``, named by the hash of the potential's
spec and version and the suite's code version; a structure is found again by its id and a hash of
its atoms, so composite datasets share entries with their members. Written atomically, merged with
what another process wrote meanwhile; a broken file is ignored (a cache never decides a result).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mlip_bench.data.frames import Frame
from mlip_bench.engine.evaluate import Prediction


def frame_hash(frame: Frame) -> str:
    """Hash of what a prediction depends on: numbers, positions, cell, pbc."""
    atoms = frame.atoms
    digest = hashlib.sha256()
    for array in (atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:20]


class PredictionCache:
    """Predictions of one potential on one dataset; `path` None disables storage."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, Prediction] = {}
        self._dirty = False
        if path is not None and path.is_file():
            self._entries = _read(path)

    @classmethod
    def for_potential(cls, root: str | Path | None, identity: list[str]) -> PredictionCache:
        """The cache of the potential identified by `identity` (spec, version, code version)."""
        if root is None:
            return cls(None)
        key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]
        return cls(Path(root) / "predictions" / f"{key}.npz")

    def get(self, frame: Frame) -> Prediction | None:
        return self._entries.get(f"{frame.id}|{frame_hash(frame)}")

    def put(self, frame: Frame, prediction: Prediction) -> None:
        self._entries[f"{frame.id}|{frame_hash(frame)}"] = prediction
        self._dirty = True

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():  # another worker may have added entries since we read
            self._entries = _read(self.path) | self._entries
        keys = sorted(self._entries)
        preds = [self._entries[k] for k in keys]
        counts = np.array([0 if p.forces_eV_per_A is None else len(p.forces_eV_per_A) for p in preds])
        forces = [p.forces_eV_per_A for p in preds if p.forces_eV_per_A is not None]
        arrays: dict[str, Any] = {
            "keys": np.array(keys),
            "energy_eV": np.array([p.energy_eV for p in preds]),
            "seconds": np.array([p.seconds for p in preds]),
            "n_forces": counts,
            "forces_eV_per_A": np.concatenate(forces) if forces else np.zeros((0, 3)),
            "stress_eV_per_A3": np.array(
                [np.full(6, np.nan) if p.stress_eV_per_A3 is None else p.stress_eV_per_A3 for p in preds]
            ).reshape(-1, 6),
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, self.path)
        self._dirty = False


def _read(path: Path) -> dict[str, Prediction]:
    try:
        data = np.load(path)
        keys, energy, seconds = data["keys"], data["energy_eV"], data["seconds"]
        counts, forces, stress = data["n_forces"], data["forces_eV_per_A"], data["stress_eV_per_A3"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    out: dict[str, Prediction] = {}
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for i, key in enumerate(keys):
        f = forces[offsets[i] : offsets[i + 1]] if counts[i] else None
        s = None if np.isnan(stress[i]).all() else stress[i]
        out[str(key)] = Prediction(float(energy[i]), f, s, float(seconds[i]))
    return out
