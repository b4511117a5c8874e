"""Native LAMMPS molecular dynamics for potentials given as LAMMPS commands (``eam:``, ``lammps:``):
an :class:`~mlip_bench.properties.md_engine.MdEngine` without a Python round trip per step.

The ensembles of :class:`~mlip_bench.properties.md_engine.AseEngine` in LAMMPS's own fixes: NVE is
``nve``; NVT adds ``langevin`` (damping 1/``friction_per_fs``, ``zero yes`` holds the centre of
mass); NPT adds ``temp/berendsen`` and ``press/berendsen aniso`` (each axis follows its own stress,
bulk modulus from ``compressibility_per_GPa``; orthogonal boxes only: a sheared cell goes to ASE's
integrator on `calc`). Stress is LAMMPS's pressure tensor with its kinetic term. Averages come from
``fix ave/time`` and ``fix ave/atom`` defined per interval (Nfreq = the interval's last step, so any
start step works). A general cell is rotated into LAMMPS's triclinic form with ASE's ``Prism``;
everything returned is in the frame of the given ``Atoms``.

Resuming: each protocol boundary (:mod:`~mlip_bench.properties.md_core`) is a ``run`` with setup
(neighbour lists rebuilt) and a Langevin seed derived from (seed, stream, step); steps between
observer calls are ``run N pre no``, identical to one longer run. A checkpoint holds the exact box,
positions, image flags and velocities (atoms never reordered: ``atom_modify sort 0``), so a resumed
instance starts where an uninterrupted one stands; forces may differ in the last bit (neighbour order).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from ase import Atoms, units
from ase.calculators.lammps.coordinatetransform import Prism
from ase.data import atomic_masses, atomic_numbers

from mlip_bench.adapters.lammps import LammpsSetup, import_lammps
from mlip_bench.errors import PropertyError
from mlip_bench.properties.md_checkpoint import Checkpoint
from mlip_bench.properties.md_core import MdResult, MdRun, Observer, Snapshot, drive, fingerprint
from mlip_bench.properties.md_engine import AseEngine
from mlip_bench.properties.md_window import IntervalSums

BAR_TO_GPA = 1e-4
#: ASE velocity (Å per ASE time unit) to LAMMPS metal units (Å/ps)
_V_ASE_TO_A_PER_PS = units.fs * 1000.0
_THERMO = ("pe", "ke", "temp", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz", "lx", "ly", "lz", "xy", "xz", "yz")
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
_STATE = ("lmp_x", "lmp_v", "lmp_image", "lmp_box")
_MAX_SEED = 900_000_000
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _lammps_call(method: _Method) -> _Method:
    """A backend method whose LAMMPS errors are PropertyErrors (not an observer's: those pass)."""

    @functools.wraps(method)
    def wrapper(self: _LammpsBackend, *args: Any, **kwargs: Any) -> Any:
        with _lammps_errors(self.spec.ensemble):
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


@contextmanager
def _lammps_errors(stage: str) -> Iterator[None]:
    """LAMMPS raises bare ``Exception``: a property fails with PropertyError, so one item fails."""
    try:
        yield
    except PropertyError:
        raise
    except Exception as exc:
        raise PropertyError(f"LAMMPS {stage} run failed: {exc}") from exc


class LammpsEngine:
    """MD in LAMMPS for the potential described by `setup` (from the ``eam:``/``lammps:`` adapters)."""

    name = "lammps"

    def __init__(self, setup: LammpsSetup, calc: object | None = None) -> None:
        """`calc`: an ASE calculator of the same potential, for the NPT of a sheared cell."""
        self.setup = setup
        self.calc = calc

    def run(
        self, atoms: Atoms, spec: MdRun, *, observers: Sequence[Observer] = (), checkpoint: Path | None = None
    ) -> MdResult:
        """See :meth:`MdEngine.run`. LAMMPS's press/berendsen refuses triclinic boxes: NPT of a cell
        that relaxed to a small shear (a concentrated SQS) runs on ASE's Inhomogeneous_NPTBerendsen with
        `calc` (the same algorithm); raises PropertyError without `calc`, or when LAMMPS fails."""
        if spec.ensemble == "npt_berendsen":
            if not _orthogonal(atoms.cell.array):
                if self.calc is None:
                    raise PropertyError("LAMMPS NPT needs an orthogonal cell (or an ASE calculator for a sheared one)")
                return AseEngine(self.calc).run(atoms, spec, observers=observers, checkpoint=checkpoint)
            atoms = atoms.copy()  # round-off shear from a relaxation would make LAMMPS's box triclinic
            atoms.set_cell(np.diag(np.diag(atoms.cell.array)), scale_atoms=False)
        key = fingerprint(self.name, atoms, spec, "\n".join(self.setup.commands))
        return drive(
            lambda start: _LammpsBackend(self.setup, atoms, spec, start),
            atoms,
            spec,
            observers,
            checkpoint,
            key,
            _state_shapes(len(atoms)),
        )


class _LammpsBackend:
    def __init__(self, setup: LammpsSetup, atoms: Atoms, spec: MdRun, start: Checkpoint | None) -> None:
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(setup.elements))
        if unknown:
            raise PropertyError(f"elements {unknown} are not among the potential's types {list(setup.elements)}")
        self.spec, self.n = spec, len(atoms)
        self.prism = Prism(atoms.cell.array)
        self.rot = self.prism.rot_mat
        self.masses = atomic_masses[atoms.numbers][:, None]  # LAMMPS's, not custom ASE masses
        self.lmp = import_lammps().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        self.pre = True  # the next run sets up (rebuilds neighbour lists): at every protocol boundary
        self.accumulating = False
        self.length = 0
        self.has_thermostat = False
        self.group = "all"
        try:
            with _lammps_errors(spec.ensemble):
                self._open(setup, atoms, start)
        except Exception:
            self.lmp.close()
            raise

    def _open(self, setup: LammpsSetup, atoms: Atoms, start: Checkpoint | None) -> None:
        spec, lmp = self.spec, self.lmp
        lmp.commands_list(
            [
                "units metal",
                "atom_style atomic",
                "atom_modify map array sort 0 0.0",  # fixed atom order: the Langevin draws go to the same atoms
                "boundary p p p",
                self._region(start),
                f"create_box {len(setup.elements)} cell",
                *(f"mass {i + 1} {atomic_masses[atomic_numbers[e]]}" for i, e in enumerate(setup.elements)),
                *setup.commands,
                "neighbor 2.0 bin",
                "neigh_modify every 1 delay 0 check yes",
                f"timestep {spec.timestep_fs / 1000}",
                f"thermo_style custom step {' '.join(_THERMO)}",
            ]
        )
        types = [setup.elements.index(s) + 1 for s in atoms.get_chemical_symbols()]
        if start is None:
            x = self.prism.vector_to_lammps(atoms.positions, wrap=True)
            v = self.prism.vector_to_lammps(atoms.get_velocities() * _V_ASE_TO_A_PER_PS)
        else:
            x, v = start.arrays["lmp_x"], start.arrays["lmp_v"]
        ids = list(range(1, self.n + 1))
        created = lmp.create_atoms(self.n, ids, types, x.ravel().tolist(), v.ravel().tolist())
        if created != self.n:
            raise PropertyError(f"LAMMPS created {created} of {self.n} atoms")
        if start is not None:
            # between neighbour-list builds atoms may stand just outside the box; create_atoms would
            # wrap them without touching their image flags, so the exact state is scattered over it
            lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * x.size)(*x.ravel()))
            image = start.arrays["lmp_image"]
            lmp.scatter_atoms("image", 0, 1, (lmp.c_imageint * image.size)(*image.tolist()))
        commands = [f"reset_timestep {start.step}"] if start is not None else []
        if start is None and spec.maxwell_boltzmann:
            seed = lammps_seed(spec.seed, spec.stream, 0)
            commands.append(f"velocity all create {spec.temperature_K} {seed} dist gaussian mom yes rot no")
        commands += self._hold(spec.held)
        commands.append(f"fix md {self.group} nve")
        if spec.ensemble == "npt_berendsen":
            t, modulus_bar, p_bar = spec.temperature_K, 1 / spec.compressibility_per_GPa / BAR_TO_GPA, _bar(spec)
            commands += [
                f"fix thermostat all temp/berendsen {t} {t} {spec.taut_fs / 1000}",
                f"fix barostat all press/berendsen aniso {p_bar} {p_bar} {spec.taup_fs / 1000} "
                f"modulus {modulus_bar} dilate all",
            ]
        if spec.average_steps:  # continuous fractional coordinates (triclinic-safe)
            commands += [
                "compute unwrapped all property/atom xu yu zu",
                "variable sz atom (c_unwrapped[3]-zlo)/lz",
                "variable sy atom (c_unwrapped[2]-ylo-yz*v_sz)/ly",
                "variable sx atom (c_unwrapped[1]-xlo-xy*v_sy-xz*v_sz)/lx",
                *(f"variable {v} equal {v}" for v in ("lx", "ly", "lz", "xy", "xz", "yz")),
            ]
        lmp.commands_list(commands)

    def _hold(self, held: tuple[int, ...]) -> list[str]:
        """Commands holding atoms `held` (0-based) still: group ``mobile`` is integrated and
        thermostatted, the temperature counts its degrees of freedom only (as ASE's FixAtoms)."""
        self.group = "mobile" if held else "all"
        if not held:
            return []
        if max(held) >= self.n:
            raise PropertyError(f"MdRun.held: index {max(held)} out of range for {self.n} atoms")
        ids = sorted({i + 1 for i in held})
        return [
            f"group held id {_id_ranges(ids)}",
            "group mobile subtract all held",
            "velocity held set 0.0 0.0 0.0",
            f"compute_modify thermo_temp extra/dof {3 * len(ids)}",
        ]

    def _region(self, start: Checkpoint | None) -> str:
        """The box: from the Prism of the input cell, or exactly the checkpoint's (repr round-trips)."""
        if start is None:
            xhi, yhi, zhi, xy, xz, yz = self.prism.get_lammps_prism()
            lo_hi = [0.0, xhi, 0.0, yhi, 0.0, zhi]
        else:
            box = start.arrays["lmp_box"]  # xlo xhi ylo yhi zlo zhi xy xz yz
            lo_hi, (xy, xz, yz) = list(box[:6]), box[6:]
        bounds = " ".join(repr(float(b)) for b in lo_hi)
        if not _orthogonal(self.prism.cell):  # press/berendsen refuses triclinic boxes: orthogonal when possible
            return f"region cell prism {bounds} {float(xy)!r} {float(xz)!r} {float(yz)!r} units box"
        return f"region cell block {bounds} units box"

    @_lammps_call
    def begin(self, step: int, length: int, accumulate: bool) -> None:
        spec, lmp = self.spec, self.lmp
        if spec.ensemble == "nvt_langevin":
            if self.has_thermostat:
                lmp.command("unfix thermostat")
            t, damp_ps = spec.temperature_K, 1 / spec.friction_per_fs / 1000
            seed = lammps_seed(spec.seed, spec.stream, step)
            lmp.command(f"fix thermostat {self.group} langevin {t} {t} {damp_ps} {seed} zero yes")
            self.has_thermostat = True
        self.accumulating = accumulate
        if accumulate and step == 0 and length == 1:  # ave/time would average step 0 instead of step 1
            raise PropertyError("LAMMPS engine: a one-step averaging block at step 0; average fewer steps")
        if accumulate:  # averages over steps step+1 .. step+length
            stress = "c_thermo_press[*] " if spec.stress else ""
            values = f"{stress}v_lx v_ly v_lz v_xy v_xz v_yz c_thermo_pe c_thermo_temp"
            lmp.command(f"fix window all ave/time 1 {length} {step + length} {values}")
            lmp.command(f"fix window_atoms all ave/atom 1 {length} {step + length} v_sx v_sy v_sz")
        self.length = length
        self.pre = True

    @_lammps_call
    def advance(self, n: int) -> None:
        self.lmp.command(f"run {n} pre {'yes' if self.pre else 'no'} post no")
        self.pre = False

    @_lammps_call
    def end(self) -> IntervalSums | None:
        if not self.accumulating:
            return None
        lmp, k = self.lmp, 6 if self.spec.stress else 0
        values = np.array([lmp.extract_fix("window", 0, 1, i) for i in range(k + 8)]) * self.length
        scaled = np.array(lmp.numpy.extract_fix("window_atoms", 1, 2), dtype=float)[: self.n] * self.length
        lmp.commands_list(["unfix window", "unfix window_atoms"])
        order = np.argsort(np.array(lmp.numpy.extract_atom("id"))[: self.n])
        stress = self._to_ase_voigt(values[:6]) if k else None
        cell = _lammps_cell(*values[k : k + 6]) @ self.rot.T
        return IntervalSums(self.length, stress, cell, scaled[order], float(values[k + 6]), float(values[k + 7]))

    def _to_ase_voigt(self, pressure_bar: np.ndarray) -> np.ndarray:
        """LAMMPS pressure tensor (pxx, pyy, pzz, pxy, pxz, pyz; bar, LAMMPS frame) to ASE's Voigt
        stress (xx, yy, zz, yz, xz, xy; GPa, frame of the input Atoms): stress = -pressure."""
        pxx, pyy, pzz, pxy, pxz, pyz = pressure_bar
        tensor = -BAR_TO_GPA * np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]])
        rotated = self.prism.tensor2_to_ase(tensor)
        return np.array([rotated[i, j] for i, j in _VOIGT])

    @_lammps_call
    def snapshot(self, step: int, positions: bool) -> Snapshot:
        thermo = {k: float(self.lmp.get_thermo(k)) for k in _THERMO}
        stress = [thermo[k] for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")]
        box = [thermo[k] for k in ("lx", "ly", "lz", "xy", "xz", "yz")]
        arrays = self._arrays() if positions else {}
        return Snapshot(
            step=step,
            time_fs=step * self.spec.timestep_fs,
            potential_energy_eV=thermo["pe"],
            kinetic_energy_eV=thermo["ke"],
            temperature_K=thermo["temp"],
            cell_A=_lammps_cell(*box) @ self.rot.T,
            stress_GPa=self._to_ase_voigt(np.array(stress)) if self.spec.stress else None,
            positions_A=self._unwrapped(arrays) @ self.rot.T if positions else None,
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        lmp = self.lmp
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        return {
            "lmp_x": np.array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3),
            "lmp_v": np.array(lmp.gather_atoms("v", 1, 3)).reshape(-1, 3),
            "lmp_image": np.array(lmp.gather_atoms("image", 0, 1), dtype=np.int64),
            "lmp_box": np.array([boxlo[0], boxhi[0], boxlo[1], boxhi[1], boxlo[2], boxhi[2], xy, xz, yz]),
        }

    def _unwrapped(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Continuous positions in the LAMMPS frame, box origin at 0: x + image flags times the cell."""
        box = arrays["lmp_box"]
        cell = _lammps_cell(box[1] - box[0], box[3] - box[2], box[5] - box[4], *box[6:])
        image = arrays["lmp_image"]
        bits, mask, top = (self.lmp.extract_setting(k) for k in ("IMGBITS", "IMGMASK", "IMGMAX"))
        flags = np.stack([image & mask, (image >> bits) & mask, image >> (2 * bits)], axis=1) - top
        return arrays["lmp_x"] - box[[0, 2, 4]] + flags @ cell

    @_lammps_call
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = self._arrays()
        box = arrays["lmp_box"]
        cell = _lammps_cell(box[1] - box[0], box[3] - box[2], box[5] - box[4], *box[6:])
        arrays |= {
            "positions_A": self._unwrapped(arrays) @ self.rot.T,
            "momenta": (arrays["lmp_v"] / _V_ASE_TO_A_PER_PS @ self.rot.T) * self.masses,
            "cell_A": cell @ self.rot.T,
        }
        return arrays, {}

    def close(self) -> None:
        self.lmp.close()


def _state_shapes(n_atoms: int) -> dict[str, tuple[int, ...]]:
    """The LAMMPS engine's own checkpoint arrays and their shapes."""
    return dict(zip(_STATE, ((n_atoms, 3), (n_atoms, 3), (n_atoms,), (9,)), strict=True))


def _id_ranges(ids: list[int]) -> str:
    """Sorted LAMMPS atom ids as ranges ``a:b``, one word per consecutive run (a short command)."""
    words, first = [], ids[0]
    for prev, cur in zip(ids, [*ids[1:], None], strict=True):
        if cur != prev + 1:
            words.append(f"{first}:{prev}")
            first = cur if cur is not None else first
    return " ".join(words)


def lammps_seed(seed: int, stream: int, step: int) -> int:
    """A LAMMPS random seed (Marsaglia's generator takes 1..9e8) for each (seed, stream, boundary step);
    at step 0 the engine's seed before checkpoints. 15485863 is a prime that does not divide the
    modulus, so one stream repeats no seed within 9e8 steps."""
    return 1 + (seed * 7919 + stream * 104729 + step * 15485863) % (_MAX_SEED - 1)


def _bar(spec: MdRun) -> float:
    return spec.pressure_GPa / BAR_TO_GPA


def _lammps_cell(lx: float, ly: float, lz: float, xy: float, xz: float, yz: float) -> np.ndarray:
    return np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])


def _orthogonal(cell: np.ndarray) -> bool:
    """Off-diagonal cell entries below 1e-6 Å (round-off of a relaxation) count as zero."""
    return bool(np.abs(cell - np.diag(np.diag(cell))).max() < 1e-6)
