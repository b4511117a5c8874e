"""Native LAMMPS molecular dynamics for potentials given as LAMMPS commands (``eam:``, ``lammps:``):
the :class:`~mlip_bench.properties.md_engine.MdEngine` runs without a Python round trip per step.

The same protocol as :class:`~mlip_bench.properties.md_engine.AseEngine`, in LAMMPS's own fixes:
NPT is ``nve`` + ``temp/berendsen`` + ``press/berendsen aniso`` (each axis follows its own stress,
bulk modulus from ``compressibility_per_GPa``), NVT is ``nve`` + ``langevin`` (damping
1/``friction_per_fs``, centre of mass held), the stress is LAMMPS's pressure tensor with its kinetic
term (``thermo_press``) and time averages come from ``fix ave/time`` (cell, stress) and
``fix ave/atom`` (scaled unwrapped positions). Each run is a fresh LAMMPS instance built from ASE
``Atoms`` (cell, positions, momenta); a general cell is rotated into LAMMPS's triclinic form with
ASE's ``Prism`` and the stress rotated back, so results are in the frame of the given ``Atoms``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms, units
from ase.calculators.lammps.coordinatetransform import Prism
from ase.data import atomic_masses, atomic_numbers

from mlip_bench.adapters.lammps import LammpsSetup, import_lammps
from mlip_bench.errors import PropertyError
from mlip_bench.properties.md_engine import N_BLOCKS, AseEngine, Equilibrated, StressAverage, block_sem, in_mean_cell

if TYPE_CHECKING:
    from mlip_bench.properties.md_elastic import MdSettings

BAR_TO_GPA = 1e-4
#: ASE velocity (Å per ASE time unit) to LAMMPS metal units (Å/ps)
_V_ASE_TO_A_PER_PS = units.fs * 1000.0
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


class LammpsEngine:
    """MD in LAMMPS for the potential described by `setup` (from the ``eam:``/``lammps:`` adapters)."""

    name = "lammps"

    def __init__(self, setup: LammpsSetup, calc: object | None = None) -> None:
        """`calc`: an ASE calculator of the same potential, for the NPT of a sheared cell."""
        self.setup = setup
        self.calc = calc

    def equilibrate(self, atoms: Atoms, settings: MdSettings) -> Equilibrated:
        """LAMMPS's press/berendsen refuses triclinic boxes: a cell that relaxed to a small shear (a
        concentrated SQS) is equilibrated by ASE's Inhomogeneous_NPTBerendsen on `calc` (the same
        algorithm; a small share of the MD steps); raises PropertyError without `calc`."""
        if not _orthogonal(atoms.cell.array):
            if self.calc is None:
                raise PropertyError("LAMMPS NPT needs an orthogonal cell (or an ASE calculator for a sheared one)")
            return AseEngine(self.calc).equilibrate(atoms, settings)
        atoms = atoms.copy()  # round-off shear from a relaxation would make LAMMPS's box triclinic
        atoms.set_cell(np.diag(np.diag(atoms.cell.array)), scale_atoms=False)
        with _lammps_errors("NPT"):
            return self._equilibrate(atoms, settings)

    def _equilibrate(self, atoms: Atoms, settings: MdSettings) -> Equilibrated:
        lmp, _ = self._open(atoms, settings)
        try:
            t = settings.temperature_K
            seed = _seed(settings.seed, 0)
            modulus_bar = 1.0 / settings.compressibility_per_GPa / BAR_TO_GPA
            p_bar = settings.pressure_GPa / BAR_TO_GPA
            lmp.commands_list(
                [
                    f"velocity all create {t} {seed} dist gaussian mom yes rot no",
                    "fix md all nve",
                    f"fix thermostat all temp/berendsen {t} {t} {settings.taut_fs / 1000}",
                    f"fix barostat all press/berendsen aniso {p_bar} {p_bar} {settings.taup_fs / 1000} "
                    f"modulus {modulus_bar} dilate all",
                    f"run {settings.npt_steps - settings.average_steps}",
                    # fix ave/time and ave/atom average windows ending at multiples of Nfreq
                    "reset_timestep 0",
                    # scaled unwrapped positions (the NPT box is orthogonal)
                    "compute unwrapped all property/atom xu yu zu",
                    "variable sx atom (c_unwrapped[1]-xlo)/lx",
                    "variable sy atom (c_unwrapped[2]-ylo)/ly",
                    "variable sz atom (c_unwrapped[3]-zlo)/lz",
                    *(f"variable {v} equal {v}" for v in ("lx", "ly", "lz", "xy", "xz", "yz")),
                    f"fix cell all ave/time 1 {settings.average_steps} {settings.average_steps} "
                    "v_lx v_ly v_lz v_xy v_xz v_yz",
                    f"fix positions all ave/atom 1 {settings.average_steps} {settings.average_steps} v_sx v_sy v_sz",
                    f"run {settings.average_steps}",
                ]
            )
            lx, ly, lz, xy, xz, yz = (_fix_vector(lmp, "cell", i) for i in range(6))
            mean_cell_lammps = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
            scaled = np.array(lmp.numpy.extract_fix("positions", 1, 2))  # LMP_STYLE_ATOM, LMP_TYPE_ARRAY
            order = np.argsort(np.array(lmp.numpy.extract_atom("id"))[: len(atoms)])
            last = self._read_back(lmp, atoms)
        finally:
            lmp.close()
        return in_mean_cell(last, mean_cell_lammps, scaled[order], settings.npt_steps)

    def nvt_stress(self, atoms: Atoms, settings: MdSettings, run: int) -> StressAverage:
        with _lammps_errors("NVT"):
            return self._nvt_stress(atoms, settings, run)

    def _nvt_stress(self, atoms: Atoms, settings: MdSettings, run: int) -> StressAverage:
        lmp, prism = self._open(atoms, settings)
        try:
            t = settings.temperature_K
            block = settings.average_steps // N_BLOCKS
            if block < 1:
                raise PropertyError(f"average_steps must be at least {N_BLOCKS} for block averages")
            lmp.commands_list(
                [
                    "fix md all nve",
                    f"fix thermostat all langevin {t} {t} {1 / settings.friction_per_fs / 1000} "
                    f"{_seed(settings.seed, run)} zero yes",
                    f"run {settings.nvt_steps - N_BLOCKS * block}",
                    "reset_timestep 0",
                    f"fix stress all ave/time 1 {block} {block} c_thermo_press[*]",
                ]
            )
            blocks = []
            for _ in range(N_BLOCKS):
                lmp.command(f"run {block}")
                blocks.append([_fix_vector(lmp, "stress", i) for i in range(6)])  # pxx pyy pzz pxy pxz pyz
        finally:
            lmp.close()
        voigt = np.array([_to_ase_voigt(np.array(b), prism) for b in blocks])
        return StressAverage(voigt.mean(axis=0), block_sem(voigt), settings.nvt_steps)

    def _open(self, atoms: Atoms, settings: MdSettings) -> tuple[Any, Prism]:
        """A LAMMPS instance holding `atoms` (positions, types, masses, velocities) and the potential."""
        elements = self.setup.elements
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
        if unknown:
            raise PropertyError(f"elements {unknown} are not among the potential's types {list(elements)}")
        prism = Prism(atoms.cell.array)
        xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
        lmp = import_lammps().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        try:
            lmp.commands_list(
                [
                    "units metal",
                    "atom_style atomic",
                    "atom_modify map array",
                    "boundary p p p",
                    # an orthogonal box where the cell is one: press/berendsen refuses triclinic boxes
                    f"region cell prism 0 {xhi} 0 {yhi} 0 {zhi} {xy} {xz} {yz} units box"
                    if not _orthogonal(atoms.cell.array)
                    else f"region cell block 0 {xhi} 0 {yhi} 0 {zhi} units box",
                    f"create_box {len(elements)} cell",
                    *(f"mass {i + 1} {atomic_masses[atomic_numbers[e]]}" for i, e in enumerate(elements)),
                    *self.setup.commands,
                    "neighbor 2.0 bin",
                    "neigh_modify every 1 delay 0 check yes",
                    f"timestep {settings.timestep_fs / 1000}",
                ]
            )
            types = [elements.index(s) + 1 for s in atoms.get_chemical_symbols()]
            positions = prism.vector_to_lammps(atoms.positions, wrap=True)
            velocities = prism.vector_to_lammps(atoms.get_velocities() * _V_ASE_TO_A_PER_PS)
            ids = list(range(1, len(atoms) + 1))
            n = lmp.create_atoms(len(atoms), ids, types, positions.ravel().tolist(), velocities.ravel().tolist())
            if n != len(atoms):
                raise PropertyError(f"LAMMPS created {n} of {len(atoms)} atoms")
        except Exception:
            lmp.close()
            raise
        return lmp, prism

    def _read_back(self, lmp: Any, template: Atoms) -> Atoms:
        """The current LAMMPS state as ASE Atoms in an orthogonal cell (positions, momenta)."""
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        cell = np.array([[boxhi[0] - boxlo[0], 0, 0], [xy, boxhi[1] - boxlo[1], 0], [xz, yz, boxhi[2] - boxlo[2]]])
        x = np.array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3) - np.array(boxlo)
        v = np.array(lmp.gather_atoms("v", 1, 3)).reshape(-1, 3) / _V_ASE_TO_A_PER_PS
        out = Atoms(template.get_chemical_symbols(), positions=x, cell=cell, pbc=True)
        out.set_velocities(v)
        return out


def _orthogonal(cell: np.ndarray) -> bool:
    """Off-diagonal cell entries below 1e-6 Å (round-off of a relaxation) count as zero."""
    return bool(np.abs(cell - np.diag(np.diag(cell))).max() < 1e-6)


@contextmanager
def _lammps_errors(stage: str) -> Iterator[None]:
    """LAMMPS raises bare ``Exception``: a property fails with PropertyError, so one item fails."""
    try:
        yield
    except PropertyError:
        raise
    except Exception as exc:
        raise PropertyError(f"LAMMPS {stage} run failed: {exc}") from exc


def _fix_vector(lmp: Any, fix: str, i: int) -> float:
    return float(lmp.extract_fix(fix, 0, 1, i))  # LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR


def _to_ase_voigt(pressure_bar: np.ndarray, prism: Prism) -> np.ndarray:
    """LAMMPS pressure tensor (pxx, pyy, pzz, pxy, pxz, pyz; bar, LAMMPS frame) to ASE's Voigt
    stress (xx, yy, zz, yz, xz, xy; GPa, frame of the input Atoms): stress = -pressure."""
    pxx, pyy, pzz, pxy, pxz, pyz = pressure_bar
    tensor = -BAR_TO_GPA * np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]])
    rotated = prism.tensor2_to_ase(tensor)
    return np.array([rotated[i, j] for i, j in _VOIGT])


def _seed(seed: int, run: int) -> int:
    """A positive LAMMPS random seed, distinct per run (LAMMPS needs 0 < seed < 2**31)."""
    return 1 + (seed * 7919 + run * 104729) % (2**31 - 2)
