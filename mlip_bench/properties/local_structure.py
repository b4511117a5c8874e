"""Per-atom local crystal structure by polyhedral template matching (PTM: P. M. Larsen, S. Schmidt,
J. Schiøtz, Modelling Simul. Mater. Sci. Eng. 24 (2016) 055007), through ASAP's maintained
implementation (``asap3.analysis.ptm``, the code OVITO's PTM modifier derives from), never a
hand-rolled classifier. Melting, refreezing and solid-solid transitions (fcc to bcc, as paper 003's
Mendelev EAM does near 20 GPa) are read from the fractions it gives.

Any ASE ``Atoms`` (periodic, orthogonal or not): the MD engines hand snapshots over as ``Atoms``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from mlip_bench.errors import OptionalDependencyError, PropertyError

try:  # at import, never later: importing asap3 after a LAMMPS instance has started crashes the process
    from asap3.analysis.ptm import PTM
except ImportError:  # pragma: no cover - asap3 is the emt extra
    PTM = None

#: PTM's structure codes, in the order of the PTM library ASAP 3.13 ships (none, fcc, hcp, bcc, ico,
#: sc), which is not the order its ``PTM`` docstring lists (sc first): checked on perfect crystals
#: in tests/test_local_structure.py
STRUCTURES = ("other", "fcc", "hcp", "bcc", "ico", "sc")
#: RMSD above which a template match is not trusted (PTM's scaled RMSD). Measured with Mendelev's Al
#: EAM: at 0.1 a crystal at 1000 K reads only 29 % solid; at 0.15 it reads 97 % (85 % superheated at
#: 1100 K) while the liquid reads about 1 %
RMSD_MAX = 0.15


@dataclass(frozen=True)
class StructureFractions:
    """Share (0-1) of atoms in each local structure; they sum to 1. `solid` = fcc + hcp + bcc +
    sc (ico counts as liquid-like: icosahedral order is the liquid's signature)."""

    other: float
    fcc: float
    hcp: float
    bcc: float
    ico: float
    sc: float

    @property
    def solid(self) -> float:
        return self.fcc + self.hcp + self.bcc + self.sc


def classify(atoms: Atoms, *, rmsd_max: float = RMSD_MAX) -> np.ndarray:
    """PTM structure code of each atom (indices into :data:`STRUCTURES`), shape (n_atoms,).

    Raises OptionalDependencyError without asap3, PropertyError for an empty or non-periodic cell
    (PTM needs every atom's full neighbour shell)."""
    if len(atoms) == 0 or not atoms.pbc.all():
        raise PropertyError(f"local structure needs a periodic cell with atoms: {len(atoms)} atoms, pbc {atoms.pbc}")
    if PTM is None:
        raise OptionalDependencyError("local structure (PTM) needs asap3: pip install 'mlip-bench[emt]'")
    work = atoms.copy()
    work.calc = None
    work.wrap()  # ASAP's neighbour list wants atoms inside the cell
    # the cutoff must reach bcc's second shell: 1.5x the nearest-neighbour distance estimate
    volume_per_atom = work.get_volume() / len(work)
    cutoff = 1.5 * (volume_per_atom ** (1 / 3)) * 1.25
    data = PTM(work, cutoff=cutoff, rmsd_max=rmsd_max, target_structures=("sc", "fcc", "hcp", "ico", "bcc"))
    return np.asarray(data["structure"], dtype=int)


def fractions(codes: np.ndarray) -> StructureFractions:
    """The share of each structure among `codes` (from :func:`classify`); raises PropertyError on
    an empty array or a code PTM never gives."""
    codes = np.asarray(codes)
    if codes.size == 0 or codes.min() < 0 or codes.max() >= len(STRUCTURES):
        raise PropertyError(f"structure codes must be 0-{len(STRUCTURES) - 1} and not empty, got {codes[:10]}")
    counts = np.bincount(codes, minlength=len(STRUCTURES)) / codes.size
    return StructureFractions(*(float(c) for c in counts))
