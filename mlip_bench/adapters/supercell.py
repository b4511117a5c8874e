"""Evaluate a calculator on a replicated supercell when a periodic cell is too thin for it.

Some engines (asap3's EMT; models with a fixed neighbour-list radius such as ANI) refuse or
mis-handle cells whose perpendicular height is below twice their cutoff. Energies per cell,
forces and stress of a periodic crystal do not depend on which supercell is computed, so the
wrapper replicates the cell until every periodic height reaches `min_height_A`, then maps the
results back (energy / number of images, forces of the first image, the same stress).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


def repeats_for(atoms: Atoms, min_height_A: float) -> tuple[int, int, int]:
    """Replication factors making every periodic perpendicular cell height >= `min_height_A`."""
    cell = np.asarray(atoms.cell)
    volume = abs(np.linalg.det(cell))
    reps = []
    for i in range(3):
        if not atoms.pbc[i] or volume == 0:
            reps.append(1)
            continue
        cross = np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])
        height = volume / np.linalg.norm(cross)
        reps.append(max(1, math.ceil(min_height_A / height - 1e-9)))
    return reps[0], reps[1], reps[2]


class ReplicatingCalculator(Calculator):  # type: ignore[misc]
    """Wraps `inner` (ASE or old-style calculator); results always refer to the original cell."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012 (ASE declares it so)

    def __init__(self, inner: Any, *, min_height_A: float) -> None:
        super().__init__()
        self.inner = inner
        self.min_height_A = min_height_A

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        reps = repeats_for(self.atoms, self.min_height_A)
        n_images = reps[0] * reps[1] * reps[2]
        base = self.atoms.copy()
        base.set_constraint()  # raw forces; and Atoms.repeat refuses constrained atoms (FixCom in MD)
        work = base.repeat(reps) if n_images > 1 else base
        work.calc = self.inner
        n = len(self.atoms)
        energy = work.get_potential_energy() / n_images
        self.results = {"energy": energy, "free_energy": energy, "forces": work.get_forces()[:n]}
        if self.atoms.pbc.all():
            self.results["stress"] = work.get_stress()
