"""Paper 002's systematic training set (Sec. II.A, Fig. 2), as a training config's
``systematic_set:`` section: random crystals (RANDSPG), their staged relaxations by the oracle
(VOLMIN, CELLMIN, INTMIN) and the INTMIN structures disturbed (TRIAX, SHEAR, RATTLE), built with
the generators of ``training/generators/`` and labelled by the (caching) :class:`Oracle`.

The paper discarded structures that "resist DFT calculations due to excessively close atoms";
with a potential as the oracle nothing fails, so structures with a pair closer than
`min_distance_A` (default the MTP's inner cutoff, paper 002's 1.8 Å) are discarded instead: an MTP
has no radial basis below its inner cutoff, and an 80 % strain can put atoms 0.7 Å apart
(> 100 eV/atom with the EAM), which would dominate every energy RMSE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.geometry import minkowski_reduce

from mlip_bench.errors import EvaluationError, TaskSpecError
from mlip_bench.training.generators import distortions, paper002, random_crystals, staged_relaxation
from mlip_bench.training.oracle import Oracle

#: the section's generator sub-sections -> the generator names of generators/spec.py
_GENERATORS = {
    "random_crystals": random_crystals.NAME,
    "staged_relaxation": staged_relaxation.NAME,
    "distortions": distortions.NAME,
}


@dataclass(frozen=True, kw_only=True)
class SystematicSetSettings:
    """Which of paper 002's sets go into the labelled set (`include`, from
    :data:`~mlip_bench.training.generators.paper002.SETS`), the shortest pair distance kept (Å),
    the seed (crystals: `seed`, distortions: `seed` + 1) and each generator's settings."""

    include: tuple[str, ...] = paper002.SETS
    min_distance_A: float = 1.8
    seed: int = 0
    crystals: random_crystals.RandomCrystalSettings = field(default_factory=random_crystals.RandomCrystalSettings)
    relaxation: staged_relaxation.StagedRelaxationSettings = field(
        default_factory=staged_relaxation.StagedRelaxationSettings
    )
    distortion: distortions.DistortionSettings = field(default_factory=distortions.DistortionSettings)


def parse_systematic_set(raw: Any, *, source: str) -> SystematicSetSettings:
    """The ``systematic_set:`` section of the config `source`; TaskSpecError naming the file and
    the field (``systematic_set.random_crystals``: the generator's own parameter checks)."""
    from mlip_bench.training.generators.spec import build_settings

    if not isinstance(raw, Mapping):
        raise TaskSpecError(f"{source}: field 'systematic_set' must be a mapping, got {raw!r}")
    known = {"include", "min_distance_A", "seed", *_GENERATORS}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise TaskSpecError(
            f"{source}: unknown field 'systematic_set.{unknown[0]}' (known: {', '.join(sorted(known))})"
        )
    include = raw.get("include", list(paper002.SETS))
    if not isinstance(include, list) or not include or any(s not in paper002.SETS for s in include):
        raise TaskSpecError(f"{source}: field 'systematic_set.include': {include!r} must list sets of {paper002.SETS}")
    if len(set(include)) != len(include):
        raise TaskSpecError(f"{source}: field 'systematic_set.include': {include!r} names a set twice")
    distance = raw.get("min_distance_A", 1.8)
    if isinstance(distance, bool) or not isinstance(distance, int | float) or not 0 <= distance < 10:
        raise TaskSpecError(f"{source}: field 'systematic_set.min_distance_A': {distance!r} must be in [0, 10) Å")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TaskSpecError(f"{source}: field 'systematic_set.seed': {seed!r} must be an integer >= 0")
    built = {
        key: build_settings(name, raw.get(key) or {}, source=f"{source}: field 'systematic_set.{key}'")
        for key, name in _GENERATORS.items()
    }
    return SystematicSetSettings(
        include=tuple(include), min_distance_A=float(distance), seed=seed, crystals=built["random_crystals"],
        relaxation=built["staged_relaxation"], distortion=built["distortions"],
    )  # fmt: skip


def build_systematic_set(settings: SystematicSetSettings, oracle: Oracle) -> tuple[list[Atoms], dict[str, int]]:
    """The labelled set (each structure's ``info["set"]`` names its set) and, per set, how many
    structures were made, discarded as too close and labelled (``<SET>``, ``<SET>_too_close``,
    ``<SET>_failed``). Relaxations call the oracle directly (their energies are not training data);
    the labels go through its cache. Raises EvaluationError when nothing is left labelled."""
    sets = paper002.paper002_sets(
        oracle=oracle.calculator(), crystals=settings.crystals, relaxation=settings.relaxation,
        distortion=settings.distortion, seed=settings.seed,
    )  # fmt: skip
    counts: dict[str, int] = {}
    kept: list[Atoms] = []
    for name in settings.include:
        made = sets.get(name, [])
        ok = [shortest_distance_A(a) >= settings.min_distance_A for a in made]
        counts[f"{name}_made"], counts[f"{name}_too_close"] = len(made), ok.count(False)
        kept += [a for a, keep in zip(made, ok, strict=True) if keep]
    for atoms in kept:
        atoms.calc = None
        atoms.info = {"set": atoms.info.get("set", ""), "label": str(atoms.info.get("label", ""))}
    batch = oracle.label(kept)
    if not batch.labelled:
        raise EvaluationError(f"systematic set: the oracle labelled none of {len(kept)} structures")
    for name in settings.include:
        counts[name] = sum(1 for a in batch.labelled if a.info.get("set") == name)
    counts["failed"] = len(batch.failed)
    return list(batch.labelled), counts


def shortest_distance_A(atoms: Atoms) -> float:
    """Shortest distance (Å) between two atoms of a small periodic cell, an atom's own images
    included: all pairs over the images within two Minkowski-reduced cell vectors (generators'
    ``min_distance_A`` uses ASE's neighbour list, which takes minutes for the flat cells an 80 %
    strain makes). Non-periodic cells: pairs within the cell only; inf for a single atom."""
    positions = atoms.positions
    offsets = np.zeros((1, 3))
    if atoms.pbc.all():
        reduced, _ = minkowski_reduce(atoms.cell[:])
        grid = np.array(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij")).reshape(3, -1).T
        offsets = grid @ reduced
        positions = positions - np.floor(np.linalg.solve(reduced.T, positions.T).T) @ reduced
    vectors = positions[None, :, None, :] - positions[:, None, None, :] + offsets[None, None, :, :]
    lengths = np.linalg.norm(vectors, axis=-1)
    own = np.all(np.isclose(offsets, 0.0), axis=1)
    diagonal = np.arange(len(atoms))
    lengths[diagonal[:, None], diagonal[:, None], np.flatnonzero(own)[None, :]] = np.inf  # an atom and itself
    return float(lengths.min()) if lengths.size else float("inf")
