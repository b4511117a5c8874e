"""What every generator shares: provenance in ``atoms.info``, seeded random numbers, strain and
distance helpers.

Every generated structure carries in ``atoms.info``: ``generator`` (its name), ``parameters`` (the
settings as a JSON string, so that extxyz keeps it), ``seed`` (the generator's seed), ``parent``
(the parent structure's label, "" for none) and ``label`` (this structure's own, unique within a call).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms

from mlip_bench.errors import TaskSpecError


def settings_json(settings: object) -> str:
    """The settings dataclass as sorted JSON (tuples as lists)."""
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        raise TypeError(f"{settings!r} is not a settings dataclass instance")
    return json.dumps(dataclasses.asdict(settings), sort_keys=True)


def tag(atoms: Atoms, *, generator: str, settings: object, seed: int | None, parent: str, label: str) -> Atoms:
    """Write the provenance keys into ``atoms.info`` (see the module doc); returns `atoms`."""
    atoms.info.update(
        {
            "generator": generator,
            "parameters": settings_json(settings),
            "seed": -1 if seed is None else int(seed),
            "parent": parent,
            "label": label,
        }
    )
    return atoms


def label_of(atoms: Atoms, index: int) -> str:
    """A parent's label: its ``info["label"]`` when it has one, else ``"input<index>"``."""
    return str(atoms.info.get("label") or f"input{index}")


def rng_for(seed: int) -> np.random.Generator:
    """The one random stream of a generator call (numpy's PCG64 seeded with `seed`)."""
    return np.random.default_rng(seed)


def min_distance_A(atoms: Atoms) -> float:
    """Shortest interatomic distance under periodic boundary conditions, including an atom's own
    periodic images (the shortest lattice vector for one atom), in Å; inf for no neighbours in 2 cells."""
    from ase.neighborlist import neighbor_list

    longest = float(max(atoms.cell.lengths().max(), 1.0))
    cutoff = min(3.0, longest)
    while True:  # a short cutoff first: a 17 Å box holds ~10^6 pairs within its own length
        dist = neighbor_list("d", atoms, cutoff, self_interaction=False)
        if len(dist) or cutoff >= longest:
            return float(dist.min()) if len(dist) else float("inf")
        cutoff = min(2 * cutoff, longest)


def strained(atoms: Atoms, strain: np.ndarray) -> Atoms:
    """A copy of `atoms` with cell rows h' = h (I + strain) and atoms scaled along (fractional
    coordinates kept); `strain` is a (3, 3) matrix, dimensionless."""
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + strain), scale_atoms=True)
    return out


def check(condition: bool, field: str, why: str) -> None:
    """Raise TaskSpecError("field <field>: <why>") unless `condition` (settings' own checks; the
    spec loader puts the file's name in front)."""
    if not condition:
        raise TaskSpecError(f"field parameters/{field}: {why}")


def check_range(low: float, high: float, low_field: str, high_field: str) -> None:
    """`low` <= `high`, else TaskSpecError naming `high_field`."""
    check(low <= high, high_field, f"{high} is below {low_field} = {low}")


def check_species(species: Sequence[str], field: str) -> None:
    """Every entry is a chemical symbol and none repeats; TaskSpecError naming `field` otherwise."""
    from ase.data import atomic_numbers

    unknown = [s for s in species if s not in atomic_numbers]
    check(not unknown, field, f"unknown chemical symbols {unknown}")
    check(len(set(species)) == len(species) and len(species) > 0, field, f"{list(species)}: empty or repeated")


def as_tuple(value: Any) -> Any:
    """Lists (YAML sequences) as tuples, recursively: settings dataclasses are frozen and hashable."""
    if isinstance(value, list | tuple):
        return tuple(as_tuple(v) for v in value)
    return value
