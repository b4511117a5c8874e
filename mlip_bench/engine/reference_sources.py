"""What ``mlip-bench reference --out DATASET`` labels: a dataset task's structures or any structure
file (extxyz and parquet through the suite's loaders, anything else through ``ase.io.read``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlip_bench.data.frames import Dataset, Provenance, make_frame
from mlip_bench.data.registry import load_dataset, load_file
from mlip_bench.engine.kinds import get_kind
from mlip_bench.engine.reference import is_dataset_path
from mlip_bench.engine.spec import TaskSpec, load_task
from mlip_bench.errors import DataError, TaskSpecError

#: info keys of a structure file that are results or ids, not labels to carry over
_NOT_LABELS = frozenset({"id", "energy", "free_energy", "stress", "virial", "forces"})


def source_structures(
    task: str | None, structures: str | Path | None, data_root: str | None
) -> tuple[Dataset, TaskSpec | None]:
    """The structures to label and the task they came from (None for a file). Raises TaskSpecError
    unless exactly one of `task` (a dataset task) and `structures` is given, DataError (and its
    DatasetNotFoundError, ChecksumError) when they cannot be read."""
    if (task is None) == (structures is None):
        given = "both" if task is not None else "neither"
        raise TaskSpecError(f"pass exactly one of --task TASK (a dataset task) or --structures FILE ({given} given)")
    if structures is not None:
        return read_structures(structures), None
    assert task is not None
    spec = load_task(task)
    if not get_kind(spec.kind).needs_dataset or not spec.dataset:
        raise TaskSpecError(
            f"--task {spec.id}: kind {spec.kind!r} has no dataset to label; write its curves to a .yaml --out, "
            "or pass --structures FILE"
        )
    return load_dataset(spec.dataset, data_root=data_root), spec


def read_structures(path: str | Path) -> Dataset:
    """Every structure of `path`: extxyz and parquet through the suite's loaders (ids and labels
    kept), any other format through ``ase.io.read`` (ids ``<stem>:<index>`` unless ``info['id']``).
    Raises DataError naming the file (``--structures``) when it is missing, unreadable or empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--structures {path}: no such file")
    if is_dataset_path(path):
        return load_file(path)
    import ase.io  # here: ase.io loads scipy.integrate (0.5 s)

    try:
        images = ase.io.read(str(path), index=":")
    except Exception as exc:  # ASE raises many kinds on a file it cannot read
        raise DataError(f"--structures {path}: not a structure file ASE can read: {type(exc).__name__}: {exc}") from exc
    stem = path.name.split(".")[0]
    frames = []
    for index, atoms in enumerate(images if isinstance(images, list) else [images]):
        labels = {
            k: str(v)
            for k, v in atoms.info.items()
            if k not in _NOT_LABELS and isinstance(v, str | int | float | bool | np.integer)
        }
        frame_id = str(atoms.info.get("id", f"{stem}:{index}"))
        frames.append(make_frame(source=path, index=index, frame_id=frame_id, atoms=atoms, labels=labels))
    if not frames:
        raise DataError(f"--structures {path}: holds no structures")
    return Dataset(id=stem, frames=tuple(frames), provenance=Provenance(source=str(path), path=str(path)))
