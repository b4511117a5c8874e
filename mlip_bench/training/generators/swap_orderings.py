"""Paper 001's elemental orderings (Methods, D_test): on a lattice structure, pick n atoms of one
species and n of the other at random, n uniform between 1 % and 10 % of the atoms, and swap them;
up to 30 configurations per phase, all symmetrically distinct from each other.

Two orderings of the same sites are equivalent when a symmetry operation of the undecorated site
set (spglib, every atom the same species, translations of the supercell included) maps one onto the
other; each ordering is reduced to a canonical key (the lexicographically smallest relabelling over
all operations) and a key seen before, the parent's included, is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from mlip_bench.errors import DataError
from mlip_bench.training.generators.common import check, check_range, check_species, label_of, rng_for, tag

NAME = "swap_orderings"


@dataclass(frozen=True, kw_only=True)
class SwapOrderingSettings:
    """Paper 001 defaults; fractions of the parent's atom count. `symprec_A` is spglib's tolerance
    for the site set's symmetry; `max_attempts` swaps per parent bound the search (a small cell may
    hold fewer than `n_configs` distinct orderings: fewer come back)."""

    species: tuple[str, ...] = ("Li", "Al")
    swap_fraction_min: float = 0.01
    swap_fraction_max: float = 0.10
    n_configs: int = 30
    symprec_A: float = 0.01
    max_attempts: int = 1000

    def __post_init__(self) -> None:
        check_species(self.species, "species")
        check(len(self.species) == 2, "species", "names the two species that swap")
        check(0 < self.swap_fraction_min <= 1, "swap_fraction_min", "must be in (0, 1]")
        check(self.swap_fraction_max <= 1, "swap_fraction_max", "must be <= 1")
        check_range(self.swap_fraction_min, self.swap_fraction_max, "swap_fraction_min", "swap_fraction_max")
        check(self.n_configs >= 1, "n_configs", "must be >= 1")
        check(self.symprec_A > 0, "symprec_A", "must be > 0")
        check(self.max_attempts >= self.n_configs, "max_attempts", "must be >= n_configs")


def site_permutations(atoms: Atoms, *, symprec_A: float) -> np.ndarray:
    """(n_ops, n_atoms) int array: row k maps site i to site perm[k, i] under spglib's k-th
    operation of the undecorated sites. Raises DataError when an operation maps a site off the set."""
    import spglib

    frac = atoms.get_scaled_positions(wrap=True)
    cell: Any = (np.asarray(atoms.cell), frac, np.ones(len(atoms), dtype=int))
    sym = spglib.get_symmetry(cell, symprec=symprec_A)
    if sym is None:
        raise DataError(f"{NAME}: spglib found no symmetry for {atoms.get_chemical_formula()}")
    tree = cKDTree(frac % 1.0, boxsize=1.0)
    tolerance = 2 * symprec_A / float(min(atoms.cell.lengths()))
    perms = []
    for rotation, translation in zip(sym["rotations"], sym["translations"], strict=True):
        image = (frac @ rotation.T + translation) % 1.0
        distance, index = tree.query(image % 1.0)
        if np.max(distance) > tolerance or len(set(index.tolist())) != len(atoms):
            raise DataError(f"{NAME}: a symmetry operation maps sites off the site set (symprec_A={symprec_A})")
        perms.append(index)
    return np.asarray(perms, dtype=np.int64)


def canonical_key(codes: np.ndarray, perms: np.ndarray) -> bytes:
    """The smallest relabelling codes[perm] over all `perms` (the group is closed under inverses,
    so this is the orbit's minimum), as bytes: equal keys, equivalent orderings."""
    images = codes[perms]
    best = np.lexsort(images.T[::-1])[0]
    return images[best].astype(np.int16).tobytes()


def generate(parents: Sequence[Atoms], settings: SwapOrderingSettings, *, seed: int) -> list[Atoms]:
    """Up to `n_configs` distinct swapped orderings per parent (labels ``swap-<parent>-<k>``,
    ``info["n_swapped"]`` pairs). Raises DataError for a parent without both species."""
    rng = rng_for(seed)
    out: list[Atoms] = []
    for index, parent in enumerate(parents):
        out.extend(_orderings(parent, label_of(parent, index), settings, rng, seed))
    return out


def _orderings(
    parent: Atoms, parent_label: str, settings: SwapOrderingSettings, rng: np.random.Generator, seed: int
) -> list[Atoms]:
    symbols = np.array(parent.get_chemical_symbols())
    first, second = (np.flatnonzero(symbols == s) for s in settings.species)
    if not len(first) or not len(second):
        raise DataError(
            f"{NAME}: parent {parent_label} ({parent.get_chemical_formula()}) lacks one of {settings.species}"
        )
    n_atoms = len(parent)
    low = max(1, math.ceil(settings.swap_fraction_min * n_atoms - 1e-9))
    high = min(max(low, math.floor(settings.swap_fraction_max * n_atoms + 1e-9)), len(first), len(second))
    low = min(low, high)
    perms = site_permutations(parent, symprec_A=settings.symprec_A)
    codes = np.unique(symbols, return_inverse=True)[1]
    seen = {canonical_key(codes, perms)}
    found: list[Atoms] = []
    for _ in range(settings.max_attempts):
        if len(found) == settings.n_configs:
            break
        n = int(rng.integers(low, high + 1))
        a, b = rng.choice(first, n, replace=False), rng.choice(second, n, replace=False)
        swapped = codes.copy()
        swapped[a], swapped[b] = codes[b], codes[a]
        key = canonical_key(swapped, perms)
        if key in seen:
            continue
        seen.add(key)
        new = symbols.copy()
        new[a], new[b] = symbols[b], symbols[a]
        atoms = Atoms(new.tolist(), positions=parent.positions, cell=parent.cell, pbc=parent.pbc)
        atoms.info["n_swapped"] = n
        label = f"swap-{parent_label}-{len(found)}"
        found.append(tag(atoms, generator=NAME, settings=settings, seed=seed, parent=parent_label, label=label))
    return found
