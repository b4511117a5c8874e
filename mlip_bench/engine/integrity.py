"""File integrity helpers shared by the result store and the artifact store: content hashes,
atomic writes, and setting bad files aside (quarantine) instead of using them or failing on them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from mlip_bench.errors import CorruptFileError, StoreIntegrityWarning

__all__ = [
    "TMP_PREFIX",
    "CorruptFileError",
    "StoreIntegrityWarning",
    "clean_stale_tmp",
    "quarantine",
    "sha256_bytes",
    "write_atomic",
]

#: prefix of the temporary files of :func:`write_atomic` (readers must ignore these names)
TMP_PREFIX = ".tmp-"
QUARANTINE_DIR = "quarantine"


def sha256_bytes(payload: bytes) -> str:
    """Hex sha256 of `payload`."""
    return hashlib.sha256(payload).hexdigest()


def write_atomic(path: Path, payload: bytes, *, durable: bool = False) -> None:
    """Write `payload` to `path` so that readers see the old file or the whole new one, never a part.

    A temporary file in the same folder (same file system, so os.replace is atomic) is renamed over
    `path`. `durable` adds fsync of the file and its folder: needed only to survive power loss, since a
    killed process loses nothing already handed to the page cache; it costs milliseconds per file.
    Creates the parent folder. Raises OSError on write failure (the temporary file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is then as durable as it gets
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def quarantine(path: Path, *, root: Path, reason: str) -> Path:
    """Move a bad file to <root>/quarantine/<path relative to root>.<utc stamp>, write the reason next to
    it (<that>.reason.txt) and warn (:class:`StoreIntegrityWarning`) naming the original path and reason.

    Returns the new path. A file that vanished meanwhile (another worker moved or replaced it) is not an
    error: the warning is still emitted and the would-be path returned. A file outside `root` keeps only
    its name under quarantine/.
    """
    path, root = Path(path), Path(root)
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(path.name)
    target = root / QUARANTINE_DIR / relative.parent / f"{relative.name}.{_utc_stamp()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
        moved = True
    except FileNotFoundError:
        moved = False
    if moved:
        with contextlib.suppress(OSError):  # the move is what matters; the reason file is a courtesy
            target.with_name(target.name + ".reason.txt").write_text(f"{path}\n{reason}\n")
    note = "set aside at " + str(target) if moved else "already gone (moved by another worker?)"
    warnings.warn(f"{path}: {reason}; {note}", StoreIntegrityWarning, stacklevel=2)
    return target


def clean_stale_tmp(folder: Path, *, root: Path | None = None, older_than_s: float = 60.0) -> list[Path]:
    """Set aside :data:`TMP_PREFIX` files directly in `folder` older than `older_than_s` seconds: leftovers
    of a writer killed between write and rename (younger ones may belong to a live writer).

    With `root`, each is quarantined under `root` (with a :class:`StoreIntegrityWarning`); without, deleted.
    Returns the original paths handled; never raises for files that vanish meanwhile."""
    handled: list[Path] = []
    now = time.time()
    for tmp in sorted(Path(folder).glob(TMP_PREFIX + "*")):
        try:
            age_s = now - tmp.stat().st_mtime
            if age_s <= older_than_s:
                continue
            if root is None:
                tmp.unlink()
            else:
                quarantine(tmp, root=root, reason=f"temporary file {age_s:.0f} s old, left by a killed writer")
        except FileNotFoundError:
            continue
        handled.append(tmp)
    return handled
