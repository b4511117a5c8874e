"""MD checkpoint files: one compressed ``.npz`` per run, written atomically, validated before use.

A file holds named float/int arrays (the engine's state and the running time-average sums) and a
JSON ``_meta`` string: schema, the run's fingerprint, the step, whether the run finished (and where
it stopped) and small engine state (ASE: the random generator's state). Each save first moves the
current file to ``<stem>.prev<suffix>``, so a file damaged after its write still leaves the one
before it. A file that cannot be read, fails its CRC, lacks an array, has a wrong shape or
non-finite value, or carries another run's fingerprint raises :class:`CorruptFileError`;
:func:`latest_checkpoint` reports it (:class:`CheckpointWarning`, naming the path) and ignores it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlip_bench.errors import CheckpointWarning, CorruptFileError

SCHEMA = "mlip-bench md checkpoint 1"
#: the artifact store's temporary-file prefix (mlip_bench.engine.integrity.TMP_PREFIX; readers skip it)
TMP_PREFIX = ".tmp-"
_META = "_meta"


@dataclass(frozen=True)
class Checkpoint:
    """State after `step` MD steps. `arrays`: name -> array; `meta`: JSON-able engine state and,
    once `finished`, ``stopped_at_step`` (int or None) and ``stop_reason``."""

    step: int
    finished: bool
    arrays: Mapping[str, np.ndarray]
    meta: Mapping[str, Any] = field(default_factory=dict)


def previous_path(path: Path) -> Path:
    """Where the checkpoint before the latest one is kept."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the whole new one (temporary file
    in the same folder, then os.replace). Creates the folder; raises OSError (the temporary file is
    removed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=path.suffix)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_checkpoint(path: Path, fingerprint: str, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `path` atomically (temporary file + os.replace; the old file becomes
    :func:`previous_path`). Creates the folder. Raises OSError when the file cannot be written."""
    path = Path(path)
    meta = {
        "schema": SCHEMA,
        "fingerprint": fingerprint,
        "step": checkpoint.step,
        "finished": checkpoint.finished,
        **checkpoint.meta,
    }
    payload: dict[str, Any] = {_META: np.array(json.dumps(meta)), **checkpoint.arrays}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        if path.exists():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path, fingerprint: str, shapes: Mapping[str, tuple[int, ...]]) -> Checkpoint:
    """The checkpoint in `path` if it is whole and of this run: every array in `shapes` present with
    that shape and finite. Raises CorruptFileError(path, reason) otherwise."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {name: np.array(npz[name]) for name in npz.files}
        meta = json.loads(str(data.pop(_META)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptFileError(path, f"unreadable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise CorruptFileError(path, f"not an MD checkpoint of schema {SCHEMA!r}")
    if meta.get("fingerprint") != fingerprint:
        raise CorruptFileError(path, "checkpoint of another run (different start, settings or engine)")
    for name, shape in shapes.items():
        if name not in data:
            raise CorruptFileError(path, f"checkpoint lacks array {name!r}")
        if data[name].shape != shape:
            raise CorruptFileError(path, f"array {name!r} has shape {data[name].shape}, expected {shape}")
        if data[name].dtype.kind == "f" and not np.all(np.isfinite(data[name])):
            raise CorruptFileError(path, f"array {name!r} is not finite")
    try:
        step, finished = int(meta.pop("step")), bool(meta.pop("finished"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(path, "checkpoint metadata lacks a step") from exc
    return Checkpoint(step, finished, data, meta)


def latest_checkpoint(
    path: Path,
    fingerprint: str,
    shapes: Mapping[str, tuple[int, ...]],
    check: Callable[[Checkpoint], str],
) -> tuple[Checkpoint | None, tuple[str, ...]]:
    """The usable checkpoint with the most steps among `path` and its previous file, and one note per
    file ignored ("<path>: <reason>; ignored", also warned as CheckpointWarning). `check` returns a
    reason to reject a readable checkpoint (empty when fine)."""
    found: list[Checkpoint] = []
    notes: list[str] = []
    for candidate in (Path(path), previous_path(Path(path))):
        if not candidate.exists():
            continue
        try:
            checkpoint = read_checkpoint(candidate, fingerprint, shapes)
            reason = check(checkpoint)
            if reason:
                raise CorruptFileError(candidate, reason)
            found.append(checkpoint)
        except CorruptFileError as exc:
            notes.append(f"{exc}; ignored")
            warnings.warn(notes[-1], CheckpointWarning, stacklevel=3)
    best = max(found, key=lambda c: (c.finished, c.step), default=None)
    return best, tuple(notes)
