"""Where the project's declarative files live and where data is looked for.

In a checkout (or an editable install) ``tasks/`` and ``reference_data/`` sit beside the
package; a wheel carries copies under ``mlip_bench/_bundled``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mlip_bench.errors import DataError

_PACKAGE = Path(__file__).resolve().parent
DATA_ENV = "MLIP_BENCH_DATA"
#: the data root a run passed explicitly (workers receive it with each work item, not through the environment)
_explicit_root: list[Path] = []


def project_dir(name: str) -> Path:
    """The ``tasks`` or ``reference_data`` folder (checkout first, then the wheel's copy)."""
    for base in (_PACKAGE.parent, _PACKAGE / "_bundled"):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise DataError(f"cannot find the project folder {name!r} beside {_PACKAGE}")


def tasks_dir() -> Path:
    return project_dir("tasks")


def reference_dir() -> Path:
    return project_dir("reference_data")


def resolve_data_root(explicit: str | Path | None = None) -> Path | None:
    """The data root: `explicit`, else ``$MLIP_BENCH_DATA``, else the first ``../shared/data``
    found beside the working directory or the checkout; None when there is none."""
    if explicit is not None:
        return Path(explicit).expanduser().absolute()
    if _explicit_root:
        return _explicit_root[-1]
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().absolute()
    for base in (Path.cwd(), _PACKAGE.parent):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate.absolute()
    return None


def resolve_input_file(text: str) -> Path:
    """A user-named file: as given (absolute, or relative to the working directory) when it exists,
    else relative to the data root, so specs like ``mtp:li_al/mtp/MTP_train.mtp`` work from any
    checkout; a ``reference_data/...`` path also in the project's own reference data (a model the
    project fitted and ships, listed on a leaderboard). Returns the first candidate when none
    exists (the caller reports it)."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    root = resolve_data_root()
    if root is not None and (root / path).exists():
        return root / path
    if len(path.parts) > 1 and path.parts[0] == "reference_data":
        with contextlib.suppress(DataError):
            shipped = reference_dir().joinpath(*path.parts[1:])
            if shipped.exists():
                return shipped
    return path


@contextlib.contextmanager
def using_data_root(root: str | Path | None) -> Iterator[None]:
    """Within the block, data-relative files (datasets, potential files) resolve under `root`
    (no effect when None)."""
    if root is None:
        yield
        return
    _explicit_root.append(Path(root).expanduser().absolute())
    try:
        yield
    finally:
        _explicit_root.pop()


#: the artifact folder of the running store (``<results>/artifacts``), set by the engine around each work
#: item so that adapters can keep expensive derived inputs (an MTP's active set) once per store
_artifact_root: list[Path] = []


def artifact_root() -> Path | None:
    """The artifact folder of the run in progress, or None outside a run (then nothing is kept)."""
    return _artifact_root[-1] if _artifact_root else None


@contextlib.contextmanager
def using_artifact_root(root: str | Path | None) -> Iterator[None]:
    """Within the block, :func:`artifact_root` is `root` (no effect when None)."""
    if root is None:
        yield
        return
    _artifact_root.append(Path(root).expanduser().absolute())
    try:
        yield
    finally:
        _artifact_root.pop()
