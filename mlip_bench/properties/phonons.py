"""Harmonic phonons by finite displacements with phonopy, following paper 002 (Sec. III.C.2).

Protocol: relax the cell; build a supercell (each axis at least ``min_length_A`` long unless
``supercell`` is given; paper 002 uses about 10 Å of interaction range); displace the
symmetry-distinct atoms by ``displacement_A`` (phonopy); compute forces; fit the supercell
force constants (phonopy's finite-difference solver, no acoustic-sum-rule symmetrisation, so
the sum rule stays a check); band structure along the standard path of the primitive cell
(ASE's ``Cell.bandpath``: Setyawan-Curtarolo, ``GXWKGLUWLK,UX`` for fcc, ``GMKGALHA,LM,KH``
for hcp) and total DOS on a q mesh (tetrahedron method).

Comparison (paper 002): force constants of two potentials, or of a potential and DFT force
sets, are compared on the same displaced supercells; the RMSE is over every element of the
(N, N, 3, 3) supercell force-constant array, and the frequency RMSE over every band of the
band-path q points.
"""

from __future__ import annotations

import copy
import io
import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import spglib
from ase import Atoms
from ase.dft.kpoints import parse_path_string
from phonopy import Phonopy
from phonopy import load as phonopy_load
from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections
from phonopy.structure.atoms import PhonopyAtoms
from phonopy.structure.cells import guess_primitive_matrix

from mlip_bench.errors import DataError, EvaluationError, PropertyError
from mlip_bench.properties.relax import relax

#: symmetry tolerance (Å) for the conventional cell and phonopy's displacements, as for elastic constants
SYMPREC = 1e-3
#: frequencies below -IMAGINARY_TOL_THZ count as imaginary (finite-difference noise near Gamma is smaller)
IMAGINARY_TOL_THZ = 0.05


@dataclass(frozen=True)
class BandSegment:
    """One continuous piece of the band path: q-path distance (1/Å, 2π included) and
    frequencies (THz, ascending per q point; imaginary ones negative), shape (n_q, 3 n_prim)."""

    start: str
    end: str
    distances_per_A: tuple[float, ...]
    frequencies_THz: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class PhononResult:
    """Band structure, DOS (states/THz per primitive cell, integrating to 3 n_prim), supercell
    force constants (N, N, 3, 3) in eV/Å², and checks: imaginary modes beyond the tolerance,
    the largest acoustic-sum-rule violation max_i |sum_j Phi_ij| (eV/Å²), and the acoustic
    frequencies at Gamma (THz). `special_points_THz` maps each label of the path to its
    ascending frequencies."""

    segments: tuple[BandSegment, ...]
    path: str
    special_points_THz: dict[str, tuple[float, ...]]
    dos_frequencies_THz: tuple[float, ...]
    dos_states_per_THz: tuple[float, ...]
    force_constants_eV_per_A2: np.ndarray
    supercell: tuple[int, int, int]
    n_supercell_atoms: int
    n_displacements: int
    displacement_A: float
    min_frequency_THz: float
    max_frequency_THz: float
    has_imaginary_modes: bool
    asr_max_eV_per_A2: float
    gamma_acoustic_max_THz: float
    relax_converged: bool
    a_A: float
    volume_A3_per_atom: float


@dataclass(frozen=True)
class PhononComparison:
    """Force constants (eV/Å²) and band-path frequencies (THz) of a potential against a reference
    on the same displaced supercells (the reference's geometry); `reference_segments` is the
    reference's band structure."""

    force_constant_rmse_eV_per_A2: float
    force_constant_max_abs_error_eV_per_A2: float
    frequency_rmse_THz: float
    frequency_max_abs_error_THz: float
    n_supercell_atoms: int
    n_displacements: int
    reference_segments: tuple[BandSegment, ...]


def conventional_cell(atoms: Atoms, symprec: float = SYMPREC) -> Atoms:
    """The standard conventional cell of the crystal (cubic for fcc, two-atom hexagonal for hcp),
    idealised by spglib so that a relaxation's last 1e-4 of symmetry noise cannot lower the
    symmetry phonopy and the band path see; its diagonal supercells keep the full point group."""
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    std = spglib.standardize_cell(cell, to_primitive=False, no_idealize=False, symprec=symprec)
    if std is None:
        return atoms.copy()
    lattice, positions, numbers = std
    return Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def supercell_for(atoms: Atoms, min_length_A: float) -> tuple[int, int, int]:
    """Smallest diagonal multiples of the cell whose distances between opposite faces are all at
    least `min_length_A` (so a sphere of that diameter fits in the supercell)."""
    widths = 1.0 / np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    n = [max(1, math.ceil(min_length_A / w - 1e-9)) for w in widths]
    return (n[0], n[1], n[2])


def make_phonopy(atoms: Atoms, supercell: tuple[int, int, int], displacement_A: float) -> Phonopy:
    """A Phonopy object for `atoms` (used as phonopy's unit cell) with its symmetry-reduced
    displacements generated."""
    unit = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=atoms.cell[:],
        scaled_positions=atoms.get_scaled_positions(),
        masses=atoms.get_masses(),
    )
    primitive = guess_primitive_matrix(unit, symprec=SYMPREC)
    phonon = Phonopy(unit, supercell_matrix=np.diag(supercell), primitive_matrix=primitive, symprec=SYMPREC)
    phonon.generate_displacements(distance=displacement_A)
    return phonon


def set_forces(phonon: Phonopy, calc: object) -> None:
    """Forces (eV/Å) of `calc` on every displaced supercell; raises EvaluationError on non-finite ones."""
    forces = []
    for cell in displaced(phonon):
        work = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
        work.calc = calc
        f = np.asarray(work.get_forces())
        if not np.all(np.isfinite(f)):
            raise EvaluationError("non-finite forces on a displaced supercell")
        forces.append(f)
    phonon.forces = np.array(forces)
    phonon.produce_force_constants(show_drift=False)


def displaced(phonon: Phonopy) -> list[PhonopyAtoms]:
    """The displaced supercells; raises PropertyError when phonopy generated none."""
    cells = phonon.supercells_with_displacements
    if not cells:
        raise PropertyError("phonopy generated no displaced supercells")
    return list(cells)


def band_segments(phonon: Phonopy, npoints: int) -> tuple[tuple[BandSegment, ...], str, dict[str, np.ndarray]]:
    """Band structure along the standard path of the primitive cell; also the path string and
    the reduced coordinates of its special points."""
    prim = phonon.primitive
    bandpath = Atoms(prim.symbols, cell=prim.cell, scaled_positions=prim.scaled_positions, pbc=True).cell.bandpath(
        npoints=0
    )
    special = {label: np.asarray(q, float) for label, q in bandpath.special_points.items()}
    # labels can have several characters (M1, Y1): parse rather than split the string
    pieces = [list(itertools.pairwise(run)) for run in parse_path_string(bandpath.path)]
    pairs = [pair for run in pieces for pair in run]
    qpoints, connections = get_band_qpoints_and_path_connections(
        [[special[a] for a, _ in run] + [special[run[-1][1]]] for run in pieces], npoints=npoints
    )
    phonon.run_band_structure(qpoints, path_connections=connections)
    bands = phonon.get_band_structure_dict()
    frequencies = bands["frequencies"] or []
    segments = tuple(
        BandSegment(a, b, _floats(np.asarray(d) * 2 * np.pi), _rows(np.asarray(f)))
        for (a, b), d, f in zip(pairs, bands["distances"], frequencies, strict=True)
    )
    return segments, bandpath.path, special


def calc_phonons(
    atoms: Atoms,
    calc: object,
    *,
    supercell: tuple[int, int, int] | None = None,
    min_length_A: float = 12.0,
    displacement_A: float = 0.01,
    relax_cell: bool = True,
    fmax_eV_per_A: float = 1e-4,
    npoints: int = 51,
    dos_mesh: tuple[int, int, int] = (20, 20, 20),
    imaginary_tol_THz: float = IMAGINARY_TOL_THZ,
) -> PhononResult:
    """Phonons of `atoms` (any cell of the crystal; the primitive cell is found by symmetry).

    Raises PropertyError when the relaxed crystal has lost the symmetry the path needs or
    phonopy fails, EvaluationError when the potential returns non-finite forces.
    """
    relaxed = relax(atoms, calc, cell=True, fmax_eV_per_A=fmax_eV_per_A) if relax_cell else None
    start = conventional_cell(relaxed.atoms if relaxed else atoms)
    cells = supercell or supercell_for(start, min_length_A)
    phonon = make_phonopy(start, cells, displacement_A)
    set_forces(phonon, calc)
    try:
        segments, path, special = band_segments(phonon, npoints)
    except (ValueError, KeyError) as exc:
        raise PropertyError(f"no standard band path for the relaxed cell: {exc}") from exc
    mesh_freqs = np.asarray(phonon.run_mesh(list(dos_mesh), is_gamma_center=True).frequencies)
    phonon.run_total_dos()
    dos = phonon.get_total_dos_dict()
    band_freqs = np.concatenate([np.asarray(s.frequencies_THz) for s in segments])
    all_freqs = np.concatenate([band_freqs.ravel(), mesh_freqs.ravel()])
    at_q = {label: _floats(_frequencies(phonon, q)) for label, q in special.items()}
    fc = np.asarray(phonon.force_constants)
    return PhononResult(
        segments=segments,
        path=path,
        special_points_THz=at_q,
        dos_frequencies_THz=_floats(dos["frequency_points"]),
        dos_states_per_THz=_floats(dos["total_dos"]),
        force_constants_eV_per_A2=fc,
        supercell=cells,
        n_supercell_atoms=len(phonon.supercell),
        n_displacements=len(displaced(phonon)),
        displacement_A=displacement_A,
        min_frequency_THz=float(all_freqs.min()),
        max_frequency_THz=float(all_freqs.max()),
        has_imaginary_modes=bool(all_freqs.min() < -imaginary_tol_THz),
        asr_max_eV_per_A2=float(np.abs(fc.sum(axis=1)).max()),
        gamma_acoustic_max_THz=float(np.abs(_frequencies(phonon, np.zeros(3))[:3]).max()),
        relax_converged=relaxed.converged if relaxed else True,
        a_A=float(start.cell.lengths()[0]),
        volume_A3_per_atom=float(start.get_volume() / len(start)),
    )


def compare_force_sets(reference: Phonopy, calc: object, *, npoints: int = 51) -> PhononComparison:
    """Compare `calc` with a reference whose forces are already set (a reference potential's, or
    DFT force sets loaded with :func:`load_force_sets`) on the reference's displaced supercells.

    `reference` is used as the workspace (a second Phonopy object would repeat its symmetry
    search, the slow part): its forces and force constants are restored before returning."""
    if reference.force_constants is None:
        reference.produce_force_constants(show_drift=False)
    ref_fc = np.array(reference.force_constants)
    ref_dataset = copy.deepcopy(reference.dataset)
    ref_segments, _, _ = band_segments(reference, npoints)
    try:
        set_forces(reference, calc)
        fc_err = np.asarray(reference.force_constants) - ref_fc
        segments, _, _ = band_segments(reference, npoints)
    finally:
        reference.dataset = ref_dataset
        reference.force_constants = ref_fc
    freq_err = np.concatenate(
        [
            np.asarray(a.frequencies_THz) - np.asarray(b.frequencies_THz)
            for a, b in zip(segments, ref_segments, strict=True)
        ]
    )
    return PhononComparison(
        force_constant_rmse_eV_per_A2=float(np.sqrt(np.mean(fc_err**2))),
        force_constant_max_abs_error_eV_per_A2=float(np.abs(fc_err).max()),
        frequency_rmse_THz=float(np.sqrt(np.mean(freq_err**2))),
        frequency_max_abs_error_THz=float(np.abs(freq_err).max()),
        n_supercell_atoms=len(reference.supercell),
        n_displacements=len(displaced(reference)),
        reference_segments=ref_segments,
    )


def compare_phonons(
    atoms: Atoms,
    calc: object,
    reference_calc: object,
    *,
    supercell: tuple[int, int, int] | None = None,
    min_length_A: float = 12.0,
    displacement_A: float = 0.01,
    fmax_eV_per_A: float = 1e-4,
    npoints: int = 51,
) -> PhononComparison:
    """`calc` against `reference_calc` on the displaced supercells of the crystal relaxed with the
    reference, as a DFT force set would be (paper 002 compares on the same supercells)."""
    start = conventional_cell(relax(atoms, reference_calc, cell=True, fmax_eV_per_A=fmax_eV_per_A).atoms)
    reference = make_phonopy(start, supercell or supercell_for(start, min_length_A), displacement_A)
    set_forces(reference, reference_calc)
    return compare_force_sets(reference, calc, npoints=npoints)


def load_force_sets(path: str | Path) -> Phonopy:
    """A phonopy yaml with displacements and forces (``phonopy_params.yaml``, e.g. from DFT), read with
    a safe YAML loader first (:mod:`~mlip_bench.properties.phonopy_input`); raises DataError when it
    is unreadable, uses a ``!!python`` or other non-standard tag, or carries no forces."""
    from mlip_bench.properties.phonopy_input import safe_force_sets_bytes

    raw = safe_force_sets_bytes(Path(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phonon = phonopy_load(io.BytesIO(raw), produce_fc=False, log_level=0)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DataError(f"{path}: cannot read phonopy force sets: {exc}") from exc
    if phonon.dataset is None or phonon.forces is None:
        raise DataError(f"{path}: no displacements with forces (expected a phonopy_params.yaml-like file)")
    return phonon


def _frequencies(phonon: Phonopy, q: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(phonon.run_qpoints([[float(v) for v in q]]).frequencies[0]))


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values).ravel())


def _rows(m: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in m)
