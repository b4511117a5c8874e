"""Random substitutional alloys: weight percent to atom counts, and special quasirandom structures.

Weight percent follows paper 000 (Sec. 2.1): the host (Al) is the balance, so ``{"Mg": 10, "Zr": 3}``
is AlMg10Zr3 (87 wt% Al); 3 wt% Zr in Al is 0.91 at%. Atom counts in a supercell are the nearest
integers that sum to the number of sites (largest-remainder rounding).

The SQS is generated with icet (simulated annealing towards the cluster vector of the ideal random
alloy, Zunger et al. 1990; icet: Angqvist et al., Adv. Theory Simul. 2 (2019) 1900015). Its quality
is reported as Warren-Cowley short-range-order parameters of the first neighbour shells, which are
zero for an ideal random alloy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers
from ase.neighborlist import neighbor_list

from mlip_bench.errors import DataError, PropertyError

#: neighbour shells of fcc in units of a/sqrt(2): 1, sqrt(2), sqrt(3), 2
_FCC_SHELL_RADII = (1.0, np.sqrt(2.0), np.sqrt(3.0), 2.0)


def atomic_fractions(wt_percent: Mapping[str, float], *, host: str = "Al") -> dict[str, float]:
    """Atomic fractions (host first) of an alloy given the solutes' weight percent; host is the balance.

    Raises DataError for unknown elements, negative amounts or solutes summing to 100 wt% or more.
    """
    unknown = [s for s in (host, *wt_percent) if s not in atomic_numbers]
    if unknown:
        raise DataError(f"unknown chemical symbols {unknown} in composition {dict(wt_percent)}")
    if host in wt_percent or any(w < 0 for w in wt_percent.values()) or sum(wt_percent.values()) >= 100:
        raise DataError(f"composition {dict(wt_percent)}: solute wt% must be >= 0, sum < 100, host {host} excluded")
    weights = {host: 100.0 - sum(wt_percent.values()), **{s: float(w) for s, w in wt_percent.items() if w > 0}}
    moles = {s: w / atomic_masses[atomic_numbers[s]] for s, w in weights.items()}
    total = sum(moles.values())
    return {s: float(m / total) for s, m in moles.items()}


def atom_counts(wt_percent: Mapping[str, float], n_sites: int, *, host: str = "Al") -> dict[str, int]:
    """Integer atom counts (host first) closest to `wt_percent` on `n_sites` sites, summing to n_sites.

    Raises DataError for a bad composition (see :func:`atomic_fractions`).
    """
    exact = {s: x * n_sites for s, x in atomic_fractions(wt_percent, host=host).items()}
    counts = {s: int(np.floor(v)) for s, v in exact.items()}
    by_remainder = sorted(exact, key=lambda s: exact[s] - counts[s], reverse=True)
    for symbol in by_remainder[: n_sites - sum(counts.values())]:
        counts[symbol] += 1
    return counts


def weight_percent(counts: Mapping[str, int]) -> dict[str, float]:
    """Weight percent of each element for integer atom counts (what a supercell really holds)."""
    mass = {s: n * atomic_masses[atomic_numbers[s]] for s, n in counts.items()}
    total = sum(mass.values())
    return {s: float(100 * m / total) for s, m in mass.items()}


@dataclass(frozen=True)
class ShellOrder:
    """Warren-Cowley alpha = 1 - P(j next to i) / c_j for one shell and ordered species pair."""

    shell: int
    center: str
    neighbor: str
    alpha: float
    expected_pairs: float


@dataclass(frozen=True)
class SqsResult:
    """An SQS on ideal lattice sites (not relaxed) and its short-range order.

    `max_abs_alpha` is over the pairs whose random-alloy expectation is at least one neighbour pair
    (a dilute pair such as Zr-Zr in 256 sites cannot be random in any finite cell).
    """

    atoms: Atoms
    counts: tuple[tuple[str, int], ...]
    order: tuple[ShellOrder, ...]
    max_abs_alpha: float


def generate_sqs(
    counts: Mapping[str, int],
    *,
    a_A: float,
    repeat: int,
    cutoffs_A: tuple[float, ...] = (6.0, 4.5),
    n_steps: int = 5000,
    seed: int = 0,
    n_shells: int = 2,
) -> SqsResult:
    """SQS of fcc with `counts` atoms on a `repeat`^3 conventional supercell (4 repeat^3 sites).

    cutoffs_A: icet cluster cutoffs (pairs, triplets, ...) in Å for the lattice constant `a_A`.
    Raises PropertyError when the counts do not fill the supercell or icet is not installed.
    """
    cubic = bulk("Al", "fcc", a=a_A, cubic=True).repeat(repeat)
    n_sites = len(cubic)
    species = [s for s, n in counts.items() if n > 0]
    if sum(counts.values()) != n_sites or any(n < 0 for n in counts.values()):
        raise PropertyError(f"atom counts {dict(counts)} do not fill {n_sites} fcc sites")
    if len(species) == 1:
        atoms = cubic.copy()
        atoms.set_chemical_symbols([species[0]] * n_sites)
    else:
        atoms = _icet_sqs(cubic, species, counts, a_A=a_A, cutoffs_A=cutoffs_A, n_steps=n_steps, seed=seed)
    order = warren_cowley(atoms, a_A=a_A, n_shells=n_shells)
    relevant = [abs(o.alpha) for o in order if o.expected_pairs >= 1.0]
    return SqsResult(
        atoms=atoms,
        counts=tuple((s, int(n)) for s, n in counts.items()),
        order=order,
        max_abs_alpha=max(relevant, default=0.0),
    )


def _icet_sqs(
    cubic: Atoms,
    species: list[str],
    counts: Mapping[str, int],
    *,
    a_A: float,
    cutoffs_A: tuple[float, ...],
    n_steps: int,
    seed: int,
) -> Atoms:
    try:
        from icet import ClusterSpace
        from icet.tools.structure_generation import generate_sqs_from_supercells
    except ImportError as exc:
        raise PropertyError("SQS generation needs icet: pip install icet") from exc

    space = ClusterSpace(bulk(species[0], "fcc", a=a_A), list(cutoffs_A), [species])
    target = {s: counts[s] / len(cubic) for s in species}
    host = cubic.copy()
    host.set_chemical_symbols([species[0]] * len(host))
    sqs = generate_sqs_from_supercells(space, [host], target, n_steps=n_steps, random_seed=seed)
    # icet keeps the supercell's site order; a fresh Atoms drops its per-structure info
    return Atoms(sqs.get_chemical_symbols(), positions=sqs.positions, cell=sqs.cell, pbc=True)


def warren_cowley(atoms: Atoms, *, a_A: float, n_shells: int = 2) -> tuple[ShellOrder, ...]:
    """Warren-Cowley parameters of the first `n_shells` fcc shells of an (ideal-site) alloy.

    alpha_ij = 1 - P(j|i) / c_j with P(j|i) the fraction of the shell neighbours of i atoms that
    are j and c_j = N_j / N; `expected_pairs` = Z N_i c_j is the random-alloy pair count.
    """
    if not 1 <= n_shells <= len(_FCC_SHELL_RADII):
        raise PropertyError(f"n_shells must be 1..{len(_FCC_SHELL_RADII)}")
    nn = a_A / np.sqrt(2.0)
    radii = np.array(_FCC_SHELL_RADII[:n_shells]) * nn
    first, second, dist = neighbor_list("ijd", atoms, radii[-1] + 0.25 * nn)
    shell = np.argmin(np.abs(dist[:, None] - radii[None, :]), axis=1)
    symbols = np.array(atoms.get_chemical_symbols())
    species = sorted(set(symbols.tolist()), key=lambda s: -int(np.sum(symbols == s)))
    n_total = len(atoms)
    out: list[ShellOrder] = []
    for k in range(n_shells):
        in_shell = shell == k
        n_neighbors = np.bincount(first[in_shell], minlength=n_total)
        for center in species:
            centers = symbols[first[in_shell]] == center
            z_total = float(np.sum(n_neighbors[symbols == center]))
            for neighbor in species:
                c_j = float(np.sum(symbols == neighbor)) / n_total
                pairs = float(np.sum(centers & (symbols[second[in_shell]] == neighbor)))
                alpha = 1.0 - pairs / (z_total * c_j) if z_total > 0 else 0.0
                out.append(ShellOrder(k + 1, center, neighbor, float(alpha), z_total * c_j))
    return tuple(out)
