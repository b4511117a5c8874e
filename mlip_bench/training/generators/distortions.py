"""Paper 002's TRIAX, SHEAR and RATTLE sets: each relaxed (INTMIN) structure disturbed five times
by (Sec. II.A and its note 20)

- TRIAX: a random triaxial strain, the diagonal entries of the strain tensor uniform in ±80 %;
- SHEAR: random shear strains, the off-diagonal entries (symmetric) uniform in ±80 %;
- RATTLE: random atomic displacements of 0.5 Å mean length combined with a small random strain
  tensor, all six independent entries uniform in ±5 %.

Cells deform as h' = h (I + ε) with fractional coordinates kept. The paper does not give the
displacements' distribution: here each is an isotropic Gaussian whose mean length is the stated
mean (σ per component = mean / (2 sqrt(2/π))).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from mlip_bench.training.generators.common import check, label_of, rng_for, strained, tag

NAME = "distortions"
SETS = ("TRIAX", "SHEAR", "RATTLE")


@dataclass(frozen=True, kw_only=True)
class DistortionSettings:
    """Paper 002 defaults; strains are fractions (0.8 = 80 %)."""

    sets: tuple[str, ...] = SETS
    n_per_structure: int = 5
    triax_max_strain: float = 0.80
    shear_max_strain: float = 0.80
    rattle_mean_displacement_A: float = 0.5
    rattle_max_strain: float = 0.05

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sets) - set(SETS))
        check(not unknown and len(self.sets) > 0, "sets", f"{unknown or 'empty'}: choose from {list(SETS)}")
        check(self.n_per_structure >= 1, "n_per_structure", "must be >= 1")
        # a strain of -100 % or less collapses or inverts the cell
        check(0 <= self.triax_max_strain < 1, "triax_max_strain", "must be in [0, 1)")
        check(0 <= self.shear_max_strain < 1, "shear_max_strain", "must be in [0, 1)")
        check(self.rattle_mean_displacement_A >= 0, "rattle_mean_displacement_A", "must be >= 0")
        check(0 <= self.rattle_max_strain < 1, "rattle_max_strain", "must be in [0, 1)")


def triax_strain(rng: np.random.Generator, max_strain: float) -> np.ndarray:
    """Diagonal (3, 3) strain, entries uniform in ±max_strain."""
    return np.diag(rng.uniform(-max_strain, max_strain, 3))


def shear_strain(rng: np.random.Generator, max_strain: float) -> np.ndarray:
    """Symmetric (3, 3) strain with zero diagonal, off-diagonal entries uniform in ±max_strain."""
    upper = np.zeros((3, 3))
    upper[np.triu_indices(3, k=1)] = rng.uniform(-max_strain, max_strain, 3)
    return upper + upper.T


def full_strain(rng: np.random.Generator, max_strain: float) -> np.ndarray:
    """Symmetric (3, 3) strain, all six independent entries uniform in ±max_strain."""
    upper = np.zeros((3, 3))
    upper[np.triu_indices(3)] = rng.uniform(-max_strain, max_strain, 6)
    return upper + np.triu(upper, k=1).T


def gaussian_displacements(rng: np.random.Generator, n_atoms: int, mean_A: float) -> np.ndarray:
    """(n_atoms, 3) isotropic Gaussian displacements in Å whose expected length is `mean_A`."""
    sigma = mean_A / (2.0 * np.sqrt(2.0 / np.pi))
    return rng.normal(0.0, sigma, (n_atoms, 3))


def generate(parents: Sequence[Atoms], settings: DistortionSettings, *, seed: int) -> dict[str, list[Atoms]]:
    """For each requested set, `n_per_structure` distorted copies of every parent; labels
    ``<set>-<parent index>-<k>``, ``info["strain"]`` the 9 strain entries (row-major), ``info["set"]``.
    Deterministic for a seed; parents are not modified."""
    rng = rng_for(seed)
    out: dict[str, list[Atoms]] = {name: [] for name in settings.sets}
    for index, parent in enumerate(parents):
        for name in settings.sets:
            for k in range(settings.n_per_structure):
                atoms = _distort(parent, name, settings, rng)
                atoms.info["set"] = name
                label = f"{name.lower()}-{index}-{k}"
                out[name].append(
                    tag(
                        atoms, generator=NAME, settings=settings, seed=seed, parent=label_of(parent, index), label=label
                    )
                )
    return out


def _distort(parent: Atoms, name: str, settings: DistortionSettings, rng: np.random.Generator) -> Atoms:
    base = Atoms(parent.get_chemical_symbols(), positions=parent.positions, cell=parent.cell, pbc=parent.pbc)
    if name == "TRIAX":
        strain = triax_strain(rng, settings.triax_max_strain)
    elif name == "SHEAR":
        strain = shear_strain(rng, settings.shear_max_strain)
    else:
        base.positions = base.positions + gaussian_displacements(rng, len(base), settings.rattle_mean_displacement_A)
        strain = full_strain(rng, settings.rattle_max_strain)
    atoms = strained(base, strain)
    atoms.info.update({k: v for k, v in parent.info.items() if k == "space_group"})
    atoms.info["strain"] = [float(x) for x in strain.ravel()]
    return atoms
