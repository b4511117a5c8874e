"""Thickness check: unrelaxed gamma of 1x1 slabs with more layers (same settings as surfaces.py)."""
import json, sys
import numpy as np
from surfaces import FACETS, A0, SETTINGS, kmesh, EV_PER_A2_TO_MJ_PER_M2
from gpaw import GPAW
facet = sys.argv[1]; build, _ = FACETS[facet]
bulk = build("Al", (1, 1, 6), a=A0, periodic=True, vacuum=None)
bulk.calc = GPAW(kpts=kmesh(bulk, True), **SETTINGS); eb = bulk.get_potential_energy() / len(bulk)
out = {}
for n in map(int, sys.argv[2:]):
    slab = build("Al", (1, 1, n), a=A0, vacuum=10.0, periodic=True)
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    slab.calc = GPAW(kpts=kmesh(slab, False), **SETTINGS)
    out[n] = (slab.get_potential_energy() - n * eb) / (2 * area) * EV_PER_A2_TO_MJ_PER_M2
    print(facet, n, out[n], flush=True)
json.dump(out, open(f"thick_{facet}.json", "w"), indent=1)
