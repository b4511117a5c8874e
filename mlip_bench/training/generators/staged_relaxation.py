"""Paper 002's VOLMIN, CELLMIN and INTMIN sets: the random crystals relaxed by the oracle, one kind
of degree of freedom at a time, each stage starting from the last (Sec. II.A): the volume alone
(shape and fractional coordinates fixed), then the cell (fractional coordinates fixed), then the
atoms' positions (cell fixed).

The paper relaxed "at low convergence parameters": the energies of these runs are not training
data, so the structures come back without a calculator (the oracle labels them later). A
structure the oracle fails on, or gives a non-finite energy for, is dropped with its descendants,
as the paper dropped those that "resist DFT calculations".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ase import Atoms
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from mlip_bench.properties.relax import relax
from mlip_bench.training.generators.common import check, label_of, tag

NAME = "staged_relaxation"
STAGES = ("VOLMIN", "CELLMIN", "INTMIN")


@dataclass(frozen=True, kw_only=True)
class StagedRelaxationSettings:
    """Force (and stress x volume) convergence per stage; the paper's "low convergence" is not a
    number, 0.01 eV/Å is ours. `steps` caps each stage's BFGS steps."""

    fmax_eV_per_A: float = 0.01
    steps: int = 200

    def __post_init__(self) -> None:
        check(self.fmax_eV_per_A > 0, "fmax_eV_per_A", "must be > 0")
        check(self.steps >= 1, "steps", "must be >= 1")


def generate(parents: Sequence[Atoms], settings: StagedRelaxationSettings, *, oracle: Any) -> dict[str, list[Atoms]]:
    """Relax each parent in three stages with `oracle` (an ASE calculator, reused for every call);
    returns {"VOLMIN": [...], "CELLMIN": [...], "INTMIN": [...]} of equal length, one entry per
    parent that survived (labels ``volmin-<i>`` etc. with parent's index i; ``info["converged"]``).
    An oracle exception or a non-finite energy drops that parent (``info`` of none is kept)."""
    sets: dict[str, list[Atoms]] = {stage: [] for stage in STAGES}
    for index, parent in enumerate(parents):
        chain = _relax_chain(parent, oracle, settings)
        if chain is None:
            continue
        for stage, (atoms, converged) in zip(STAGES, chain, strict=True):
            atoms.info["set"] = stage
            atoms.info["converged"] = converged
            source = label_of(parent, index)
            sets[stage].append(
                tag(
                    atoms, generator=NAME, settings=settings, seed=None, parent=source, label=f"{stage.lower()}-{index}"
                )
            )
    return sets


def _relax_chain(parent: Atoms, oracle: Any, settings: StagedRelaxationSettings) -> list[tuple[Atoms, bool]] | None:
    chain: list[tuple[Atoms, bool]] = []
    current = _clean(parent)
    for stage in STAGES:
        try:
            current, converged = _stage(current, oracle, stage, settings)
            energy = current.get_potential_energy()
        except Exception:  # the oracle is any ASE calculator (a DFT code): its failures have no common class
            return None
        if not math.isfinite(energy):
            return None
        current = _clean(current)  # no FixAtoms into the next stage
        chain.append((current.copy(), converged))
    return chain


def _stage(atoms: Atoms, oracle: Any, stage: str, settings: StagedRelaxationSettings) -> tuple[Atoms, bool]:
    if stage == "INTMIN":
        result = relax(atoms, oracle, cell=False, fmax_eV_per_A=settings.fmax_eV_per_A, steps=settings.steps)
        return result.atoms, result.converged
    # fixing every atom keeps fractional coordinates: the filter rescales positions with the cell
    work = atoms.copy()
    work.set_constraint(FixAtoms(indices=range(len(work))))
    if stage == "CELLMIN":
        result = relax(work, oracle, cell=True, fmax_eV_per_A=settings.fmax_eV_per_A, steps=settings.steps)
        return result.atoms, result.converged
    work.calc = oracle
    target: Any = FrechetCellFilter(work, hydrostatic_strain=True)
    optimizer = BFGS(target, logfile=None)
    converged = bool(optimizer.run(fmax=settings.fmax_eV_per_A, steps=settings.steps))
    return work, converged


def _clean(atoms: Atoms) -> Atoms:
    """A copy without calculator or constraints, keeping ``info``."""
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info.update(atoms.info)
    return out
