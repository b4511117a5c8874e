import sys, time
import numpy as np
from ase.build import bulk
from gpaw import GPAW, PW
a0 = 4.04151733404665
name, width = sys.argv[1], float(sys.argv[2])
def energy(at, K):
    occ = {'name': name, 'width': width} if name != 'mp' else {'name': 'methfessel-paxton', 'width': width, 'order': 1}
    at.calc = GPAW(mode=PW(300.0), xc='PBE', kpts=(K, K, K), occupations=occ, convergence={'energy': 1e-6}, txt=None)
    return at.get_potential_energy() / len(at)
def stretch(atoms, n, r):
    n = np.asarray(n, float); n /= np.linalg.norm(n); nn = np.outer(n, n)
    F = r ** (-1 / 3) * (np.eye(3) - nn) + r ** (2 / 3) * nn
    out = atoms.copy(); out.set_cell(np.asarray(atoms.cell) @ F.T, scale_atoms=True); return out
fcc = bulk('Al', 'fcc', a=a0)
for K in map(int, sys.argv[3:]):
    t = time.time()
    e0 = energy(fcc, K); e1 = energy(stretch(fcc, (0, 0, 1), 0.85), K)
    print(name, width, K, (e1 - e0) * 1000, round(time.time() - t), flush=True)
