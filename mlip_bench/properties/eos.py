"""Equation of state: relax, scan volume, fit Birch-Murnaghan (``ase.eos``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.eos import EquationOfState

from mlip_bench.errors import PropertyError
from mlip_bench.properties.relax import relax
from mlip_bench.units import EV_PER_A3_TO_GPA


@dataclass(frozen=True)
class EOSResult:
    """Equilibrium of one crystal. Lattice constants scale the relaxed cell's a and c to v0."""

    a0_A: float
    c0_A: float
    v0_A3_per_atom: float
    e0_eV_per_atom: float
    B_GPa: float
    fit_rms_meV_per_atom: float
    relax_converged: bool
    volumes_A3_per_atom: tuple[float, ...]
    energies_eV_per_atom: tuple[float, ...]


def calc_eos(
    atoms: Atoms,
    calc: object,
    *,
    volume_range: float = 0.06,
    n_points: int = 11,
    relax_first: bool = True,
    fmax_eV_per_A: float = 1e-4,
) -> EOSResult:
    """E(V) over volumes (1 +/- `volume_range`) x the relaxed volume, fitted with Birch-Murnaghan.

    Raises PropertyError when the fit fails or its minimum lies outside the scanned range.
    """
    start = atoms
    converged = True
    if relax_first:
        relaxed = relax(atoms, calc, cell=True, fmax_eV_per_A=fmax_eV_per_A)
        start, converged = relaxed.atoms, relaxed.converged
    n = len(start)
    volumes, energies = [], []
    for factor in np.linspace(1 - volume_range, 1 + volume_range, n_points):
        work = start.copy()
        work.set_cell(start.cell * factor ** (1 / 3), scale_atoms=True)
        work.calc = calc
        volumes.append(work.get_volume() / n)
        energies.append(work.get_potential_energy() / n)
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    try:
        v0, e0, bulk = eos.fit()
    except Exception as exc:  # ase raises bare errors when the fit does not converge
        raise PropertyError(f"Birch-Murnaghan fit failed: {exc}") from exc
    if not min(volumes) <= v0 <= max(volumes):
        raise PropertyError(f"EOS minimum {v0:.3f} Å^3/atom lies outside the scanned volumes")
    residual = np.asarray(energies) - eos.func(np.asarray(volumes), *eos.eos_parameters)
    scale = (v0 * n / start.get_volume()) ** (1 / 3)
    lengths = start.cell.lengths()
    return EOSResult(
        a0_A=float(lengths[0] * scale),
        c0_A=float(lengths[2] * scale),
        v0_A3_per_atom=float(v0),
        e0_eV_per_atom=float(e0),
        B_GPa=float(bulk * EV_PER_A3_TO_GPA),
        fit_rms_meV_per_atom=float(np.sqrt(np.mean(residual**2)) * 1000),
        relax_converged=converged,
        volumes_A3_per_atom=tuple(float(v) for v in volumes),
        energies_eV_per_atom=tuple(float(e) for e in energies),
    )
