"""Paper 002's RANDSPG set: random crystals of a random space group (pyxtal), 1-10 atoms per cell,
at a volume per atom within ±10 % of the equilibrium one (hcp Mg: Ω0 = 22.87 Å³/atom, Sec. II.A).

The paper used RandSpg; pyxtal (Fredericks et al., Comput. Phys. Commun. 261 (2021) 107810) does
the same job: place atoms on Wyckoff positions of a space group. A (space group, atom count) pair
that no Wyckoff combination fills is a rejection; the cell is then scaled isotropically to a
volume per atom drawn uniformly in Ω0 (1 ± tolerance).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from mlip_bench.errors import DataError, OptionalDependencyError
from mlip_bench.training.generators.common import (
    check,
    check_range,
    check_species,
    min_distance_A,
    rng_for,
    tag,
)

NAME = "random_crystals"


@dataclass(frozen=True, kw_only=True)
class RandomCrystalSettings:
    """Paper 002 Sec. II.A defaults. `species` with more than one entry draws each cell's
    composition at random (the paper's extension to alloys); `min_distance_A` rejects cells with a
    shorter distance after the volume scaling (0: pyxtal's own tolerances only, as the paper)."""

    species: tuple[str, ...] = ("Mg",)
    n_structures: int = 100
    n_atoms_min: int = 1
    n_atoms_max: int = 10
    volume_per_atom_A3: float = 22.87
    volume_tolerance: float = 0.10
    space_group_min: int = 1
    space_group_max: int = 230
    min_distance_A: float = 0.0
    max_attempts: int = 10000

    def __post_init__(self) -> None:
        check_species(self.species, "species")
        check(self.n_structures >= 1, "n_structures", "must be >= 1")
        check(self.n_atoms_min >= 1, "n_atoms_min", "must be >= 1")
        check_range(self.n_atoms_min, self.n_atoms_max, "n_atoms_min", "n_atoms_max")
        check(self.volume_per_atom_A3 > 0, "volume_per_atom_A3", "must be > 0")
        check(0 <= self.volume_tolerance < 1, "volume_tolerance", "must be in [0, 1)")
        check(1 <= self.space_group_min <= 230, "space_group_min", "must be in 1..230")
        check(1 <= self.space_group_max <= 230, "space_group_max", "must be in 1..230")
        check_range(self.space_group_min, self.space_group_max, "space_group_min", "space_group_max")
        check(self.min_distance_A >= 0, "min_distance_A", "must be >= 0")
        check(self.max_attempts >= self.n_structures, "max_attempts", "must be >= n_structures")


@dataclass(frozen=True)
class RandomCrystalStats:
    """How a call went: attempts, rejections by cause, wall seconds."""

    attempts: int
    incompatible: int
    too_close: int
    seconds: float

    @property
    def rejection_rate(self) -> float:
        return (self.incompatible + self.too_close) / self.attempts if self.attempts else 0.0


def generate(settings: RandomCrystalSettings, *, seed: int) -> list[Atoms]:
    """`settings.n_structures` random crystals (labels ``randspg-<i>``, ``info["space_group"]``
    requested). Raises OptionalDependencyError without pyxtal, DataError when `max_attempts` pass
    first."""
    return generate_with_stats(settings, seed=seed)[0]


def generate_with_stats(settings: RandomCrystalSettings, *, seed: int) -> tuple[list[Atoms], RandomCrystalStats]:
    """:func:`generate` and its :class:`RandomCrystalStats`."""
    pyxtal = _pyxtal_class()
    rng = rng_for(seed)
    out: list[Atoms] = []
    attempts = incompatible = too_close = 0
    start = time.perf_counter()
    while len(out) < settings.n_structures:
        if attempts >= settings.max_attempts:
            raise DataError(
                f"{NAME}: only {len(out)} of {settings.n_structures} crystals after {attempts} attempts "
                f"({incompatible} incompatible, {too_close} too close); raise max_attempts"
            )
        attempts += 1
        group = int(rng.integers(settings.space_group_min, settings.space_group_max + 1))
        counts = _draw_counts(settings, rng)
        atoms = _pyxtal_atoms(pyxtal, group, counts, int(rng.integers(2**31)))
        if atoms is None:
            incompatible += 1
            continue
        scale = settings.volume_per_atom_A3 * (1 + rng.uniform(-1, 1) * settings.volume_tolerance)
        atoms.set_cell(atoms.cell * (scale * len(atoms) / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
        if settings.min_distance_A > 0 and min_distance_A(atoms) < settings.min_distance_A:
            too_close += 1
            continue
        atoms.info["space_group"] = group
        out.append(tag(atoms, generator=NAME, settings=settings, seed=seed, parent="", label=f"randspg-{len(out)}"))
    stats = RandomCrystalStats(attempts, incompatible, too_close, time.perf_counter() - start)
    return out, stats


def _draw_counts(settings: RandomCrystalSettings, rng: np.random.Generator) -> dict[str, int]:
    """Atoms per species: a total in [n_atoms_min, n_atoms_max], split at random over the species
    (every species at least one atom when the total allows)."""
    total = int(rng.integers(settings.n_atoms_min, settings.n_atoms_max + 1))
    k = min(len(settings.species), total)
    chosen = [str(s) for s in rng.choice(settings.species, size=k, replace=False)]
    split = np.ones(k, dtype=int) + rng.multinomial(total - k, np.full(k, 1.0 / k))
    return dict(zip(chosen, (int(n) for n in split), strict=True))


def _pyxtal_class() -> type:
    try:
        from pyxtal import pyxtal
    except ImportError as exc:
        raise OptionalDependencyError("random_crystals needs pyxtal: pip install 'mlip-bench[training]'") from exc
    return pyxtal


def _pyxtal_atoms(pyxtal: type, group: int, counts: dict[str, int], state: int) -> Atoms | None:
    """A pyxtal crystal as Atoms (conventional cell: exactly the requested atoms), None when pyxtal
    cannot fill the group with these counts."""
    crystal = pyxtal()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            crystal.from_random(3, group, list(counts), list(counts.values()), random_state=state)
        except Exception:  # pyxtal signals an impossible Wyckoff combination with its own classes
            return None
    if not crystal.valid:
        return None
    atoms = crystal.to_ase()
    if len(atoms) != sum(counts.values()):
        return None
    return Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
