"""Committees of MTPs: the same fit repeated with different seeds (random initial radial
coefficients), scored through the existing ``committee:A|B|...`` adapter, whose spread is the
``committee_std`` uncertainty (adapters/committee.py, adapters/uncertainty.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ase import Atoms

from mlip_bench.adapters.committee import NAME, SEPARATOR
from mlip_bench.errors import PotentialError
from mlip_bench.training.fit_mtp import MtpFit, MtpFitSettings, fit_mtp


@dataclass(frozen=True, kw_only=True)
class CommitteeFit:
    """The members' fits, in seed order; `spec` is the ``committee:`` potential spec."""

    fits: tuple[MtpFit, ...]

    @property
    def spec(self) -> str:
        return f"{NAME}:" + SEPARATOR.join(fit.spec for fit in self.fits)

    @property
    def seconds(self) -> float:
        return sum(fit.seconds for fit in self.fits)


def committee_seeds(settings: MtpFitSettings, size: int) -> tuple[int, ...]:
    """`size` distinct seeds starting at `settings.seed`; raises PotentialError for size < 2."""
    if size < 2:
        raise PotentialError(f"a committee needs at least two members, got size {size}")
    return tuple(settings.seed + k for k in range(size))


def fit_committee(
    structures: Sequence[Atoms],
    settings: MtpFitSettings,
    *,
    workdir: Path,
    size: int = 4,
    initials: Sequence[Path] | None = None,
) -> CommitteeFit:
    """`size` fits of `settings` with seeds settings.seed, +1, ..., each in
    ``workdir/member-K-seed-S``. `initials`: one ``.mtp`` per member to refit from (a committee's
    previous members; one file for all would give identical members, as a refit draws nothing at
    random). Raises what :func:`fit_mtp` raises, PotentialError for size < 2 or a wrong number of
    initials."""
    seeds = committee_seeds(settings, size)
    if initials is not None and len(initials) != size:
        raise PotentialError(f"committee of {size}: got {len(initials)} initial files, need one per member")
    fits = []
    for k, seed in enumerate(seeds, 1):
        member = Path(workdir) / f"member-{k}-seed-{seed}"
        start = None if initials is None else Path(initials[k - 1])
        fits.append(fit_mtp(structures, replace(settings, seed=seed), workdir=member, initial=start))
    return CommitteeFit(fits=tuple(fits))
