"""Hugging Face ``datasets`` I/O: local parquet files or folders, ``save_to_disk`` folders,
and hub ids (for users with a network; offline it fails with a clear message).

Row layout (one row per structure): ``id`` str, ``numbers`` list[int], ``positions`` list[float]
(N*3, Å), ``cell`` list[float] (9, Å), ``pbc`` list[bool] (3), ``energy`` float|null (eV),
``forces`` list[float]|null (N*3, eV/Å), ``stress`` list[float]|null (6 Voigt, eV/Å³),
``labels`` str (JSON object of string labels).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from mlip_bench.data.frames import Dataset, Frame, Provenance, make_frame
from mlip_bench.errors import DataError, OptionalDependencyError

REQUIRED_COLUMNS = ("id", "numbers", "positions", "cell", "pbc")


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError("Hugging Face datasets not installed: pip install mlip-bench[hf]") from exc
    return datasets


def frame_to_row(frame: Frame) -> dict[str, Any]:
    """One dataset row for a frame (see the module docstring for the layout)."""
    atoms = frame.atoms
    return {
        "id": frame.id,
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.ravel().tolist(),
        "cell": np.asarray(atoms.cell).ravel().tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "energy": frame.energy_eV,
        "forces": None if frame.forces_eV_per_A is None else frame.forces_eV_per_A.ravel().tolist(),
        "stress": None if frame.stress_eV_per_A3 is None else frame.stress_eV_per_A3.tolist(),
        "labels": json.dumps(dict(frame.labels), sort_keys=True),
    }


def row_to_frame(row: Mapping[str, Any], *, source: str, index: int) -> Frame:
    """Inverse of :func:`frame_to_row`. A malformed label (energy, forces, stress) or an unusable
    structure (NaN positions, singular cell) is recorded in ``Frame.problems``: that row fails alone.
    Raises :class:`DataError` naming source, row and column when the row cannot describe a
    structure at all (a required column missing, numbers that are no elements, wrong lengths)."""
    where = f"{source}: row {index}"
    for column in REQUIRED_COLUMNS:
        if row.get(column) is None:
            raise DataError(f"{where}: required column {column!r} is missing or null")
    numbers = _integers(row["numbers"], f"{where}: column 'numbers'")
    n = len(numbers)
    try:
        positions = np.asarray(row["positions"], dtype=float).reshape(n, 3)
        cell = np.asarray(row["cell"], dtype=float).reshape(3, 3)
        pbc = np.asarray(row["pbc"])
        if pbc.shape != (3,) or pbc.dtype.kind not in "bi":
            raise ValueError(f"'pbc' must be 3 booleans, got {row['pbc']!r:.60}")
        atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc.astype(bool))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: columns 'positions'/'cell'/'pbc' malformed: {exc}") from exc
    return make_frame(
        source=source,
        index=index,
        frame_id=str(row["id"]),
        atoms=atoms,
        energy=row.get("energy"),
        forces=_per_atom(row.get("forces")),
        stress=row.get("stress"),
        labels=_labels(row.get("labels"), where),
    )


def _integers(value: Any, where: str) -> np.ndarray:
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: not a list of atomic numbers: {exc}") from exc
    if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "iu"):
        raise DataError(f"{where}: not a list of atomic numbers ({raw.dtype} of shape {raw.shape})")
    return raw.astype(int)


def _per_atom(forces: Any) -> Any:
    """Flat N*3 forces as (N, 3); anything else as given, for make_frame to judge and record."""
    try:
        arr = np.asarray(forces, dtype=float)
    except (TypeError, ValueError):
        return forces
    return arr.reshape(-1, 3) if arr.ndim == 1 and arr.size % 3 == 0 else forces


def _labels(value: Any, where: str) -> dict[str, str]:
    try:
        labels = json.loads(value or "{}")
    except (TypeError, json.JSONDecodeError) as exc:
        raise DataError(f"{where}: column 'labels' is not JSON: {exc}") from exc
    if not isinstance(labels, dict):
        raise DataError(f"{where}: column 'labels' is not a JSON object ({type(labels).__name__})")
    return {str(k): str(v) for k, v in labels.items()}


def read_hf(
    source: str | Path,
    *,
    split: str = "train",
    dataset_id: str | None = None,
    provenance: Provenance | None = None,
) -> Dataset:
    """Load a dataset from a parquet file/folder, a ``save_to_disk`` folder or a hub id.

    Raises :class:`DataError` naming the source when it cannot be loaded (a hub id
    offline included) or a row is malformed.
    """
    hf = _hf_dataset(source, split)
    name = str(source)
    frames = tuple(row_to_frame(row, source=name, index=i) for i, row in enumerate(hf))
    if not frames:
        raise DataError(f"{name}: dataset holds no rows")
    prov = provenance or Provenance(source=name)
    fingerprint = getattr(hf, "_fingerprint", "") or ""
    prov = Provenance(**{**prov.__dict__, "sha256": prov.sha256 or fingerprint, "path": name})
    stem = Path(name).name.split(".")[0] or name
    return Dataset(id=dataset_id or stem, frames=frames, provenance=prov)


def _hf_dataset(source: str | Path, split: str) -> Any:
    datasets = _datasets()
    path = Path(source)
    try:
        saved = ("dataset_info.json", "dataset_dict.json")
        if path.is_dir() and any((path / name).exists() for name in saved):
            loaded = datasets.load_from_disk(str(path))
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        if path.is_dir() or path.suffix == ".parquet":
            files = sorted(str(p) for p in path.rglob("*.parquet")) if path.is_dir() else [str(path)]
            if not files:
                raise DataError(f"{path}: folder holds no .parquet files")
            return datasets.load_dataset("parquet", data_files=files, split="train")
        if path.exists():
            raise DataError(f"{path}: not a parquet file or a datasets folder")
        return datasets.load_dataset(str(source), split=split)
    except DataError:
        raise
    except Exception as exc:  # datasets raises many kinds (offline, not found, schema)
        raise DataError(
            f"{source}: cannot load as a Hugging Face dataset ({type(exc).__name__}: {exc}). "
            "A hub id needs a network; offline, point at a local parquet file or folder."
        ) from exc


def write_hf(frames: Iterable[Frame], path: str | Path) -> Path:
    """Write frames as one parquet file (``*.parquet``) or a ``save_to_disk`` folder (any other name)."""
    datasets = _datasets()
    path = Path(path)
    hf = datasets.Dataset.from_list([frame_to_row(f) for f in frames])
    if path.suffix == ".parquet":
        hf.to_parquet(str(path))
    else:
        hf.save_to_disk(str(path))
    return path
