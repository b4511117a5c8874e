"""Paper 002's whole training-set chain (Fig. 2): RANDSPG random crystals, relaxed by the oracle
into VOLMIN, CELLMIN and INTMIN, then INTMIN disturbed into TRIAX, SHEAR and RATTLE. The paper's
EVERYTHING set is all of them together (its final potentials leave SHEAR out)."""

from __future__ import annotations

from typing import Any

from ase import Atoms

from mlip_bench.training.generators import distortions, random_crystals, staged_relaxation

SETS = ("RANDSPG", *staged_relaxation.STAGES, *distortions.SETS)


def paper002_sets(
    *,
    oracle: Any,
    crystals: random_crystals.RandomCrystalSettings | None = None,
    relaxation: staged_relaxation.StagedRelaxationSettings | None = None,
    distortion: distortions.DistortionSettings | None = None,
    seed: int = 0,
) -> dict[str, list[Atoms]]:
    """Every set by name (:data:`SETS` order; a set `distortion.sets` leaves out is absent); None
    settings are the paper's defaults. The random crystals use `seed`, the distortions `seed` + 1.
    Raises what the generators raise (OptionalDependencyError without pyxtal, DataError)."""
    randspg = random_crystals.generate(crystals or random_crystals.RandomCrystalSettings(), seed=seed)
    for atoms in randspg:
        atoms.info["set"] = "RANDSPG"
    relaxed = staged_relaxation.generate(
        randspg, relaxation or staged_relaxation.StagedRelaxationSettings(), oracle=oracle
    )
    distorted = distortions.generate(relaxed["INTMIN"], distortion or distortions.DistortionSettings(), seed=seed + 1)
    return {"RANDSPG": randspg, **relaxed, **distorted}
