"""PBE surface energies and first-layer relaxations of fcc Al {100}, {110}, {111} (GPAW).

Symmetric 1x1 slabs (one atom per layer) at the PBE lattice constant of cold2.py/paths (4.0423 A),
10 A of vacuum on each side, every atom relaxed along the normal (BFGS, fmax 0.02 eV/A; the lateral
cell is fixed). The bulk energy per atom comes from the same in-plane cell made periodic along the
normal (6 layers, no vacuum) with the same in-plane k-mesh, so in-plane k-point errors cancel.
gamma = (E_slab - N e_bulk) / (2 A); d12 = (z1 - z2) / d_bulk - 1. Writes surfaces.json.

    python3 surfaces.py            # all facets; about an hour on one core
"""
import json
import sys

import numpy as np
from ase.build import fcc100, fcc110, fcc111
from ase.constraints import FixedLine
from ase.optimize import BFGS
from gpaw import GPAW, PW

A0 = 4.0423
EV_PER_A2_TO_MJ_PER_M2 = 16021.766
SETTINGS = dict(mode=PW(350.0), xc="PBE", occupations={"name": "marzari-vanderbilt", "width": 0.2},
                convergence={"energy": 1e-6}, txt=None)
KDENS = 9.0  # k-points per 1/A in-plane (k = ceil(KDENS * 2 pi / L) ... as ase's kptdensity2monkhorstpack)
FACETS = {"111": (fcc111, 7), "100": (fcc100, 7), "110": (fcc110, 11)}


def kmesh(atoms, periodic_z):
    rec = np.linalg.norm(atoms.cell.reciprocal(), axis=1) * 2 * np.pi
    k = [max(1, int(np.ceil(KDENS * r))) for r in rec]
    return (k[0], k[1], k[2] if periodic_z else 1)


def run(facet):
    build, layers = FACETS[facet]
    # 6 layers: a whole number of ABC (111) and AB (100, 110) stacking periods, so the periodic
    # bulk cell has no stacking fault at its boundary
    bulk = build("Al", (1, 1, 6), a=A0, periodic=True, vacuum=None)
    bulk.calc = GPAW(kpts=kmesh(bulk, True), **SETTINGS)
    e_bulk = bulk.get_potential_energy() / len(bulk)
    slab = build("Al", (1, 1, layers), a=A0, vacuum=10.0, periodic=True)
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    slab.calc = GPAW(kpts=kmesh(slab, False), **SETTINGS)
    e_unrelaxed = slab.get_potential_energy()
    slab.set_constraint([FixedLine(i, (0, 0, 1)) for i in range(len(slab))])
    BFGS(slab, logfile=f"relax_{facet}.log").run(fmax=0.02, steps=40)
    e_slab = slab.get_potential_energy()
    z = np.sort(slab.positions[:, 2])
    d_bulk = A0 / {"111": np.sqrt(3), "100": 2.0, "110": 2 * np.sqrt(2)}[facet]
    d12 = ((z[-1] - z[-2]) + (z[1] - z[0])) / 2 / d_bulk - 1
    d23 = ((z[-2] - z[-3]) + (z[2] - z[1])) / 2 / d_bulk - 1
    return {
        "layers": layers,
        "kpts_slab": list(kmesh(slab, False)),
        "kpts_bulk": list(kmesh(bulk, True)),
        "e_bulk_eV_per_atom": e_bulk,
        "e_slab_unrelaxed_eV": e_unrelaxed,
        "e_slab_eV": e_slab,
        "area_A2": area,
        "gamma_unrelaxed_mJ_per_m2": (e_unrelaxed - len(slab) * e_bulk) / (2 * area) * EV_PER_A2_TO_MJ_PER_M2,
        "gamma_mJ_per_m2": (e_slab - len(slab) * e_bulk) / (2 * area) * EV_PER_A2_TO_MJ_PER_M2,
        "d12_percent": 100 * d12,
        "d23_percent": 100 * d23,
    }


if __name__ == "__main__":
    try:
        out = json.load(open("surfaces.json"))
    except FileNotFoundError:
        out = {}
    out |= {"settings": "GPAW PW(350 eV) PBE, Marzari-Vanderbilt 0.2 eV, SCF 1e-6 eV, a0 = 4.0423 A, "
                       f"in-plane k density {KDENS}/A^-1, 1x1 slabs, 10 A vacuum per side, BFGS fmax 0.02 eV/A along z"}
    for facet in sys.argv[1:] or FACETS:
        out[facet] = run(facet)
        print(facet, out[facet], flush=True)
        json.dump(out, open("surfaces.json", "w"), indent=1)
