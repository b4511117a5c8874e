"""Paper 003's randomised atomic configurations (Sec. II.B.2), the initial training data and every
MD run's start:

1. each of the orthorhombic box's three edges uniform in 10.5-17.0 Å;
2. a target density uniform in 1.80-4.05 g/cm³;
3. atoms placed uniformly at random, a placement closer than r_min = 1.8 Å to an atom already
   placed (periodic images included) rejected, until the target density is reached.

The atom count is the density's nearest integer; with several species each atom's species is drawn
by `fractions` (paper 003 is pure Al).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.units import _amu

from mlip_bench.errors import DataError
from mlip_bench.training.generators.common import check, check_range, check_species, rng_for, tag

NAME = "disordered_cells"
#: g/cm³ of one amu per Å³
_G_PER_CM3_PER_AMU_PER_A3 = _amu * 1e3 / 1e-24


@dataclass(frozen=True, kw_only=True)
class DisorderedCellSettings:
    """Paper 003 Sec. II.B.2 defaults (about 400 cells were its initial data set).
    `max_tries_per_atom` bounds the rejection loop (not in the paper)."""

    species: tuple[str, ...] = ("Al",)
    fractions: tuple[float, ...] = (1.0,)
    n_structures: int = 400
    box_min_A: float = 10.5
    box_max_A: float = 17.0
    density_min_g_per_cm3: float = 1.80
    density_max_g_per_cm3: float = 4.05
    r_min_A: float = 1.8
    max_tries_per_atom: int = 10000

    def __post_init__(self) -> None:
        check_species(self.species, "species")
        check(len(self.fractions) == len(self.species), "fractions", "needs one entry per species")
        check(all(f >= 0 for f in self.fractions) and sum(self.fractions) > 0, "fractions", "must be >= 0, sum > 0")
        check(self.n_structures >= 1, "n_structures", "must be >= 1")
        check(self.box_min_A > 0, "box_min_A", "must be > 0")
        check_range(self.box_min_A, self.box_max_A, "box_min_A", "box_max_A")
        check(self.density_min_g_per_cm3 > 0, "density_min_g_per_cm3", "must be > 0")
        check_range(
            self.density_min_g_per_cm3, self.density_max_g_per_cm3, "density_min_g_per_cm3", "density_max_g_per_cm3"
        )
        check(self.r_min_A >= 0, "r_min_A", "must be >= 0")
        # minimum-image distances are exact only while the box is at least 2 r_min wide
        check(self.box_min_A >= 2 * self.r_min_A, "r_min_A", f"must be at most box_min_A / 2 = {self.box_min_A / 2}")
        check(self.max_tries_per_atom >= 1, "max_tries_per_atom", "must be >= 1")


def n_atoms_for(volume_A3: float, density_g_per_cm3: float, mean_mass_amu: float) -> int:
    """Nearest integer atom count of `density_g_per_cm3` in `volume_A3` (at least 1)."""
    return max(1, round(density_g_per_cm3 * volume_A3 / (mean_mass_amu * _G_PER_CM3_PER_AMU_PER_A3)))


def generate(settings: DisorderedCellSettings, *, seed: int) -> list[Atoms]:
    """`n_structures` random cells (labels ``disordered-<i>``; ``info["target_density_g_per_cm3"]``).
    Raises DataError when an atom finds no place in `max_tries_per_atom` tries (too dense for r_min)."""
    rng = rng_for(seed)
    weights = np.asarray(settings.fractions, dtype=float) / sum(settings.fractions)
    masses = np.array([atomic_masses[atomic_numbers[s]] for s in settings.species])
    out = []
    for index in range(settings.n_structures):
        lengths = rng.uniform(settings.box_min_A, settings.box_max_A, 3)
        density = float(rng.uniform(settings.density_min_g_per_cm3, settings.density_max_g_per_cm3))
        n_atoms = n_atoms_for(float(np.prod(lengths)), density, float(weights @ masses))
        symbols = [str(s) for s in rng.choice(settings.species, size=n_atoms, p=weights)]
        positions = _place(lengths, n_atoms, settings, rng, index)
        atoms = Atoms(symbols, positions=positions, cell=np.diag(lengths), pbc=True)
        atoms.info["target_density_g_per_cm3"] = density
        out.append(tag(atoms, generator=NAME, settings=settings, seed=seed, parent="", label=f"disordered-{index}"))
    return out


def _place(
    lengths: np.ndarray, n_atoms: int, settings: DisorderedCellSettings, rng: np.random.Generator, index: int
) -> np.ndarray:
    """Random sequential addition with minimum-image rejection in an orthorhombic box."""
    placed = np.empty((n_atoms, 3))
    r2 = settings.r_min_A**2
    for i in range(n_atoms):
        for _ in range(settings.max_tries_per_atom):
            trial = rng.uniform(0.0, 1.0, 3) * lengths
            delta = placed[:i] - trial
            delta -= lengths * np.round(delta / lengths)
            if i == 0 or np.min(np.einsum("ij,ij->i", delta, delta)) >= r2:
                placed[i] = trial
                break
        else:
            raise DataError(
                f"{NAME}: cell {index}: atom {i + 1} of {n_atoms} found no place {settings.r_min_A} Å from the others "
                f"in {settings.max_tries_per_atom} tries (box {np.round(lengths, 2).tolist()} Å); lower the density"
            )
    return placed
