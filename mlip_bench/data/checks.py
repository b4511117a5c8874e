"""Plausibility checks on structures and reference labels: the loaders mark a frame that fails one
(it is kept, never predicted, and its items are "invalid" with the reason), and the engine runs the
structure checks again before any calculator call, so that nothing reaches a potential unchecked.

The bounds, and why (each is far outside what real data holds, so that only broken input trips it):

- :data:`MAX_ATOMS` (100 000 atoms per structure): a machine-learned potential keeps per-atom
  features and a neighbour list of ~100 neighbours per atom (tens of kB per atom), so 1e5 atoms
  already take gigabytes; DFT reference structures hold at most a few thousand atoms.
- :data:`MIN_VOLUME_PER_ATOM_A3` (1 Å³/atom, periodic cells): the densest solids hold 5.7 Å³/atom
  (diamond) and stay above ~2 Å³/atom at the TPa pressures of planetary cores; below 1 Å³/atom a
  6 Å cutoff sphere holds over 900 neighbours per atom and neighbour lists explode.
- a periodic cell is singular when its periodic vectors span no volume (smallest singular value
  below 1e-8 of the largest): no neighbour list or stress exists for it.
- reference energies per atom beyond :data:`ENERGY_UNIT_LIMIT_EV_PER_ATOM` (200 eV/atom, median
  over a file) and stresses beyond :data:`STRESS_UNIT_LIMIT_EV_PER_A3` (1 eV/Å³ = 160 GPa, median
  of each structure's largest component) are reported as probably in other units (a warning:
  nothing is converted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from ase import Atoms

MAX_ATOMS = 100_000
MIN_VOLUME_PER_ATOM_A3 = 1.0
#: heaviest element ASE knows (Og)
MAX_ATOMIC_NUMBER = 118
ENERGY_UNIT_LIMIT_EV_PER_ATOM = 200.0
STRESS_UNIT_LIMIT_EV_PER_A3 = 1.0
#: eV in kcal/mol and kJ/mol; eV/Å³ in GPa and kbar
KCAL_PER_MOL_PER_EV = 23.0605
KJ_PER_MOL_PER_EV = 96.4853
GPA_PER_EV_PER_A3 = 160.2177
KBAR_PER_EV_PER_A3 = 1602.177


def unknown_elements(numbers: np.ndarray) -> list[int]:
    """Atomic numbers outside 1..118 (0 is ASE's dummy atom "X", never a real element)."""
    return sorted({int(z) for z in np.asarray(numbers).ravel() if not 1 <= int(z) <= MAX_ATOMIC_NUMBER})


def structure_problems(atoms: Atoms) -> dict[str, str]:
    """What makes `atoms` unfit for any potential call, by field ("atoms", "positions", "cell");
    empty when nothing does. Cheap (O(N)): run before every calculator call."""
    out: dict[str, str] = {}
    n = len(atoms)
    if n == 0:
        out["atoms"] = "structure has no atoms"
    elif n > MAX_ATOMS:
        out["atoms"] = f"structure has {n} atoms, more than {MAX_ATOMS} (one potential call would exhaust memory)"
    finite = np.isfinite(atoms.positions).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        out["positions"] = f"field 'positions' has non-finite values (atom {int(bad[0])}{more})"
    cell = np.asarray(atoms.cell.array, dtype=float)
    if not np.isfinite(cell).all():
        out["cell"] = "field 'cell' has non-finite values"
    elif atoms.pbc.any() and n > 0:
        reason = _cell_problem(cell, np.asarray(atoms.pbc, dtype=bool), n)
        if reason:
            out["cell"] = reason
    return out


def _cell_problem(cell: np.ndarray, pbc: np.ndarray, n_atoms: int) -> str:
    periodic = cell[pbc]
    singular = np.linalg.svd(periodic, compute_uv=False)
    if singular.max() == 0.0 or singular.min() <= 1e-8 * singular.max():
        lengths = ", ".join(f"{x:.3g}" for x in np.linalg.norm(periodic, axis=1))
        return f"field 'cell' is singular: its periodic vectors (lengths {lengths} Å) span no volume"
    if pbc.all():
        per_atom = abs(float(np.linalg.det(cell))) / n_atoms
        if per_atom < MIN_VOLUME_PER_ATOM_A3:
            return (
                f"field 'cell' holds {per_atom:.3g} Å³ per atom, below {MIN_VOLUME_PER_ATOM_A3} Å³/atom "
                "(denser than any solid; its neighbour list would explode)"
            )
    return ""


def number(value: Any, name: str) -> tuple[float | None, str]:
    """`value` as a finite float, or (None, why not) naming field `name`."""
    if value is None:
        return None, ""
    try:
        arr = np.asarray(value)
    except Exception:  # an object numpy cannot even wrap
        return None, f"field '{name}' is not a number ({type(value).__name__})"
    if arr.dtype.kind not in "iuf" or arr.size != 1:
        shown = repr(value) if arr.size <= 6 else f"shape {arr.shape}"
        return None, f"field '{name}' is not a number ({shown[:60]})"
    out = float(arr.reshape(-1)[0])
    if not np.isfinite(out):
        return None, f"field '{name}' is non-finite ({out})"
    return out, ""


def numbers_array(value: Any, name: str, shapes: Sequence[tuple[int, ...]]) -> tuple[np.ndarray | None, str]:
    """`value` as a float array of one of `shapes` with finite entries, or (None, why not)."""
    if value is None:
        return None, ""
    try:
        raw = np.asarray(value)
        ok_kind = raw.dtype.kind in "iuf"
        arr = np.array(raw, dtype=float) if ok_kind else None  # a copy: callers make it read-only
    except Exception:
        ok_kind, arr = False, None
    if not ok_kind or arr is None:
        return None, f"field '{name}' is not an array of numbers"
    if arr.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        return None, f"field '{name}' has shape {arr.shape}, expected {expected}"
    if not np.isfinite(arr).all():
        return None, f"field '{name}' has non-finite values"
    return arr, ""


def unit_warnings(
    source: str, energies_per_atom_eV: Iterable[float], stress_max_eV_per_A3: Iterable[float]
) -> tuple[str, ...]:
    """Warnings that a file's reference energies or stresses look like other units (see the module
    docstring); arguments: each labelled structure's |E|/atom and largest |stress component|."""
    out = []
    energy = np.abs(np.fromiter(energies_per_atom_eV, dtype=float))
    if energy.size and float(np.median(energy)) > ENERGY_UNIT_LIMIT_EV_PER_ATOM:
        median = float(np.median(energy))
        out.append(
            f"{source}: reference energies look like kJ/mol or kcal/mol, not eV: the median |E| per atom is "
            f"{median:.0f}, while eV-scale DFT references lie within ~15 eV/atom (1 eV = "
            f"{KCAL_PER_MOL_PER_EV} kcal/mol = {KJ_PER_MOL_PER_EV} kJ/mol); nothing was converted "
            "(all-electron or absolute pseudopotential total energies can legitimately be this large)"
        )
    stress = np.abs(np.fromiter(stress_max_eV_per_A3, dtype=float))
    if stress.size and float(np.median(stress)) > STRESS_UNIT_LIMIT_EV_PER_A3:
        median = float(np.median(stress))
        unit = "GPa (or kbar)" if median < 30 else "kbar (or GPa)"
        out.append(
            f"{source}: reference stresses look like {unit}, not eV/Å³: the median of each structure's "
            f"largest |stress| component is {median:.3g}, while DFT cells rarely exceed 1 eV/Å³ "
            f"(1 eV/Å³ = {GPA_PER_EV_PER_A3} GPa = {KBAR_PER_EV_PER_A3} kbar); nothing was converted"
        )
    return tuple(out)
