"""k-point convergence check of selected path points (same settings, finer mesh)."""
import json, sys
import numpy as np
from ase.build import bulk
from gpaw import GPAW, PW
from gpaw.occupations import MethfesselPaxton
K = int(sys.argv[1]); a0 = float(sys.argv[2])
def energy(at):
    at.calc = GPAW(mode=PW(300.0), xc='PBE', kpts=(K, K, K), occupations=MethfesselPaxton(0.2, 1), convergence={'energy': 1e-6}, txt=None)
    return at.get_potential_energy() / len(at)
def stretch(atoms, n, r):
    n = np.asarray(n, float); n /= np.linalg.norm(n); nn = np.outer(n, n)
    F = r ** (-1 / 3) * (np.eye(3) - nn) + r ** (2 / 3) * nn
    out = atoms.copy(); out.set_cell(np.asarray(atoms.cell) @ F.T, scale_atoms=True); return out
fcc = bulk('Al', 'fcc', a=a0); e0 = energy(fcc); out = {}
for name, n, r in (('bain', (0,0,1), 1/2**.5), ('bain', (0,0,1), 0.85), ('bain', (0,0,1), 1.1), ('trigonal', (1,1,1), 0.5), ('trigonal', (1,1,1), 0.75)):
    e = (energy(stretch(fcc, n, r)) - e0) * 1000; out[f'{name} {r:.4f}'] = e; print(name, r, e, flush=True)
    json.dump(out, open(f'conv_k{K}.json', 'w'), indent=1)
