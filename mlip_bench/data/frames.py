"""Labelled structures (frames) and datasets: the unit every dataset task scores.

Units follow ASE: energy eV (total, per cell), forces eV/Å, stress eV/Å³ in Voigt order
xx yy zz yz xz xy, positive = tensile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from mlip_bench.errors import DataError


@dataclass(frozen=True)
class Provenance:
    """Where a dataset comes from; `sha256` is of the file that was read."""

    source: str
    citation: str = ""
    license: str = ""
    method: str = ""
    sha256: str = ""
    path: str = ""


@dataclass(frozen=True)
class Frame:
    """One structure with its reference labels; any label may be absent (None).

    Frames are shared between every task that uses a dataset (datasets are loaded once per
    process), so their arrays are read-only: work on ``frame.atoms.copy()``.
    """

    id: str
    atoms: Atoms
    energy_eV: float | None = None
    forces_eV_per_A: np.ndarray | None = None
    stress_eV_per_A3: np.ndarray | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    @property
    def elements(self) -> frozenset[str]:
        return frozenset(self.atoms.get_chemical_symbols())


@dataclass(frozen=True)
class Dataset:
    """A named, provenance-carrying sequence of frames with unique ids (DataError otherwise)."""

    id: str
    frames: tuple[Frame, ...]
    provenance: Provenance

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for index, frame in enumerate(self.frames):
            if frame.id in seen:
                where = self.provenance.path or self.provenance.source or self.id
                raise DataError(f"{where}: frames {seen[frame.id]} and {index} share the id {frame.id!r}")
            seen[frame.id] = index

    @property
    def elements(self) -> frozenset[str]:
        out: set[str] = set()
        for frame in self.frames:
            out |= frame.elements
        return frozenset(out)

    def __len__(self) -> int:
        return len(self.frames)


def make_frame(
    *,
    source: str | Path,
    index: int,
    frame_id: str,
    atoms: Atoms,
    energy: object = None,
    forces: object = None,
    stress: object = None,
    labels: Mapping[str, str] | None = None,
) -> Frame:
    """Validate raw labels and build a :class:`Frame`.

    Stress may be given as 6 Voigt numbers or a 3x3 tensor. Raises :class:`DataError`
    naming `source`, the frame index and the field when a shape or value is wrong.
    """
    where = f"{source}: frame {index} (id {frame_id!r})"
    n = len(atoms)
    energy_ev = None
    if energy is not None:
        energy_ev = float(energy)  # type: ignore[arg-type]
        if not np.isfinite(energy_ev):
            raise DataError(f"{where}: field 'energy' is not finite ({energy_ev})")
    forces_arr = None
    if forces is not None:
        forces_arr = np.array(forces, dtype=float)  # a copy: it is made read-only below
        if forces_arr.shape != (n, 3):
            raise DataError(f"{where}: field 'forces' has shape {forces_arr.shape}, expected ({n}, 3)")
        if not np.all(np.isfinite(forces_arr)):
            raise DataError(f"{where}: field 'forces' has non-finite values")
    stress_arr = None
    if stress is not None:
        stress_arr = _voigt(np.array(stress, dtype=float), where)
    clean = atoms.copy()
    clean.calc = None
    _freeze(clean.cell.array, forces_arr, stress_arr, *clean.arrays.values())
    return Frame(
        id=frame_id,
        atoms=clean,
        energy_eV=energy_ev,
        forces_eV_per_A=forces_arr,
        stress_eV_per_A3=stress_arr,
        labels=dict(labels or {}),
    )


def _freeze(*arrays: np.ndarray | None) -> None:
    """Make shared arrays read-only, so that a consumer editing a frame in place fails loudly."""
    for array in arrays:
        if array is not None:
            array.flags.writeable = False


def read_only(values: np.ndarray) -> np.ndarray:
    """A read-only float copy of `values`, for a Frame field built outside :func:`make_frame`."""
    out = np.array(values, dtype=float)
    out.flags.writeable = False
    return out


def _voigt(stress: np.ndarray, where: str) -> np.ndarray:
    if stress.shape == (3, 3):
        stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # fancy indexing copies
    elif stress.shape == (9,):
        return _voigt(stress.reshape(3, 3), where)
    if stress.shape != (6,):
        raise DataError(f"{where}: field 'stress' has shape {stress.shape}, expected (6,) or (3, 3)")
    if not np.all(np.isfinite(stress)):
        raise DataError(f"{where}: field 'stress' has non-finite values")
    return stress
