"""Paper 000's training structures: special quasirandom structures (icet) of fcc Al-Mg-Zr solid
solutions, 4x4x4 conventional cells (256 sites), each also deformed by the paper's three strain
patterns ε_i = ε_{i+3} = δ (Voigt, engineering shear; i = 1, 2, 3) at δ = -1, -0.5, +0.5, +1 %
(Sec. 2.1 and 2.3.1). The undeformed cell is kept once.

Compositions are weight percent of the solutes with the host as the balance, as the paper writes
them (AlMg10Zr3 = 10 wt% Mg, 3 wt% Zr); :mod:`mlip_bench.properties.sqs` converts them to atom counts
and anneals the SQS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ase import Atoms

from mlip_bench.properties.elastic import voigt_strain
from mlip_bench.properties.sqs import atom_counts, generate_sqs
from mlip_bench.training.generators.common import check, check_species, rng_for, strained, tag

NAME = "sqs_strains"

Composition = tuple[tuple[str, float], ...]


@dataclass(frozen=True, kw_only=True)
class SqsStrainSettings:
    """Paper 000 defaults. `compositions_wt_percent`: one entry per alloy, solute -> wt% (a mapping
    or pairs; an empty one is the pure host); `cutoffs_A` and `sqs_steps` are icet's pair/triplet
    cutoffs and annealing steps."""

    host: str = "Al"
    compositions_wt_percent: tuple[Any, ...] = ((), (("Mg", 5.0),), (("Mg", 10.0),), (("Mg", 15.0), ("Zr", 3.0)))
    a_A: float = 4.05
    repeat: int = 4
    strains_percent: tuple[float, ...] = (-1.0, -0.5, 0.5, 1.0)
    n_sqs_per_composition: int = 1
    sqs_steps: int = 5000
    cutoffs_A: tuple[float, ...] = (6.0, 4.5)

    def __post_init__(self) -> None:
        check_species((self.host,), "host")
        normal = tuple(_pairs(c, i) for i, c in enumerate(self.compositions_wt_percent))
        object.__setattr__(self, "compositions_wt_percent", normal)  # mappings from YAML as sorted pairs
        check(len(normal) > 0, "compositions_wt_percent", "needs at least one composition")
        check(self.a_A > 0, "a_A", "must be > 0")
        check(self.repeat >= 1, "repeat", "must be >= 1")
        check(all(-50 < s < 50 and s != 0 for s in self.strains_percent), "strains_percent", "each in (-50, 50), not 0")
        check(self.n_sqs_per_composition >= 1, "n_sqs_per_composition", "must be >= 1")
        check(self.sqs_steps >= 1, "sqs_steps", "must be >= 1")
        check(len(self.cutoffs_A) >= 1 and all(c > 0 for c in self.cutoffs_A), "cutoffs_A", "positive, at least one")


def _pairs(entry: Any, index: int) -> Composition:
    if isinstance(entry, Mapping):
        entry = tuple(entry.items())
    field = f"compositions_wt_percent/{index}"
    check(isinstance(entry, tuple | list), field, "must be a mapping solute -> wt%")
    pairs = tuple((str(s), float(w)) for s, w in entry)
    check_species(tuple(s for s, _ in pairs) or ("H",), field)
    check(all(w >= 0 for _, w in pairs) and sum(w for _, w in pairs) < 100, field, "wt% >= 0, sum < 100")
    return tuple(sorted(pairs))


def name_of(host: str, composition: Composition) -> str:
    """``AlMg10Zr3`` style name of a composition (wt%)."""
    return host + "".join(f"{s}{w:g}" for s, w in composition if w > 0)


def generate(settings: SqsStrainSettings, *, seed: int) -> list[Atoms]:
    """Per composition, `n_sqs_per_composition` SQS (icet seeds drawn from `seed`) and their strained
    copies: 1 + 3 len(strains_percent) structures each (labels ``<name>-sqs<j>`` and
    ``<name>-sqs<j>-e<pattern>-<delta>``; ``info``: ``strain`` the 9 entries, ``strain_pattern`` 1-3,
    ``strain_percent`` δ). Raises PropertyError
    without icet and DataError for a composition a `repeat` cell cannot hold."""
    rng = rng_for(seed)
    out: list[Atoms] = []
    n_sites = 4 * settings.repeat**3
    for composition in settings.compositions_wt_percent:
        name = name_of(settings.host, composition)
        counts = atom_counts(dict(composition), n_sites, host=settings.host)
        for j in range(settings.n_sqs_per_composition):
            sqs = generate_sqs(
                counts,
                a_A=settings.a_A,
                repeat=settings.repeat,
                cutoffs_A=settings.cutoffs_A,
                n_steps=settings.sqs_steps,
                seed=int(rng.integers(2**31)),
            ).atoms
            out.extend(_strained_family(sqs, f"{name}-sqs{j}", settings, seed))
    return out


def _strained_family(sqs: Atoms, label: str, settings: SqsStrainSettings, seed: int) -> list[Atoms]:
    family = [tag(sqs, generator=NAME, settings=settings, seed=seed, parent="", label=label)]
    sqs.info["strain"] = [0.0] * 9
    for pattern in range(3):
        for delta in settings.strains_percent:
            eps = voigt_strain(pattern, delta / 100) + voigt_strain(pattern + 3, delta / 100)
            atoms = strained(Atoms(sqs.get_chemical_symbols(), positions=sqs.positions, cell=sqs.cell, pbc=True), eps)
            atoms.info.update(strain=[float(x) for x in eps.ravel()], strain_pattern=pattern + 1, strain_percent=delta)
            family.append(
                tag(
                    atoms,
                    generator=NAME,
                    settings=settings,
                    seed=seed,
                    parent=label,
                    label=f"{label}-e{pattern + 1}-{delta:g}",
                )
            )
    return family
