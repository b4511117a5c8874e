"""Structure relaxation with ASE optimizers (positions only, or positions and cell)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS


@dataclass(frozen=True)
class RelaxResult:
    atoms: Atoms
    converged: bool
    steps: int


def relax(atoms: Atoms, calc: object, *, cell: bool, fmax_eV_per_A: float = 1e-4, steps: int = 300) -> RelaxResult:
    """Relax a copy of `atoms` with BFGS; with `cell`, also the cell (FrechetCellFilter,
    hydrostatic pressure 0). Returns the relaxed copy, whether fmax was reached, and steps."""
    work = atoms.copy()
    work.calc = calc
    target: Any = FrechetCellFilter(work) if cell else work
    optimizer = BFGS(target, logfile=None)
    converged = bool(optimizer.run(fmax=fmax_eV_per_A, steps=steps))
    return RelaxResult(atoms=work, converged=converged, steps=int(optimizer.nsteps))
