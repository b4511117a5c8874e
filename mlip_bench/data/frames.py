"""Labelled structures (frames) and datasets: the unit every dataset task scores.

Units follow ASE: energy eV (total, per cell), forces eV/Å, stress eV/Å³ in Voigt order
xx yy zz yz xz xy, positive = tensile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from ase import Atoms

from mlip_bench.data.checks import number as checked_number
from mlip_bench.data.checks import numbers_array, structure_problems, unit_warnings, unknown_elements
from mlip_bench.errors import DataError

#: the reference labels a frame may carry
LABEL_FIELDS = ("energy", "forces", "stress")
#: fields whose problem makes a structure unfit for any potential call (see data.checks)
STRUCTURE_FIELDS = ("atoms", "positions", "cell")


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

    `problems` maps a field ("energy", "forces", "stress"; "atoms", "positions", "cell") to why it
    is unusable, the message naming file, frame and field: a bad label is kept as None, and a task
    that needs that field (any task, for a structure field) records the frame as invalid and never
    predicts it. Frames are shared between every task that uses a dataset (datasets are loaded once
    per process), so their arrays are read-only: work on ``frame.atoms.copy()``.
    """

    id: str
    atoms: Atoms
    energy_eV: float | None = None
    forces_eV_per_A: np.ndarray | None = None
    stress_eV_per_A3: np.ndarray | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)

    def problem(self, needs: Iterable[str] = LABEL_FIELDS) -> str:
        """Why this frame cannot be scored on the labels `needs` ("" when it can); a structure
        problem always counts."""
        wanted = (*STRUCTURE_FIELDS, *needs)
        return "; ".join(reason for name, reason in self.problems.items() if name in wanted)

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

    @cached_property
    def unit_warnings(self) -> tuple[str, ...]:
        """Warnings that the reference energies or stresses look like other units than eV and
        eV/Å³ (:func:`mlip_bench.data.checks.unit_warnings`); nothing is converted."""
        energies = (f.energy_eV / f.n_atoms for f in self.frames if f.energy_eV is not None and f.n_atoms)
        stresses = (float(np.abs(f.stress_eV_per_A3).max()) for f in self.frames if f.stress_eV_per_A3 is not None)
        return unit_warnings(self.provenance.path or self.provenance.source or self.id, energies, stresses)


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
    """Validate raw labels and the structure, and build a :class:`Frame`.

    Stress may be given as 6 Voigt numbers or a 3x3 tensor (or its 9 numbers). A label that is
    not a finite number of the right shape, and a structure no potential may see (NaN positions, a
    singular or impossibly dense cell, too many atoms; :mod:`mlip_bench.data.checks`), are recorded
    in ``Frame.problems`` with a message naming `source`, the frame index, its id and the field:
    that frame fails alone. Raises :class:`DataError` (the whole file is wrong) only for an atomic
    number that is no element.
    """
    where = f"{source}: frame {index} (id {frame_id!r})"
    unknown = unknown_elements(atoms.numbers)
    if unknown:
        raise DataError(
            f"{where}: field 'numbers': atomic number {unknown[0]} is no element (known: 1-118; 0 is ASE's dummy 'X')"
        )
    n = len(atoms)
    reasons: dict[str, str] = {}
    energy_ev, reasons["energy"] = checked_number(energy, "energy")
    forces_arr, reasons["forces"] = numbers_array(forces, "forces", [(n, 3)])
    stress_arr, reasons["stress"] = numbers_array(stress, "stress", [(6,), (3, 3), (9,)])
    if stress_arr is not None and stress_arr.shape != (6,):
        full = stress_arr.reshape(3, 3)
        stress_arr = full[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # Voigt xx yy zz yz xz xy (fancy indexing copies)
    reasons |= structure_problems(atoms)
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
        problems={name: f"{where}: {reason}" for name, reason in reasons.items() if reason},
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
