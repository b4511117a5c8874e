"""PBE (GPAW 22.8 PW) Bain and trigonal paths of Al at the PBE fcc equilibrium volume."""
import json, sys, time
import numpy as np
from ase.build import bulk
from ase.eos import EquationOfState
from gpaw import GPAW, PW
from gpaw.occupations import MethfesselPaxton

K = int(sys.argv[1]) if len(sys.argv) > 1 else 15
ECUT = 300.0
def calc():
    return GPAW(mode=PW(ECUT), xc='PBE', kpts=(K, K, K), occupations={'name': 'marzari-vanderbilt', 'width': 0.4},
                convergence={'energy': 1e-6}, txt=None)
def energy(at):
    at.calc = calc()
    return at.get_potential_energy() / len(at)
def stretch(atoms, n, r):
    n = np.asarray(n, float); n /= np.linalg.norm(n); nn = np.outer(n, n)
    F = r ** (-1 / 3) * (np.eye(3) - nn) + r ** (2 / 3) * nn
    out = atoms.copy(); out.set_cell(np.asarray(atoms.cell) @ F.T, scale_atoms=True); return out
out = {'settings': f'GPAW 22.8.0 PW({ECUT:.0f} eV) PBE, {K}x{K}x{K} Monkhorst-Pack on the one-atom cell, Marzari-Vanderbilt cold smearing 0.4 eV'}
a_s = np.linspace(3.98, 4.10, 7); es = []
for a in a_s:
    es.append(energy(bulk('Al', 'fcc', a=a))); print('fcc', a, es[-1], flush=True)
vols = a_s ** 3 / 4
v0, e0, B = EquationOfState(vols, es, eos='birchmurnaghan').fit()
a0 = (4 * v0) ** (1 / 3)
fcc = bulk('Al', 'fcc', a=a0); e_fcc = energy(fcc)
out.update(a0_A=a0, v0_A3_per_atom=v0, B_GPa=B * 160.21766, e_fcc_eV=e_fcc, fcc_scan=[list(vols), es])
print('a0', a0, 'B', B * 160.2, flush=True)
json.dump(out, open(f'paths_mv_k{K}.json', 'w'), indent=1)
paths = {'bain': ((0, 0, 1), sorted(set(list(np.round(np.arange(0.60, 1.1001, 0.05), 10)) + [round(1 / 2 ** .5, 10)]))),
         'trigonal': ((1, 1, 1), sorted(set(np.round(np.arange(0.2, 1.1001, 0.05), 10)) ))}
for name, (n, rs) in paths.items():
    res = []
    for r in rs:
        t = time.time()
        e = 0.0 if abs(r - 1) < 1e-12 else (energy(stretch(fcc, n, r)) - e_fcc) * 1000
        res.append([r, e]); print(name, r, e, round(time.time() - t, 1), flush=True)
        out[name] = res
        json.dump(out, open(f'paths_mv_k{K}.json', 'w'), indent=1)
